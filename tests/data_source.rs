//! Locating data folders, verified atomic writes (the download path, tested on local
//! readers since there is no network), and the missing-dataset error.

use std::path::Path;

use archc::data::{self, source};
use archc::ir::{DatasetName, Split};

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn save_verified_writes_good_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("sub").join("file.bin");
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let md5 = source::md5_hex(&bytes);
    let pb = indicatif::ProgressBar::hidden();
    source::save_verified(&bytes[..], &dest, bytes.len() as u64, &md5, &pb).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    assert_eq!(pb.position(), 100_000);
    assert_eq!(leftovers(dest.parent().unwrap()), vec!["file.bin"]);
    source::verify_file(&dest, bytes.len() as u64, &md5).unwrap();
}

#[test]
fn save_verified_rejects_corrupted_and_truncated_transfers_leaving_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("file.bin");
    let good: Vec<u8> = (0..5000u32).map(|i| (i % 256) as u8).collect();
    let md5 = source::md5_hex(&good);
    let pb = indicatif::ProgressBar::hidden();
    // One flipped byte.
    let mut bad = good.clone();
    bad[1234] ^= 1;
    let err = source::save_verified(&bad[..], &dest, 5000, &md5, &pb).unwrap_err();
    let msg = format!("{err}");
    assert!(msg.contains("file.bin"), "{msg}");
    assert!(
        msg.contains(&format!("expected 5000 bytes with md5 {md5}")),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "found 5000 bytes with md5 {}",
            source::md5_hex(&bad)
        )),
        "{msg}"
    );
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );
    // A transfer cut short.
    let err = source::save_verified(&good[..3000], &dest, 5000, &md5, &pb).unwrap_err();
    assert!(format!("{err}").contains("found 3000 bytes"), "{err}");
    assert!(leftovers(tmp.path()).is_empty());
}

#[test]
fn failed_atomic_write_keeps_the_previous_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("keep.txt");
    std::fs::write(&dest, "old").unwrap();
    let r = source::write_atomic(&dest, |f| {
        use std::io::Write;
        f.write_all(b"partial").unwrap();
        Err(source::io_err(&dest, "interrupted"))
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), "old");
    assert_eq!(leftovers(tmp.path()), vec!["keep.txt"]);
}

#[test]
fn verify_file_reports_truncation() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("x.tar.gz");
    std::fs::write(&p, [7u8; 10]).unwrap();
    let err = source::verify_file(&p, 20, "00112233445566778899aabbccddeeff").unwrap_err();
    let msg = format!("{err}");
    assert!(
        msg.contains("x.tar.gz")
            && msg.contains("expected 20 bytes")
            && msg.contains("truncated? 10 bytes"),
        "{msg}"
    );
}

#[test]
fn md5_matches_known_vectors() {
    // RFC 1321 test suite.
    assert_eq!(source::md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(source::md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
}

#[test]
fn manifest_lists_every_dataset() {
    let m = source::manifest(DatasetName::Mnist);
    assert_eq!(m.files.len(), 4);
    // The uncompressed checksums are the ones of the data README.
    assert_eq!(
        m.files[0].uncompressed_md5.as_deref(),
        Some("6bbc9ace898e44ae57da46a324031adb")
    );
    let s = source::manifest(DatasetName::Svhn);
    assert_eq!(s.files.iter().filter(|f| !f.optional).count(), 2);
    assert_eq!(s.files[2].md5, "a93ce644f1a588dc4d68dda5feec44a7");
    assert_eq!(
        source::manifest(DatasetName::Cifar10).files[0].name,
        "cifar-10-binary.tar.gz"
    );
}

/// Everything that reads environment variables, in one test (tests share the process).
#[test]
fn roots_and_missing_dataset_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::env::set_var("ARCHC_OFFLINE", "1");
    std::env::remove_var("ARCHC_DATA");
    std::env::set_var("XDG_CACHE_HOME", tmp.path().join("cache"));
    assert_eq!(
        source::roots(None),
        vec![tmp.path().join("cache").join("archc")]
    );
    std::env::set_var("ARCHC_DATA", tmp.path().join("env"));
    assert_eq!(source::roots(None), vec![tmp.path().join("env")]);
    assert_eq!(
        source::roots(Some(Path::new("/x"))),
        vec![Path::new("/x").to_path_buf()]
    );

    let err = data::load(
        DatasetName::Cifar10,
        Split {
            train: 1,
            validation: 1,
        },
        Some(tmp.path()),
    )
    .unwrap_err();
    let msg = format!("{err:?}");
    assert!(msg.contains("cifar-10-binary.tar.gz"), "{msg}");
    assert!(msg.contains("c32a1d4ab5d03f1284b67883e8d87530"), "{msg}");
    assert!(
        msg.contains(&tmp.path().join("cifar10").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("ARCHC_OFFLINE"), "{msg}");
    // Via $ARCHC_DATA.
    let err = data::load(
        DatasetName::Mnist,
        Split {
            train: 1,
            validation: 1,
        },
        None,
    )
    .unwrap_err();
    let msg = format!("{err:?}");
    assert!(
        msg.contains(&tmp.path().join("env").join("mnist").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("t10k-labels-idx1-ubyte.gz"), "{msg}");
    std::env::remove_var("ARCHC_DATA");
}

#[test]
fn dataset_names_parse() {
    assert_eq!(data::parse_name("CIFAR-10").unwrap(), DatasetName::Cifar10);
    assert_eq!(data::parse_name("mnist").unwrap(), DatasetName::Mnist);
    assert!(data::parse_name("imagenet").is_err());
}

#[test]
fn exact_cifar_folders_are_preferred_over_the_jpeg_approximation() {
    let tmp = tempfile::tempdir().unwrap();
    for sub in ["cifar10-jpeg-approx", "cifar-10-batches-bin"] {
        std::fs::create_dir(tmp.path().join(sub)).unwrap();
        std::fs::write(tmp.path().join(sub).join("marker"), "").unwrap();
    }
    let has = |d: &Path| d.join("marker").is_file();
    let roots = vec![tmp.path().to_path_buf()];
    let found = source::find_folder(DatasetName::Cifar10, &roots, has).unwrap();
    assert_eq!(found, tmp.path().join("cifar-10-batches-bin"));
    // The dataset's own folder given directly is used as is.
    let own = vec![tmp.path().join("cifar10-jpeg-approx")];
    assert_eq!(
        source::find_folder(DatasetName::Cifar10, &own, has).unwrap(),
        own[0]
    );
    // Nothing found: every place looked at is reported.
    let looked = source::find_folder(DatasetName::Svhn, &roots, has).unwrap_err();
    assert_eq!(
        looked,
        vec![
            tmp.path().to_path_buf(),
            tmp.path().join("svhn"),
            tmp.path().join("SVHN")
        ]
    );
}
