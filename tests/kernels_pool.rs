//! Fast pooling against the naive reference, including the specialised 2×2/2 path.
mod kernels_util;
use archc::kernels::{self, reference, PoolGeom};
use kernels_util::{assert_close, random, rng};

fn geometries() -> Vec<PoolGeom> {
    let g = |batch, channels, in_h, in_w, size, stride, padding| PoolGeom {
        batch,
        channels,
        in_h,
        in_w,
        size,
        stride,
        padding,
    };
    vec![
        g(2, 3, 8, 8, [2, 2], [2, 2], [0, 0]),
        g(3, 2, 7, 9, [2, 2], [2, 2], [0, 0]),
        g(64, 16, 16, 16, [2, 2], [2, 2], [0, 0]),
        g(2, 3, 5, 71, [2, 2], [2, 2], [0, 0]),
        g(1, 1, 1, 1, [1, 1], [1, 1], [0, 0]),
        g(2, 3, 9, 9, [3, 3], [2, 2], [1, 1]),
        g(2, 2, 6, 7, [3, 2], [1, 2], [1, 0]),
        g(1, 4, 5, 5, [2, 2], [1, 1], [0, 0]),
        g(4, 5, 10, 10, [4, 4], [3, 3], [2, 2]),
    ]
}

#[test]
fn max_pool_matches_reference() {
    let mut r = rng(20);
    for g in geometries() {
        let x = random(&mut r, g.batch * g.channels * g.in_h * g.in_w);
        let osz = g.batch * g.channels * g.out_h() * g.out_w();
        let (mut got, mut want) = (vec![f32::NAN; osz], vec![0.0; osz]);
        kernels::max_pool_forward(&g, &x, &mut got);
        reference::max_pool_forward(&g, &x, &mut want);
        assert_eq!(got, want, "max forward {g:?}");

        let dy = random(&mut r, osz);
        let (mut got, mut want) = (vec![f32::NAN; x.len()], vec![0.0; x.len()]);
        kernels::max_pool_backward(&g, &x, &dy, &mut got);
        reference::max_pool_backward(&g, &x, &dy, &mut want);
        assert_close(&got, &want, 4, &format!("max backward {g:?}"));
    }
}

#[test]
fn max_pool_backward_ties_go_to_first_cell() {
    let g = PoolGeom {
        batch: 1,
        channels: 1,
        in_h: 2,
        in_w: 4,
        size: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
    };
    // Window 0 all equal → top-left; window 1 max at bottom-left.
    let x = [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 5.0, 0.0];
    let mut dx = [f32::NAN; 8];
    kernels::max_pool_backward(&g, &x, &[2.0, 3.0], &mut dx);
    assert_eq!(dx, [2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0]);
}

#[test]
fn avg_pool_matches_reference() {
    let mut r = rng(21);
    for g in geometries() {
        let x = random(&mut r, g.batch * g.channels * g.in_h * g.in_w);
        let osz = g.batch * g.channels * g.out_h() * g.out_w();
        let (mut got, mut want) = (vec![f32::NAN; osz], vec![0.0; osz]);
        kernels::avg_pool_forward(&g, &x, &mut got);
        reference::avg_pool_forward(&g, &x, &mut want);
        assert_close(
            &got,
            &want,
            g.size[0] * g.size[1],
            &format!("avg forward {g:?}"),
        );

        let dy = random(&mut r, osz);
        let (mut got, mut want) = (vec![f32::NAN; x.len()], vec![0.0; x.len()]);
        kernels::avg_pool_backward(&g, &dy, &mut got);
        reference::avg_pool_backward(&g, &dy, &mut want);
        assert_close(&got, &want, 16, &format!("avg backward {g:?}"));
    }
}

#[test]
fn upsample_matches_reference() {
    let mut r = rng(22);
    for &(planes, h, w, f) in &[
        (1, 1, 1, [2, 2]),
        (6, 7, 7, [2, 2]),
        (3, 4, 5, [3, 2]),
        (64, 14, 14, [2, 2]),
    ] {
        let x = random(&mut r, planes * h * w);
        let osz = x.len() * f[0] * f[1];
        let (mut got, mut want) = (vec![f32::NAN; osz], vec![0.0; osz]);
        kernels::upsample_nearest_forward(planes, h, w, f, &x, &mut got);
        reference::upsample_nearest_forward(planes, h, w, f, &x, &mut want);
        assert_eq!(got, want, "upsample forward {planes}x{h}x{w} {f:?}");

        let dy = random(&mut r, osz);
        let (mut got, mut want) = (vec![f32::NAN; x.len()], vec![0.0; x.len()]);
        kernels::upsample_nearest_backward(planes, h, w, f, &dy, &mut got);
        reference::upsample_nearest_backward(planes, h, w, f, &dy, &mut want);
        assert_close(
            &got,
            &want,
            f[0] * f[1],
            &format!("upsample backward {f:?}"),
        );
    }
}

/// The in-place gradient through ReLU and 2×2 max pooling against the reference steps
/// it replaces (`kernels_util::check_max_pool_relu_backward`).
#[test]
fn max_pool_relu_backward_matches_reference_composition() {
    let mut r = rng(23);
    for g in geometries()
        .into_iter()
        .filter(|g| g.size == [2, 2] && g.stride == [2, 2])
    {
        kernels_util::check_max_pool_relu_backward(&mut r, &g);
    }
}
