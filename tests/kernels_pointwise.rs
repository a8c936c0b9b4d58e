//! Fused element-wise helpers against naive loops, finite differences and invariances.
mod kernels_util;
use archc::kernels;
use kernels_util::{assert_close, random, rng};

#[test]
fn bias_relu_and_relu_match_naive() {
    let mut r = rng(30);
    // Sizes on both sides of the parallel threshold, dense (inner 1) and conv (inner 7).
    for &(outer, c, inner) in &[(3, 5, 1), (4, 3, 7), (128, 512, 1), (64, 16, 100)] {
        let x = random(&mut r, outer * c * inner);
        let b = random(&mut r, c);
        let mut got = x.clone();
        kernels::bias_relu_inplace(&mut got, &b, inner);
        let want: Vec<f32> = (0..x.len())
            .map(|i| (x[i] + b[(i / inner) % c]).max(0.0))
            .collect();
        assert_eq!(got, want, "bias_relu {outer}x{c}x{inner}");

        let mut got = x.clone();
        kernels::relu_inplace(&mut got);
        let want: Vec<f32> = x.iter().map(|v| if *v > 0.0 { *v } else { 0.0 }).collect();
        assert_eq!(got, want, "relu");
    }
}

#[test]
fn relu_backward_masks_by_output() {
    let mut r = rng(31);
    for len in [10, 100_000] {
        let mut y = random(&mut r, len);
        y.iter_mut().for_each(|v| *v = v.max(0.0));
        let dy = random(&mut r, len);
        let mut got = dy.clone();
        kernels::relu_backward_inplace(&y, &mut got);
        for i in 0..len {
            assert_eq!(got[i], if y[i] > 0.0 { dy[i] } else { 0.0 }, "index {i}");
        }
    }
}

#[test]
fn bias_grad_matches_naive() {
    let mut r = rng(32);
    for &(outer, c, inner) in &[(5, 4, 1), (128, 10, 1), (3, 6, 49), (16, 64, 256)] {
        let dy = random(&mut r, outer * c * inner);
        let mut got = vec![f32::NAN; c];
        kernels::bias_grad(&dy, inner, &mut got);
        let mut want = vec![0.0f64; c];
        for (i, v) in dy.iter().enumerate() {
            want[(i / inner) % c] += f64::from(*v);
        }
        let want: Vec<f32> = want.iter().map(|v| *v as f32).collect();
        assert_close(
            &got,
            &want,
            outer * inner,
            &format!("bias_grad {outer}x{c}x{inner}"),
        );
    }
}

/// Naive loss in f64: −Σ t·log(exp(z)/Σexp(z)), averaged over rows.
fn naive_ce(z: &[f32], t: &[f32], classes: usize) -> f64 {
    let rows = z.len() / classes;
    let mut loss = 0.0;
    for row in 0..rows {
        let zr = &z[row * classes..][..classes];
        let denom: f64 = zr.iter().map(|v| f64::from(*v).exp()).sum();
        for k in 0..classes {
            let p = f64::from(zr[k]).exp() / denom;
            loss -= f64::from(t[row * classes + k]) * p.ln();
        }
    }
    loss / rows as f64
}

#[test]
fn softmax_cross_entropy_loss_and_gradient() {
    let mut r = rng(33);
    let (batch, classes) = (6, 10);
    let z: Vec<f32> = random(&mut r, batch * classes)
        .iter()
        .map(|v| 3.0 * v)
        .collect();
    let mut t = vec![0.0f32; batch * classes];
    for row in 0..batch {
        t[row * classes + (row * 7) % classes] = 1.0;
    }
    // One soft row: weights need not be one-hot.
    t[..classes]
        .iter_mut()
        .enumerate()
        .for_each(|(k, v)| *v = (k as f32) / 45.0);
    let mut d = vec![f32::NAN; z.len()];
    let loss = kernels::softmax_cross_entropy(&z, &t, classes, &mut d);
    let want = naive_ce(&z, &t, classes);
    assert!(
        (f64::from(loss) - want).abs() < 1e-5 * want.abs().max(1.0),
        "{loss} vs {want}"
    );

    // Central differences of the naive f64 loss.
    let h = 1e-3f32;
    for i in 0..z.len() {
        let (mut zp, mut zm) = (z.clone(), z.clone());
        zp[i] += h;
        zm[i] -= h;
        let fd = (naive_ce(&zp, &t, classes) - naive_ce(&zm, &t, classes)) / (2.0 * f64::from(h));
        assert!(
            (f64::from(d[i]) - fd).abs() < 1e-4,
            "dlogits[{i}]: {} vs {fd}",
            d[i]
        );
    }

    // Shifting a row's logits changes nothing, even by a huge amount (stability).
    let shifted: Vec<f32> = z.iter().map(|v| v + 1000.0).collect();
    let mut d2 = vec![0.0; z.len()];
    let loss2 = kernels::softmax_cross_entropy(&shifted, &t, classes, &mut d2);
    assert!((loss2 - loss).abs() < 1e-3, "{loss2} vs {loss}");
    assert_close(&d2, &d, 1, "shifted gradient");
}
