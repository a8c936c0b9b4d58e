//! Data augmentation (item 1g): random shifts, flips and rotations of `[C, H, W]` images.
//!
//! Conventions:
//! - Each image draws, in this order and only for the enabled transforms: a shift
//!   `(dx, dy)` uniform over the integers in `[-round(shift·W), round(shift·W)]` ×
//!   `[-round(shift·H), round(shift·H)]`, a horizontal flip (p = ½), a vertical flip
//!   (p = ½), an angle uniform in `[-rotate, rotate]` degrees.
//! - The image is flipped, rotated about its centre, then shifted. Pixels that come from
//!   outside the image are filled with zeros (black); rotations sample bilinearly.
//! - All random draws come from `rng` sequentially before any pixel work, so the same rng
//!   state gives the same output, whatever the number of threads doing the pixel work.

use rayon::prelude::*;

use crate::ir::Augment;

/// The random transform drawn for one image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub dx: i32,
    pub dy: i32,
    pub hflip: bool,
    pub vflip: bool,
    /// Degrees.
    pub angle: f32,
}

/// Draws one image's transform.
pub fn draw(aug: &Augment, h: usize, w: usize, rng: &mut impl rand::Rng) -> Params {
    let mx = (aug.shift * w as f32).round() as i32;
    let my = (aug.shift * h as f32).round() as i32;
    let dx = if mx > 0 { rng.gen_range(-mx..=mx) } else { 0 };
    let dy = if my > 0 { rng.gen_range(-my..=my) } else { 0 };
    let hflip = aug.hflip && rng.gen::<bool>();
    let vflip = aug.vflip && rng.gen::<bool>();
    let angle = if aug.rotate > 0.0 {
        rng.gen_range(-aug.rotate..=aug.rotate)
    } else {
        0.0
    };
    Params {
        dx,
        dy,
        hflip,
        vflip,
        angle,
    }
}

/// Applies `p` to one `[C, H, W]` image; `scratch` is a copy of the input.
pub fn apply(p: &Params, shape: &[usize], img: &mut [f32], scratch: &mut Vec<f32>) {
    let (c, h, w) = chw(shape);
    scratch.clear();
    scratch.extend_from_slice(img);
    let src = &scratch[..];
    if p.angle == 0.0 {
        // Integer shift + flips: an exact pixel copy.
        for y in 0..h {
            let sy = y as i64 - p.dy as i64;
            for x in 0..w {
                let sx = x as i64 - p.dx as i64;
                let inside = sy >= 0 && sy < h as i64 && sx >= 0 && sx < w as i64;
                let (mut fx, mut fy) = (sx as usize, sy as usize);
                if inside {
                    if p.hflip {
                        fx = w - 1 - fx;
                    }
                    if p.vflip {
                        fy = h - 1 - fy;
                    }
                }
                for ch in 0..c {
                    img[ch * h * w + y * w + x] = if inside {
                        src[ch * h * w + fy * w + fx]
                    } else {
                        0.0
                    };
                }
            }
        }
        return;
    }
    let (sin, cos) = (-p.angle.to_radians()).sin_cos();
    let (cx, cy) = ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    for y in 0..h {
        for x in 0..w {
            // Undo the shift, then the rotation, then the flips.
            let (px, py) = (x as f32 - p.dx as f32 - cx, y as f32 - p.dy as f32 - cy);
            let mut ux = cx + cos * px - sin * py;
            let mut uy = cy + sin * px + cos * py;
            if p.hflip {
                ux = w as f32 - 1.0 - ux;
            }
            if p.vflip {
                uy = h as f32 - 1.0 - uy;
            }
            let (x0, y0) = (ux.floor(), uy.floor());
            let (ax, ay) = (ux - x0, uy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let taps = [
                (x0, y0, (1.0 - ax) * (1.0 - ay)),
                (x0 + 1, y0, ax * (1.0 - ay)),
                (x0, y0 + 1, (1.0 - ax) * ay),
                (x0 + 1, y0 + 1, ax * ay),
            ];
            for ch in 0..c {
                let plane = &src[ch * h * w..(ch + 1) * h * w];
                let mut v = 0.0;
                for &(tx, ty, wt) in &taps {
                    if tx >= 0 && ty >= 0 && (tx as usize) < w && (ty as usize) < h && wt != 0.0 {
                        v += wt * plane[ty as usize * w + tx as usize];
                    }
                }
                img[ch * h * w + y * w + x] = v;
            }
        }
    }
}

fn chw(shape: &[usize]) -> (usize, usize, usize) {
    match *shape {
        [c, h, w] => (c, h, w),
        [h, w] => (1, h, w),
        // Flat vectors cannot be shifted spatially; callers pass image shapes.
        _ => panic!("augment_batch needs a [C, H, W] shape, got {shape:?}"),
    }
}

/// Draws a transform per image (sequentially, from `rng`) and applies them in parallel.
pub fn augment_batch(aug: &Augment, shape: &[usize], images: &mut [f32], rng: &mut impl rand::Rng) {
    let (c, h, w) = chw(shape);
    let size = c * h * w;
    if size == 0 {
        return;
    }
    let params: Vec<Params> = (0..images.len() / size)
        .map(|_| draw(aug, h, w, rng))
        .collect();
    images
        .par_chunks_mut(size)
        .zip(params.par_iter())
        .for_each_init(Vec::new, |scratch, (img, p)| apply(p, shape, img, scratch));
}
