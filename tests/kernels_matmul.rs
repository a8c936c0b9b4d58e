//! Fast matmul against the naive reference over shapes, transposes and accumulate.
mod kernels_util;
use archc::kernels::{matmul, reference};
use kernels_util::{assert_close, check_matmul_against_reference, random, rng};

#[test]
fn matmul_matches_reference() {
    let mut r = rng(1);
    let shapes = [
        (1, 1, 1),
        (1, 7, 1),
        (3, 5, 2),
        (17, 33, 9),
        (64, 27, 100),
        (128, 300, 65),
        (5, 0, 4),
        (0, 3, 4),
        (4, 3, 0),
        (200, 150, 130),
        (40, 70, 1100),
        (13, 600, 45),
    ];
    check_matmul_against_reference(&mut r, &shapes, "matmul", |r, len, _| random(r, len));
}

#[test]
fn matmul_identity_is_exact() {
    // A · I = A, independent of the reference.
    let mut r = rng(2);
    let (m, k) = (9, 13);
    let a = random(&mut r, m * k);
    let mut eye = vec![0.0; k * k];
    for i in 0..k {
        eye[i * k + i] = 1.0;
    }
    let mut c = vec![f32::NAN; m * k];
    matmul(m, k, k, &a, false, &eye, false, &mut c, false);
    assert_eq!(c, a);
}

#[test]
fn matmul_transposed_b_blocks() {
    // Sizes around the 16×16 register-transpose blocks of the packing code.
    let mut r = rng(3);
    for &(m, k, n) in &[
        (5, 16, 32),
        (7, 48, 64),
        (3, 37, 33),
        (20, 300, 96),
        (2, 17, 31),
    ] {
        let a = random(&mut r, m * k);
        let b = random(&mut r, k * n);
        let (mut got, mut want) = (vec![0.0; m * n], vec![0.0; m * n]);
        matmul(m, k, n, &a, false, &b, true, &mut got, false);
        reference::matmul(m, k, n, &a, false, &b, true, &mut want, false);
        assert_close(&got, &want, k, &format!("matmul b_t {m}x{k}x{n}"));
    }
}

#[test]
fn matmul_every_row_tile_height_and_depth_split() {
    // Blocks of m rows are cut into near-equal tiles of at most 14 rows, each run by the
    // micro-kernel built for its height; m = 1..=30 reaches every height from 1 to 14.
    // Depths 784 and 1000 are split into near-equal blocks (208·3 + 160, 256·3 + 232).
    let mut r = rng(4);
    let mut shapes: Vec<(usize, usize, usize)> = (1..=30).map(|m| (m, 37, 40)).collect();
    shapes.extend([(128, 784, 70), (128, 1000, 33), (141, 257, 17)]);
    check_matmul_against_reference(&mut r, &shapes, "matmul tiles", |r, len, _| random(r, len));
}

#[test]
fn matmul_skinny_products_match_reference() {
    // C narrower than three quarters of the 32-column tile and at least 32 rows tall is
    // computed as Cᵀ = Bᵀ·Aᵀ: output layers (n = 10, 20), codes (n = 2), both sides of
    // the 24-column threshold, and sizes large enough to split over threads.
    let mut r = rng(5);
    let shapes = [
        (1000, 128, 10),
        (128, 1000, 10),
        (2000, 64, 20),
        (50, 7, 2),
        (32, 9, 23),
        (33, 9, 24),
        (31, 40, 5),
        (4096, 128, 20),
        (128, 4096, 1),
    ];
    check_matmul_against_reference(&mut r, &shapes, "matmul skinny", |r, len, _| random(r, len));
}

#[test]
fn serial_matmul_gives_the_same_bits_as_the_split_one() {
    // `DenseBack` runs a layer's two products on one core each and promises the bits of
    // the products split over the cores: splitting rows or columns of C never changes an
    // element's order of summation. Shapes large enough to split (≥ 2¹⁹ multiply-adds),
    // by columns (m < n), by rows (m ≥ n) and transposed-narrow.
    let mut r = rng(6);
    for &(m, k, n, a_t, b_t) in &[
        (128, 300, 200, false, true),
        (300, 128, 200, true, false),
        (700, 64, 150, false, false),
        (2000, 128, 10, true, false),
    ] {
        let a = random(&mut r, m * k);
        let b = random(&mut r, k * n);
        let (mut split, mut serial) = (vec![0.0; m * n], vec![0.0; m * n]);
        matmul(m, k, n, &a, a_t, &b, b_t, &mut split, false);
        archc::kernels::matmul_serial(m, k, n, &a, a_t, &b, b_t, &mut serial, false);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(&split) == bits(&serial), "{m}x{k}x{n}");
        let mut want = vec![0.0; m * n];
        reference::matmul(m, k, n, &a, a_t, &b, b_t, &mut want, false);
        assert_close(&serial, &want, k, &format!("serial {m}x{k}x{n}"));
    }
}
