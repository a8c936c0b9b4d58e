//! MNIST IDX reader: synthetic files written here, and the real files in ../shared/data.

mod real_data;

use std::io::Write;
use std::path::{Path, PathBuf};

use archc::data::{self, mnist};
use archc::ir::{DatasetName, Split};

/// The shared data folder (see `real_data`); `None` after a loud SKIPPED line.
fn shared_data() -> Option<PathBuf> {
    real_data::shared_data("mnist", "data_mnist (real MNIST)")
}

fn idx_images(n: usize, h: usize, w: usize, pixel: impl Fn(usize) -> u8) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        b.extend((d as u32).to_be_bytes());
    }
    b.extend((0..n * h * w).map(pixel));
    b
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, 1];
    b.extend((labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Writes a small MNIST-like folder: 12 train and 4 test images of 3×2, labels i % 10.
fn write_fixture(dir: &Path, compress: bool) {
    let files = [
        (
            "train-images-idx3-ubyte",
            idx_images(12, 3, 2, |i| (i * 7 % 256) as u8),
        ),
        (
            "train-labels-idx1-ubyte",
            idx_labels(&(0..12).map(|i| (i % 10) as u8).collect::<Vec<_>>()),
        ),
        (
            "t10k-images-idx3-ubyte",
            idx_images(4, 3, 2, |i| (255 - i) as u8),
        ),
        ("t10k-labels-idx1-ubyte", idx_labels(&[3, 1, 4, 1])),
    ];
    for (name, bytes) in files {
        if compress {
            std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn reads_synthetic_idx_raw_and_gzip_with_split() {
    for compress in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mnist");
        std::fs::create_dir(&dir).unwrap();
        write_fixture(&dir, compress);
        // The root holding mnist/ and the folder itself both work.
        for given in [tmp.path(), dir.as_path()] {
            let ds = data::load(
                DatasetName::Mnist,
                Split {
                    train: 8,
                    validation: 3,
                },
                Some(given),
            )
            .unwrap();
            assert_eq!(ds.train.shape, vec![1, 3, 2]);
            assert_eq!(ds.train.len(), 8);
            assert_eq!(ds.validation.len(), 3);
            assert_eq!(ds.test.len(), 4);
            // Train = first 8; validation = last 3 (indices 9, 10, 11).
            assert_eq!(ds.train.labels, vec![0, 1, 2, 3, 4, 5, 6, 7]);
            assert_eq!(ds.validation.labels, vec![9, 0, 1]);
            assert_eq!(ds.test.labels, vec![3, 1, 4, 1]);
            // Pixel j of example i was (6i + j)·7 mod 256; scaled by 1/255.
            let v = &ds.validation.images;
            assert_eq!(v[0], ((9 * 6) * 7 % 256) as f32 / 255.0);
            assert_eq!(ds.test.images[5], (255 - 5) as f32 / 255.0);
            assert_eq!(ds.sources.len(), 4);
            assert!(
                ds.provenance.contains("NOT the official"),
                "{}",
                ds.provenance
            );
        }
    }
}

#[test]
fn split_larger_than_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write_fixture(tmp.path(), false);
    let err = data::load(
        DatasetName::Mnist,
        Split {
            train: 10,
            validation: 3,
        },
        Some(tmp.path()),
    )
    .unwrap_err();
    assert!(format!("{err}").contains("has 12"), "{err}");
}

#[test]
fn truncated_idx_names_file_expected_and_found() {
    let tmp = tempfile::tempdir().unwrap();
    write_fixture(tmp.path(), false);
    let p = tmp.path().join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
    let err = data::load(
        DatasetName::Mnist,
        Split {
            train: 8,
            validation: 3,
        },
        Some(tmp.path()),
    )
    .unwrap_err();
    let msg = format!("{err}");
    // 16-byte header + 12·3·2 pixels = 88 bytes expected, 83 found.
    assert!(msg.contains("train-images-idx3-ubyte"), "{msg}");
    assert!(msg.contains("expected 88 bytes"), "{msg}");
    assert!(msg.contains("found 83 bytes"), "{msg}");
}

#[test]
fn truncated_gzip_is_an_error_not_a_short_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    write_fixture(tmp.path(), true);
    let p = tmp.path().join("t10k-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let err = data::load(
        DatasetName::Mnist,
        Split {
            train: 8,
            validation: 3,
        },
        Some(tmp.path()),
    )
    .unwrap_err();
    let msg = format!("{err}");
    assert!(msg.contains("t10k-images-idx3-ubyte.gz"), "{msg}");
    assert!(msg.contains("gzip"), "{msg}");
}

#[test]
fn bad_magic_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = idx_images(2, 2, 2, |_| 0);
    b[2] = 0x0d; // float data, not unsigned bytes
    let err = mnist::parse_idx(&tmp.path().join("x"), &b, 3).unwrap_err();
    assert!(format!("{err}").contains("magic"), "{err}");
}

#[test]
fn official_size_with_wrong_md5_is_a_checksum_error() {
    // A labels file of the official length (60008 bytes) must have the official md5.
    let tmp = tempfile::tempdir().unwrap();
    write_fixture(tmp.path(), false);
    let labels: Vec<u8> = (0..60000).map(|i| (i % 10) as u8).collect();
    std::fs::write(
        tmp.path().join("train-labels-idx1-ubyte"),
        idx_labels(&labels),
    )
    .unwrap();
    let err = data::load(
        DatasetName::Mnist,
        Split {
            train: 8,
            validation: 3,
        },
        Some(tmp.path()),
    )
    .unwrap_err();
    let msg = format!("{err}");
    assert!(msg.contains("train-labels-idx1-ubyte"), "{msg}");
    assert!(msg.contains("a25bea736e30d166cdddb491f175f624"), "{msg}");
    let found = archc::data::source::md5_hex(&idx_labels(&labels));
    assert!(msg.contains(&found), "{msg}");
}

#[test]
fn labels_and_images_count_mismatch_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    write_fixture(tmp.path(), false);
    std::fs::write(
        tmp.path().join("t10k-labels-idx1-ubyte"),
        idx_labels(&[1, 2, 3]),
    )
    .unwrap();
    let err = data::load(
        DatasetName::Mnist,
        Split {
            train: 8,
            validation: 3,
        },
        Some(tmp.path()),
    )
    .unwrap_err();
    let msg = format!("{err}");
    assert!(
        msg.contains("t10k-labels-idx1-ubyte") && msg.contains("3 labels"),
        "{msg}"
    );
}

#[test]
fn real_mnist_counts() {
    let Some(root) = shared_data() else { return };
    let ds = data::load(
        DatasetName::Mnist,
        DatasetName::Mnist.default_split(),
        Some(&root),
    )
    .unwrap();
    assert_eq!(
        (ds.train.len(), ds.validation.len(), ds.test.len()),
        (55000, 5000, 10000)
    );
    assert_eq!(ds.train.shape, vec![1, 28, 28]);
    assert_eq!(ds.train.images.len(), 55000 * 784);
    assert!(ds.provenance.contains("md5-verified"), "{}", ds.provenance);
    // Per-class counts of the whole training file, from the data README.
    let tr = ds.train.class_counts(10);
    let va = ds.validation.class_counts(10);
    let full: Vec<usize> = tr.iter().zip(&va).map(|(a, b)| a + b).collect();
    assert_eq!(
        full,
        vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(ds.test.class_counts(10).iter().sum::<usize>(), 10000);
    // The first training digit of MNIST is a 5, the first test digit a 7.
    assert_eq!((ds.train.labels[0], ds.test.labels[0]), (5, 7));
    assert!(ds.train.images.iter().all(|&x| (0.0..=1.0).contains(&x)));
    assert!(ds.train.images.contains(&1.0));
}
