//! Augmentation: each transform against a naive index computation, and reproducibility.

use archc::data::augment::{apply, draw, Params};
use archc::data::augment_batch;
use archc::ir::Augment;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const C: usize = 2;
const H: usize = 5;
const W: usize = 7;

fn image(seed: u64) -> Vec<f32> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    (0..C * H * W).map(|_| r.gen::<f32>()).collect()
}

fn at(img: &[f32], c: usize, y: i64, x: i64) -> f32 {
    if y < 0 || x < 0 || y >= H as i64 || x >= W as i64 {
        0.0
    } else {
        img[c * H * W + y as usize * W + x as usize]
    }
}

fn none() -> Params {
    Params {
        dx: 0,
        dy: 0,
        hflip: false,
        vflip: false,
        angle: 0.0,
    }
}

fn run(p: Params, img: &[f32]) -> Vec<f32> {
    let mut out = img.to_vec();
    apply(&p, &[C, H, W], &mut out, &mut Vec::new());
    out
}

#[test]
fn shift_moves_content_and_fills_zeros() {
    let img = image(1);
    let out = run(
        Params {
            dx: 2,
            dy: -1,
            ..none()
        },
        &img,
    );
    for c in 0..C {
        for y in 0..H as i64 {
            for x in 0..W as i64 {
                // Output (y, x) shows input (y + 1, x - 2).
                assert_eq!(
                    out[c * H * W + y as usize * W + x as usize],
                    at(&img, c, y + 1, x - 2)
                );
            }
        }
    }
}

#[test]
fn flips_mirror_rows_and_columns() {
    let img = image(2);
    let h = run(
        Params {
            hflip: true,
            ..none()
        },
        &img,
    );
    let v = run(
        Params {
            vflip: true,
            ..none()
        },
        &img,
    );
    for c in 0..C {
        for y in 0..H {
            for x in 0..W {
                assert_eq!(
                    h[c * H * W + y * W + x],
                    img[c * H * W + y * W + (W - 1 - x)]
                );
                assert_eq!(
                    v[c * H * W + y * W + x],
                    img[c * H * W + (H - 1 - y) * W + x]
                );
            }
        }
    }
    // Flipping twice is the identity.
    assert_eq!(
        run(
            Params {
                hflip: true,
                ..none()
            },
            &h
        ),
        img
    );
}

#[test]
fn rotation_by_90_degrees_on_a_square_is_a_transpose_and_flip() {
    // On a square image, rotation by ±90° about the centre is an exact pixel permutation,
    // and bilinear sampling at integer points must reproduce it.
    let n = 6;
    let img: Vec<f32> = (0..n * n).map(|i| i as f32).collect();
    let mut out = img.clone();
    apply(
        &Params {
            angle: 90.0,
            ..none()
        },
        &[1, n, n],
        &mut out,
        &mut Vec::new(),
    );
    let mut other = img.clone();
    apply(
        &Params {
            angle: -90.0,
            ..none()
        },
        &[1, n, n],
        &mut other,
        &mut Vec::new(),
    );
    let r1: Vec<f32> = (0..n * n)
        .map(|i| img[(i % n) * n + (n - 1 - i / n)])
        .collect();
    let r2: Vec<f32> = (0..n * n)
        .map(|i| img[(n - 1 - i % n) * n + i / n])
        .collect();
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-3);
    // One of the two directions maps to r1, the other to r2.
    assert!((close(&out, &r1) && close(&other, &r2)) || (close(&out, &r2) && close(&other, &r1)));
}

#[test]
fn small_rotation_interpolates_bilinearly() {
    // A constant image stays constant inside (bilinear weights sum to 1), and the centre
    // pixel of an odd-sized image is a fixed point.
    let n = 9;
    let mut flat = vec![0.5f32; n * n];
    apply(
        &Params {
            angle: 10.0,
            ..none()
        },
        &[1, n, n],
        &mut flat,
        &mut Vec::new(),
    );
    assert!((flat[4 * n + 4] - 0.5).abs() < 1e-6);
    assert!((flat[3 * n + 5] - 0.5).abs() < 1e-6);
    let img: Vec<f32> = (0..n * n).map(|i| (i * 37 % 101) as f32 / 101.0).collect();
    let mut out = img.clone();
    apply(
        &Params {
            angle: 17.0,
            ..none()
        },
        &[1, n, n],
        &mut out,
        &mut Vec::new(),
    );
    assert_eq!(out[4 * n + 4], img[4 * n + 4]);
    // Naive check of one off-centre pixel: inverse-rotate (y, x) = (2, 6) about (4, 4).
    let (s, c) = (-17f32.to_radians()).sin_cos();
    let (px, py) = (6.0 - 4.0, 2.0 - 4.0);
    let (ux, uy) = (4.0 + c * px - s * py, 4.0 + s * px + c * py);
    let (x0, y0) = (ux.floor() as usize, uy.floor() as usize);
    let (ax, ay) = (ux - x0 as f32, uy - y0 as f32);
    let g = |y: usize, x: usize| img[y * n + x];
    let want = (1.0 - ax) * (1.0 - ay) * g(y0, x0)
        + ax * (1.0 - ay) * g(y0, x0 + 1)
        + (1.0 - ax) * ay * g(y0 + 1, x0)
        + ax * ay * g(y0 + 1, x0 + 1);
    assert!(
        (out[2 * n + 6] - want).abs() < 1e-5,
        "{} vs {want}",
        out[2 * n + 6]
    );
}

#[test]
fn draws_stay_in_range() {
    let aug = Augment {
        shift: 0.1,
        hflip: true,
        vflip: false,
        rotate: 15.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut flips = 0;
    for _ in 0..2000 {
        let p = draw(&aug, 32, 32, &mut rng);
        assert!(p.dx.abs() <= 3 && p.dy.abs() <= 3, "{p:?}"); // round(0.1·32) = 3
        assert!(p.angle.abs() <= 15.0 && !p.vflip);
        flips += p.hflip as usize;
    }
    assert!((flips as f64 / 2000.0 - 0.5).abs() < 0.05, "{flips}");
}

#[test]
fn batch_is_reproducible_and_matches_per_image_application() {
    let aug = Augment {
        shift: 0.2,
        hflip: true,
        vflip: true,
        rotate: 20.0,
    };
    let batch: Vec<f32> = (0..16).flat_map(image).collect();
    let mut a = batch.clone();
    let mut b = batch.clone();
    augment_batch(&aug, &[C, H, W], &mut a, &mut ChaCha8Rng::seed_from_u64(7));
    augment_batch(&aug, &[C, H, W], &mut b, &mut ChaCha8Rng::seed_from_u64(7));
    assert_eq!(a, b);
    assert_ne!(a, batch);
    // Same as drawing the parameters in order and applying them one image at a time.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let size = C * H * W;
    for i in 0..16 {
        let p = draw(&aug, H, W, &mut rng);
        let want = run(p, &batch[i * size..(i + 1) * size]);
        assert_eq!(&a[i * size..(i + 1) * size], &want[..]);
    }
}

#[test]
fn disabled_augmentation_is_identity() {
    let aug = Augment {
        shift: 0.0,
        hflip: false,
        vflip: false,
        rotate: 0.0,
    };
    let batch: Vec<f32> = (0..4).flat_map(image).collect();
    let mut a = batch.clone();
    augment_batch(&aug, &[C, H, W], &mut a, &mut ChaCha8Rng::seed_from_u64(1));
    assert_eq!(a, batch);
}

#[test]
fn shifts_and_rotations_actually_vary() {
    // Uniform draws: every shift in [-3, 3] on both axes, independently of each other, and
    // angles spread over [-15°, 15°] with the uniform distribution's variance 15²/3.
    let aug = Augment {
        shift: 0.1,
        hflip: false,
        vflip: false,
        rotate: 15.0,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let n = 4000;
    let ps: Vec<Params> = (0..n).map(|_| draw(&aug, 32, 32, &mut rng)).collect();
    for d in -3..=3 {
        let cx = ps.iter().filter(|p| p.dx == d).count();
        let cy = ps.iter().filter(|p| p.dy == d).count();
        // Expected n / 7 ≈ 571 each.
        assert!((400..750).contains(&cx), "dx = {d} drawn {cx} times");
        assert!((400..750).contains(&cy), "dy = {d} drawn {cy} times");
    }
    let same = ps.iter().filter(|p| p.dx == p.dy).count();
    assert!(same < n / 4, "dx == dy in {same} of {n} draws");
    let angles: Vec<f64> = ps.iter().map(|p| p.angle as f64).collect();
    let mean = angles.iter().sum::<f64>() / n as f64;
    let var = angles.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64;
    assert!(mean.abs() < 0.6, "mean angle {mean}");
    assert!((var - 75.0).abs() < 7.5, "angle variance {var}, want 75");
    assert!(angles.iter().any(|&a| a < -14.0) && angles.iter().any(|&a| a > 14.0));
    let mut distinct = angles.clone();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    assert!(
        distinct.len() > n - 10,
        "{} distinct angles",
        distinct.len()
    );

    // Copies of one image come out different from each other and from the original.
    let (h, w) = (8, 8);
    let img: Vec<f32> = (0..h * w).map(|i| (i * 37 % 64) as f32 / 64.0).collect();
    let copies = 32;
    let mut batch: Vec<f32> = img.repeat(copies);
    augment_batch(
        &aug,
        &[1, h, w],
        &mut batch,
        &mut ChaCha8Rng::seed_from_u64(4),
    );
    let mut outs: Vec<&[f32]> = batch.chunks(h * w).collect();
    assert!(outs.iter().all(|o| *o != &img[..]));
    outs.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    outs.dedup();
    assert_eq!(outs.len(), copies, "identical augmented copies");
}
