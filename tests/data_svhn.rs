//! SVHN / MATLAB v5 reader on files written here by an independent little MAT writer:
//! uncompressed and zlib-compressed elements, small-element names, big-endian, streaming,
//! truncation and bad labels.

use std::path::Path;

use archc::data::{self, mat::MatFile, svhn};
use archc::ir::{DatasetName, Split};

mod mat_writer;
use mat_writer::{label, pixel, svhn_file, MI_UINT8, MX_DOUBLE, MX_UINT8, W};

fn check_examples(ex: &data::Examples, first: usize, h: usize, w: usize) {
    assert_eq!(ex.shape, vec![3, h, w]);
    for e in 0..ex.len() {
        let n = first + e;
        assert_eq!(ex.labels[e], label(n) % 10, "label of image {n}");
        let img = ex.image(e);
        for k in 0..3 {
            for i in 0..h {
                for j in 0..w {
                    assert_eq!(img[k * h * w + i * w + j], pixel(i, j, k, n) as f32 / 255.0);
                }
            }
        }
    }
}

#[test]
fn reads_all_variants() {
    for compressed in [false, true] {
        for y_first in [false, true] {
            for y_u8 in [false, true] {
                for big in [false, true] {
                    let tmp = tempfile::tempdir().unwrap();
                    let p = tmp.path().join("train_32x32.mat");
                    std::fs::write(&p, svhn_file(13, 5, 4, compressed, y_first, y_u8, big))
                        .unwrap();
                    let m = MatFile::open(&p).unwrap();
                    let names: Vec<&str> = m.vars.iter().map(|v| v.name.as_str()).collect();
                    assert_eq!(names.len(), 3, "{names:?}");
                    assert!(names.contains(&"ignored_variable"));
                    assert_eq!(
                        m.read_f64(m.var("ignored_variable").unwrap()).unwrap(),
                        vec![1.5, 2.5]
                    );
                    let ex = svhn::read_file(&p).unwrap();
                    assert_eq!(ex.len(), 13);
                    check_examples(&ex, 0, 5, 4);
                }
            }
        }
    }
}

#[test]
fn streams_in_chunks() {
    for compressed in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("extra_32x32.mat");
        std::fs::write(&p, svhn_file(23, 32, 32, compressed, false, false, false)).unwrap();
        let chunks = svhn::stream(&p, 10).unwrap();
        assert_eq!(chunks.total(), 23);
        let mut first = 0;
        let mut sizes = vec![];
        for c in chunks {
            let c = c.unwrap();
            check_examples(&c, first, 32, 32);
            first += c.len();
            sizes.push(c.len());
        }
        assert_eq!(sizes, vec![10, 10, 3]);
    }
}

#[test]
fn load_splits_svhn_and_streams_extra() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svhn");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("train_32x32.mat"),
        svhn_file(9, 32, 32, false, false, false, false),
    )
    .unwrap();
    std::fs::write(
        dir.join("test_32x32.mat"),
        svhn_file(4, 32, 32, true, false, true, false),
    )
    .unwrap();
    let ds = data::load(
        DatasetName::Svhn,
        Split {
            train: 5,
            validation: 3,
        },
        Some(tmp.path()),
    )
    .unwrap();
    assert_eq!(
        (ds.train.len(), ds.validation.len(), ds.test.len()),
        (5, 3, 4)
    );
    check_examples(&ds.train, 0, 32, 32);
    check_examples(&ds.validation, 6, 32, 32);
    check_examples(&ds.test, 0, 32, 32);
    // Validation = the last 3 of 9 training images (6, 7, 8), labels 7, 8, 9.
    assert_eq!(ds.validation.labels, vec![7, 8, 9]);
    // extra is optional: a clear error naming where to put it, then streaming once present.
    let err = svhn::extra_chunks(Some(tmp.path()), 4).err().unwrap();
    assert!(format!("{err:?}").contains("extra_32x32.mat"), "{err:?}");
    std::fs::write(
        dir.join("extra_32x32.mat"),
        svhn_file(11, 32, 32, true, false, false, false),
    )
    .unwrap();
    let n: usize = svhn::extra_chunks(Some(tmp.path()), 4)
        .unwrap()
        .map(|c| c.unwrap().len())
        .sum();
    assert_eq!(n, 11);
}

#[test]
fn label_ten_is_digit_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("t.mat");
    std::fs::write(&p, svhn_file(12, 2, 2, false, false, false, false)).unwrap();
    let ex = svhn::read_file(&p).unwrap();
    // label(n) = n % 10 + 1: image 9 has 10 → digit 0, image 10 has 1.
    assert_eq!(ex.labels[9], 0);
    assert_eq!(ex.labels[10], 1);
}

fn expect_err(p: &Path) -> String {
    let e = match svhn::stream(p, 100) {
        Err(e) => e,
        Ok(chunks) => chunks
            .filter_map(|c| c.err())
            .next()
            .expect("a truncated file must fail"),
    };
    format!("{e}")
}

#[test]
fn truncated_uncompressed_file_names_expected_and_found() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("train_32x32.mat");
    let bytes = svhn_file(6, 32, 32, false, false, false, false);
    std::fs::write(&p, &bytes[..bytes.len() - 3000]).unwrap();
    let msg = expect_err(&p);
    eprintln!("{msg}");
    assert!(msg.contains("train_32x32.mat"), "{msg}");
    assert!(
        msg.contains(&format!("found {} bytes", bytes.len() - 3000)),
        "{msg}"
    );
    assert!(msg.contains("expected"), "{msg}");
}

#[test]
fn truncated_compressed_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("test_32x32.mat");
    let bytes = svhn_file(6, 32, 32, true, false, false, false);
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let msg = expect_err(&p);
    eprintln!("{msg}");
    assert!(msg.contains("test_32x32.mat"), "{msg}");
}

#[test]
fn bad_labels_and_headers_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("bad.mat");
    let wr = W { big: false };
    let mut f = wr.header();
    f.extend(wr.matrix("X", MX_UINT8, &[2, 2, 3, 2], MI_UINT8, &[0; 24]));
    f.extend(wr.matrix("y", MX_DOUBLE, &[2, 1], MI_UINT8, &[3, 11]));
    std::fs::write(&p, &f).unwrap();
    assert!(expect_err(&p).contains("y[1] = 11"));
    let mut f = wr.header();
    f[126..128].copy_from_slice(b"XX");
    std::fs::write(&p, &f).unwrap();
    assert!(expect_err(&p).contains("endian indicator"));
    std::fs::write(&p, b"MATLAB").unwrap();
    assert!(expect_err(&p).contains("128 bytes"));
}

#[test]
fn a_small_file_shrinks_the_split_only_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svhn");
    std::fs::create_dir(&dir).unwrap();
    for (f, n) in [("train_32x32.mat", 40), ("test_32x32.mat", 7)] {
        std::fs::write(
            dir.join(f),
            svhn_file(n, 32, 32, false, false, false, false),
        )
        .unwrap();
    }
    let spec_split = DatasetName::Svhn.default_split();
    // A result must use the spec's split: the error names both sizes.
    let err = data::load(DatasetName::Svhn, spec_split, Some(tmp.path())).unwrap_err();
    let msg = format!("{err}");
    assert!(
        msg.contains(&spec_split.train.to_string()) && msg.contains("has 40"),
        "{msg}"
    );
    // Shrunk: the last tenth validates, the rest trains, in file order.
    let ds = data::load_with(
        DatasetName::Svhn,
        spec_split,
        Some(tmp.path()),
        data::SplitFit::Shrink,
    )
    .unwrap();
    assert_eq!(
        (ds.train.len(), ds.validation.len(), ds.test.len()),
        (36, 4, 7)
    );
    check_examples(&ds.train, 0, 32, 32);
    check_examples(&ds.validation, 36, 32, 32);
    // A file large enough keeps the split exactly, shrinking or not.
    let small = Split {
        train: 30,
        validation: 5,
    };
    assert_eq!(data::fit_split(small, 40, data::SplitFit::Shrink), small);
}
