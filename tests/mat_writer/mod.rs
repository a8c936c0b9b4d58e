//! An independent little MATLAB v5 writer for SVHN-like test files (uncompressed and
//! zlib-compressed elements, small-element names, big-endian), shared by the SVHN tests.
#![allow(dead_code)]

use std::io::Write;

pub const MI_INT8: u32 = 1;
pub const MI_UINT8: u32 = 2;
pub const MI_INT32: u32 = 5;
pub const MI_UINT32: u32 = 6;
pub const MI_DOUBLE: u32 = 9;
pub const MI_MATRIX: u32 = 14;
pub const MI_COMPRESSED: u32 = 15;
pub const MX_DOUBLE: u32 = 6;
pub const MX_UINT8: u32 = 9;

pub struct W {
    pub big: bool,
}

impl W {
    pub fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    /// One sub-element: small format when ≤ 4 bytes (and `small`), else tag + data + padding.
    pub fn elem(&self, t: u32, data: &[u8], small: bool) -> Vec<u8> {
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
    pub fn matrix(
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
    pub fn compressed(&self, element: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(element).unwrap();
        let z = z.finish().unwrap();
        let mut out = self.u32(MI_COMPRESSED).to_vec();
        out.extend(self.u32(z.len() as u32));
        out.extend(z);
        out
    }
    pub fn header(&self) -> Vec<u8> {
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
pub fn pixel(i: usize, j: usize, k: usize, n: usize) -> u8 {
    ((i + 2 * j + 5 * k + 11 * n) % 256) as u8
}

pub fn label(n: usize) -> u8 {
    (n % 10 + 1) as u8 // 1..10
}

/// An SVHN-like file with `n` images of h×w×3. Variants: compressed, y first, y stored as
/// uint8 (as MATLAB does for small integer doubles), big-endian.
pub fn svhn_file(
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
