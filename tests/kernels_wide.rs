//! The element-wise loops run in an AVX-512 copy where the CPU has it (`kernels::wide`):
//! that copy must give the same bits as the baseline one, and the vectorised sums must
//! still match an f64 reference over sizes with ragged ends.
mod kernels_util;
use archc::ir::{Activation, Loss, Optimizer};
use archc::kernels;
use archc::lower::ops::{act_backward, loss_grad, loss_value, HYPER_LEN, HYPER_LR};
use archc::lower::optim::update_fused;
use kernels_util::{random, rng};

/// Every output of the element-wise paths that `wide!` compiles twice, for one input.
fn outputs(z: &[f32], t: &[f32], a: &[f32]) -> Vec<Vec<f32>> {
    let mut all = Vec::new();
    for loss in [Loss::BinaryCrossEntropy, Loss::MeanSquaredError] {
        all.push(vec![loss_value(loss, 1, z, t)]);
        all.push(loss_grad(loss, 1, z, t));
    }
    for act in [Activation::Relu, Activation::Sigmoid, Activation::Tanh] {
        let mut d = z.to_vec();
        act_backward(act, 1, a, &mut d);
        all.push(d);
    }
    let mut hyper = vec![0.0; HYPER_LEN];
    hyper[HYPER_LR] = 0.01;
    let optimizers = [
        (
            Optimizer::Sgd {
                lr: 0.01,
                momentum: 0.9,
                nesterov: true,
            },
            1,
        ),
        (
            Optimizer::RmsProp {
                lr: 0.01,
                rho: 0.9,
                epsilon: 1e-7,
                decay: 0.0,
            },
            1,
        ),
        (
            Optimizer::Adadelta {
                lr: 1.0,
                rho: 0.95,
                epsilon: 1e-7,
            },
            2,
        ),
        (
            Optimizer::Adam {
                lr: 0.001,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-7,
            },
            2,
        ),
    ];
    for (opt, slots) in optimizers {
        let mut w = a.to_vec();
        let mut s: Vec<Vec<f32>> = (0..slots)
            .map(|k| t.iter().map(|v| v * (k + 1) as f32).collect())
            .collect();
        update_fused(&opt, &hyper, &mut w, z, &mut s);
        all.push(w);
        all.extend(s);
    }
    all
}

#[test]
fn avx512_copy_gives_the_baseline_bits() {
    let mut r = rng(71);
    // Below one parallel chunk with a ragged end, and several chunks with one.
    for len in [37, 100_003] {
        let z: Vec<f32> = random(&mut r, len).iter().map(|v| v * 12.0).collect();
        let t: Vec<f32> = random(&mut r, len).iter().map(|v| v.abs()).collect();
        let a: Vec<f32> = random(&mut r, len)
            .iter()
            .map(|v| v.abs().min(1.0))
            .collect();
        kernels::set_wide(false);
        assert!(!kernels::wide_available());
        let baseline = outputs(&z, &t, &a);
        kernels::set_wide(true);
        if is_x86_feature_detected!("avx512f") && std::env::var_os("ARCHC_NO_WIDE").is_none() {
            assert!(
                kernels::wide_available(),
                "AVX-512 present but the wide copy is off"
            );
        } else {
            eprintln!("no AVX-512 here: both runs took the baseline copy");
        }
        let wide = outputs(&z, &t, &a);
        for (k, (b, w)) in baseline.iter().zip(&wide).enumerate() {
            let same = b.iter().zip(w).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same,
                "output {k} at length {len} differs between the two copies"
            );
        }
    }
}

#[test]
fn vectorised_sums_match_f64_over_ragged_lengths() {
    let mut r = rng(72);
    for len in [1, 7, 9, 255, 257, 32_768 * 3 + 5] {
        let z: Vec<f32> = random(&mut r, len).iter().map(|v| v * 20.0).collect();
        let t: Vec<f32> = random(&mut r, len).iter().map(|v| v.abs()).collect();
        let bce = archc::kernels::reference::bce_with_logits_mean(&z, &t);
        let got = loss_value(Loss::BinaryCrossEntropy, 1, &z, &t) as f64;
        assert!(
            (got - bce).abs() <= 2e-6 * bce,
            "BCE at {len}: {got} vs {bce}"
        );
        let mse: f64 = z
            .iter()
            .zip(&t)
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum::<f64>()
            / len as f64;
        let got = loss_value(Loss::MeanSquaredError, 1, &z, &t) as f64;
        assert!(
            (got - mse).abs() <= 1e-6 * mse,
            "MSE at {len}: {got} vs {mse}"
        );
    }
}

#[test]
fn exp_approx_matches_libm_and_keeps_nan() {
    use archc::lower::ops::exp_approx;
    for k in -8700..=8800 {
        let x = k as f32 / 100.0;
        let want = (x as f64).exp();
        let got = exp_approx(x) as f64;
        assert!(
            (got - want).abs() <= 4e-7 * want,
            "exp({x}) = {got}, want {want}"
        );
    }
    assert!(exp_approx(f32::NAN).is_nan());
    assert_eq!(exp_approx(f32::INFINITY), f32::INFINITY);
    let tiny = exp_approx(f32::NEG_INFINITY);
    assert!((0.0..1e-37).contains(&tiny), "e^-inf = {tiny}");
    // A diverged run's NaN logits give a NaN loss in both copies, not a number.
    let z = vec![0.5, f32::NAN, -2.0];
    let t = vec![1.0, 0.0, 0.0];
    for wide in [false, true] {
        kernels::set_wide(wide);
        assert!(loss_value(Loss::BinaryCrossEntropy, 1, &z, &t).is_nan());
        assert!(loss_grad(Loss::BinaryCrossEntropy, 1, &z, &t)[1].is_nan());
    }
}
