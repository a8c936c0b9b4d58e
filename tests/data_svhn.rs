//! SVHN / MATLAB v5 reader on files written here by an independent little MAT writer:
//! uncompressed and zlib-compressed elements, small-element names, big-endian, streaming,
//! truncation and bad labels.

use std::io::Write;
use std::path::Path;

use archc::data::{self, mat::MatFile, svhn};
use archc::ir::{DatasetName, Split};

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_DOUBLE: u32 = 9;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;
const MX_DOUBLE: u32 = 6;
const MX_UINT8: u32 = 9;

struct W {
    big: bool,
}

impl W {
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    /// One sub-element: small format when ≤ 4 bytes (and `small`), else tag + data + padding.
    fn elem(&self, t: u32, data: &[u8], small: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if small && data.len() <= 4 {
            out.extend(self.u32(((data.len() as u32) << 16) | t));
            let mut d = data.to_vec();
            d.resize(4, 0);
            out.extend(d);
        } else {
            out.extend(self.u32(t));
            out.extend(self.u32(data.len() as u32));
            out.extend(data);
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
        }
        out
    }
    fn matrix(
        &self,
        name: &str,
        class: u32,
        dims: &[usize],
        data_type: u32,
        data: &[u8],
    ) -> Vec<u8> {
        let mut body = Vec::new();
        let mut flags = self.u32(class).to_vec();
        flags.extend([0; 4]);
        body.extend(self.elem(MI_UINT32, &flags, false));
        let d: Vec<u8> = dims.iter().flat_map(|&x| self.u32(x as u32)).collect();
        body.extend(self.elem(MI_INT32, &d, false));
        body.extend(self.elem(MI_INT8, name.as_bytes(), true));
        body.extend(self.elem(data_type, data, false));
        self.elem(MI_MATRIX, &body, false)
    }
    fn compressed(&self, element: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(element).unwrap();
        let z = z.finish().unwrap();
        let mut out = self.u32(MI_COMPRESSED).to_vec();
        out.extend(self.u32(z.len() as u32));
        out.extend(z);
        out
    }
    fn header(&self) -> Vec<u8> {
        let mut h = b"MATLAB 5.0 MAT-file, written by archc tests".to_vec();
        h.resize(116, b' ');
        h.extend([0; 8]);
        h.extend(if self.big {
            0x0100u16.to_be_bytes()
        } else {
            0x0100u16.to_le_bytes()
        });
        h.extend(if self.big { b"MI" } else { b"IM" });
        h
    }
}

/// Pixel (row i, column j, channel k) of image n.
fn pixel(i: usize, j: usize, k: usize, n: usize) -> u8 {
    ((i + 2 * j + 5 * k + 11 * n) % 256) as u8
}

fn label(n: usize) -> u8 {
    (n % 10 + 1) as u8 // 1..10
}

/// An SVHN-like file with `n` images of h×w×3. Variants: compressed, y first, y stored as
/// uint8 (as MATLAB does for small integer doubles), big-endian.
fn svhn_file(
    n: usize,
    h: usize,
    w: usize,
    compressed: bool,
    y_first: bool,
    y_u8: bool,
    big: bool,
) -> Vec<u8> {
    let wr = W { big };
    // Column-major: i fastest, then j, then k, then n.
    let mut x = Vec::with_capacity(h * w * 3 * n);
    for nn in 0..n {
        for k in 0..3 {
            for j in 0..w {
                for i in 0..h {
                    x.push(pixel(i, j, k, nn));
                }
            }
        }
    }
    let ys: Vec<u8> = (0..n).map(label).collect();
    let (yt, yb): (u32, Vec<u8>) = if y_u8 {
        (MI_UINT8, ys.clone())
    } else {
        (
            MI_DOUBLE,
            ys.iter()
                .flat_map(|&v| {
                    if big {
                        (v as f64).to_be_bytes()
                    } else {
                        (v as f64).to_le_bytes()
                    }
                })
                .collect(),
        )
    };
    let xe = wr.matrix("X", MX_UINT8, &[h, w, 3, n], MI_UINT8, &x);
    let ye = wr.matrix("y", MX_DOUBLE, &[n, 1], yt, &yb);
    // A variable with a long (non-small) name, to be ignored.
    let other: Vec<u8> = [1.5f64, 2.5]
        .iter()
        .flat_map(|v| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        })
        .collect();
    let oe = wr.matrix("ignored_variable", MX_DOUBLE, &[1, 2], MI_DOUBLE, &other);
    let mut out = wr.header();
    let order = if y_first {
        [&oe, &ye, &xe]
    } else {
        [&xe, &oe, &ye]
    };
    for e in order {
        if compressed {
            out.extend(wr.compressed(e));
        } else {
            out.extend(e);
        }
    }
    out
}

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
