//! CIFAR-10 binary reader: synthetic batches and tarballs written here, and the
//! JPEG-approximate copy in ../shared/data.

mod real_data;

use std::io::Write;
use std::path::{Path, PathBuf};

use archc::data::{self, cifar};
use archc::ir::{DatasetName, Split};

fn shared_cifar() -> Option<PathBuf> {
    real_data::shared_data("cifar10-jpeg-approx", "data_cifar (real CIFAR-10)")
        .map(|d| d.join("cifar10-jpeg-approx"))
}

/// Batch `b`: 10000 records; record r has label (r + b) % 10 and pixel p = (r + p + b) % 256.
fn batch(b: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(cifar::RECORD * cifar::PER_BATCH);
    for r in 0..cifar::PER_BATCH {
        out.push(((r + b) % 10) as u8);
        out.extend((0..3072).map(|p| ((r + p + b) % 256) as u8));
    }
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn names() -> Vec<&'static str> {
    cifar::TRAIN_FILES
        .iter()
        .chain([cifar::TEST_FILE].iter())
        .copied()
        .collect()
}

fn check_synthetic(ds: &data::Dataset) {
    assert_eq!(
        (ds.train.len(), ds.validation.len(), ds.test.len()),
        (45000, 5000, 10000)
    );
    assert_eq!(ds.train.shape, vec![3, 32, 32]);
    // Train example 10001 is record 1 of batch 2 (b = 1): label 2, pixel p = (2 + p) % 256.
    assert_eq!(ds.train.labels[10001], 2);
    let img = ds.train.image(10001);
    assert_eq!(img[0], 2.0 / 255.0);
    assert_eq!(img[1024 + 5], ((2 + 1024 + 5) % 256) as f32 / 255.0);
    // Validation = records 5000.. of batch 5 (b = 4).
    assert_eq!(ds.validation.labels[0], ((5000 + 4) % 10) as u8);
    // Test batch is b = 5.
    assert_eq!(ds.test.labels[3], 8);
    assert_eq!(ds.classes[9], "truck");
}

#[test]
fn reads_batch_files_raw_and_gzip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&dir).unwrap();
    for (b, name) in names().into_iter().enumerate() {
        let bytes = batch(b);
        // Mix raw and gzip files: both must be read.
        if b % 2 == 0 {
            std::fs::write(dir.join(name), bytes).unwrap();
        } else {
            std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
        }
    }
    let ds = data::load(
        DatasetName::Cifar10,
        Split {
            train: 45000,
            validation: 5000,
        },
        Some(tmp.path()),
    )
    .unwrap();
    check_synthetic(&ds);
    assert!(!ds.provenance.contains("JPEG"));
    assert_eq!(ds.sources.len(), 6);
}

#[test]
fn reads_the_binary_tarball() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar10");
    std::fs::create_dir(&dir).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (b, name) in names().into_iter().enumerate() {
        let bytes = batch(b);
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("cifar-10-batches-bin/{name}"), &bytes[..])
            .unwrap();
    }
    let bytes = tar.into_inner().unwrap().finish().unwrap();
    std::fs::write(dir.join(cifar::TARBALL), bytes).unwrap();
    let ds = data::load(
        DatasetName::Cifar10,
        Split {
            train: 45000,
            validation: 5000,
        },
        Some(tmp.path()),
    )
    .unwrap();
    check_synthetic(&ds);
    assert_eq!(ds.sources, vec![dir.join(cifar::TARBALL)]);
}

#[test]
fn truncated_batch_names_file_expected_and_found() {
    let tmp = tempfile::tempdir().unwrap();
    for (b, name) in names().into_iter().enumerate() {
        let mut bytes = batch(b);
        if b == 2 {
            bytes.truncate(3073 * 9999 + 100);
        }
        std::fs::write(tmp.path().join(name), bytes).unwrap();
    }
    let err = data::load(
        DatasetName::Cifar10,
        Split {
            train: 45000,
            validation: 5000,
        },
        Some(tmp.path()),
    )
    .unwrap_err();
    let msg = format!("{err}");
    assert!(msg.contains("data_batch_3.bin"), "{msg}");
    assert!(msg.contains("expected 30730000 bytes"), "{msg}");
    assert!(
        msg.contains(&format!("found {} bytes", 3073 * 9999 + 100)),
        "{msg}"
    );
}

#[test]
fn bad_label_is_an_error() {
    let mut b = batch(0);
    b[3073 * 7] = 10;
    let err = cifar::check_batch(Path::new("x.bin"), &b).unwrap_err();
    assert!(format!("{err}").contains("record 7 has label 10"), "{err}");
}

#[test]
fn real_cifar10_jpeg_approx_counts() {
    let Some(dir) = shared_cifar() else { return };
    let ds = data::load(
        DatasetName::Cifar10,
        DatasetName::Cifar10.default_split(),
        Some(&dir),
    )
    .unwrap();
    assert_eq!(
        (ds.train.len(), ds.validation.len(), ds.test.len()),
        (45000, 5000, 10000)
    );
    assert!(
        ds.provenance.contains("JPEG-approximate"),
        "{}",
        ds.provenance
    );
    // CIFAR-10 has exactly 5000 training and 1000 test images per class.
    let tr = ds.train.class_counts(10);
    let va = ds.validation.class_counts(10);
    assert!(
        tr.iter().zip(&va).all(|(a, b)| a + b == 5000),
        "{tr:?} {va:?}"
    );
    assert_eq!(ds.test.class_counts(10), vec![1000; 10]);
    // Canonical order: the first training image is a frog (6), the first test image a cat (3).
    assert_eq!((ds.train.labels[0], ds.test.labels[0]), (6, 3));
    assert_eq!(ds.classes, cifar::CLASSES.map(String::from).to_vec());
}
