//! What an autoencoder run measures (`train::evaluate`): the noisy validation/test losses
//! of a denoising model against an independent corruption with the documented seed, the
//! best epoch chosen by the noisy validation loss, and the reconstruction errors in PCA's
//! units against a forward pass written out by hand.

#[path = "engine_util/mod.rs"]
mod engine_util;

use archc::data;
use archc::ir::{Activation, Loss, Noise, Optimizer};
use archc::train::{self, checkpoint, Options};
use engine_util::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Forward pass of a dense sigmoid–sigmoid autoencoder from its flat `[w; b]` parameters
/// (w row-major `[in, units]`), in f64.
fn forward(params: &[Vec<f32>], sizes: [usize; 3], x: &[f32]) -> Vec<f64> {
    let mut h: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    for (l, p) in params.iter().enumerate() {
        let (din, dout) = (sizes[l], sizes[l + 1]);
        let (w, b) = p.split_at(din * dout);
        h = (0..dout)
            .map(|j| {
                sigmoid(b[j] as f64 + (0..din).map(|i| h[i] * w[i * dout + j] as f64).sum::<f64>())
            })
            .collect();
    }
    h
}

fn bce(t: f64, r: f64) -> f64 {
    let r = r.clamp(1e-7, 1.0 - 1e-7);
    -(t * r.ln() + (1.0 - t) * (1.0 - r).ln())
}

/// (MSE per pixel, BCE per image, BCE per pixel) by hand.
fn errors(
    params: &[Vec<f32>],
    d: usize,
    code: usize,
    clean: &[f32],
    fed: &[f32],
) -> (f64, f64, f64) {
    let n = clean.len() / d;
    let (mut sse, mut b) = (0.0, 0.0);
    for i in 0..n {
        let r = forward(params, [d, code, d], &fed[i * d..(i + 1) * d]);
        for (j, &rv) in r.iter().enumerate() {
            let t = clean[i * d + j] as f64;
            sse += (t - rv).powi(2);
            b += bce(t, rv);
        }
    }
    (sse / (n * d) as f64, b / n as f64, b / (n * d) as f64)
}

/// The dense sigmoid–sigmoid autoencoder `d → code → d` with binary cross-entropy,
/// its code the first layer.
fn autoencoder(d: usize, code: usize) -> archc::ir::Model {
    let mut m = model(
        &[d],
        &[
            dense(code, Activation::Sigmoid),
            dense(d, Activation::Sigmoid),
        ],
        Loss::BinaryCrossEntropy,
    );
    m.code_layer = Some(0);
    m
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-4 * b.abs().max(1e-3),
        "{what}: archc {a} vs by hand {b}"
    );
}

#[test]
fn denoising_run_measures_noisy_losses_and_picks_its_best_epoch_by_them() {
    let (d, code) = (12, 3);
    let data = low_rank_images(d, [300, 60, 80], 5);
    let mut m = autoencoder(d, code);
    m.train.noise = Some(Noise::Gaussian {
        sigma: 0.4,
        clip: true,
    });
    m.train.optimizer = Optimizer::Adam {
        lr: 0.05,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
    };
    m.train.batch = 16;
    m.train.epochs = 4;
    m.train.seed = 11;
    let dir = tempfile::tempdir().unwrap();
    let metrics = train::train(&m, &data, &Options::quiet(dir.path())).unwrap();

    // The independent corruption: the documented stream (seed, purpose 4, split 1 or 2).
    let corrupt = |images: &[f32], split: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        rng.set_stream((4 << 32) | split);
        let mut x = images.to_vec();
        data::apply_noise(&m.train.noise.unwrap(), &mut x, &mut rng);
        x
    };
    let noisy_val = corrupt(&data.validation.images, 1);
    let noisy_test = corrupt(&data.test.images, 2);
    assert_ne!(noisy_val, data.validation.images);

    // The last epoch's noisy losses with the final weights.
    let last = metrics.epochs.last().unwrap();
    let fin = checkpoint::load_weights(&dir.path().join("final.safetensors"), &m).unwrap();
    let (_, _, val_noisy) = errors(&fin.params, d, code, &data.validation.images, &noisy_val);
    let (_, _, test_noisy) = errors(&fin.params, d, code, &data.test.images, &noisy_test);
    close(
        last.val_noisy_loss.unwrap(),
        val_noisy,
        "noisy validation loss",
    );
    close(last.test_noisy_loss.unwrap(), test_noisy, "noisy test loss");
    // The clean losses stay clean (and differ from the noisy ones).
    let (_, _, val_clean) = errors(
        &fin.params,
        d,
        code,
        &data.validation.images,
        &data.validation.images,
    );
    close(last.val_loss.unwrap(), val_clean, "clean validation loss");
    assert!(last.val_noisy_loss.unwrap() > last.val_loss.unwrap() + 1e-3);

    // Best epoch = lowest noisy validation loss; best.safetensors holds that epoch.
    let best_epoch = metrics
        .epochs
        .iter()
        .min_by(|a, b| {
            a.val_noisy_loss
                .unwrap()
                .total_cmp(&b.val_noisy_loss.unwrap())
        })
        .unwrap();
    let rec = metrics.reconstruction.expect("a reconstruction record");
    assert_eq!(rec.epoch, best_epoch.epoch);
    let best = checkpoint::load_weights(&dir.path().join("best.safetensors"), &m).unwrap();
    let (_, _, best_val_noisy) = errors(&best.params, d, code, &data.validation.images, &noisy_val);
    close(
        best_epoch.val_noisy_loss.unwrap(),
        best_val_noisy,
        "best epoch's noisy loss",
    );

    // Reconstruction errors of the best weights, clean and noisy, in PCA's units.
    let (mse, bce_img, bce_px) =
        errors(&best.params, d, code, &data.test.images, &data.test.images);
    close(rec.test.mse_per_pixel, mse, "MSE per pixel");
    close(rec.test.bce_per_image, bce_img, "BCE per image");
    close(rec.test.bce_per_pixel, bce_px, "BCE per pixel");
    let noisy = rec.test_noisy.expect("noisy reconstruction errors");
    let (mse_n, bce_img_n, _) = errors(&best.params, d, code, &data.test.images, &noisy_test);
    close(noisy.mse_per_pixel, mse_n, "noisy MSE per pixel");
    close(noisy.bce_per_image, bce_img_n, "noisy BCE per image");

    // metrics.json carries the same record.
    let json: train::Metrics =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(json.reconstruction, metrics.reconstruction);
    assert_eq!(
        json.epochs[0].val_noisy_loss,
        metrics.epochs[0].val_noisy_loss
    );
}

#[test]
fn plain_autoencoder_has_reconstruction_errors_and_no_noisy_losses() {
    let (d, code) = (10, 2);
    let data = low_rank_images(d, [200, 40, 50], 9);
    let mut m = autoencoder(d, code);
    m.train.epochs = 2;
    let dir = tempfile::tempdir().unwrap();
    let metrics = train::train(&m, &data, &Options::quiet(dir.path())).unwrap();
    assert!(metrics.epochs.iter().all(|e| e.val_noisy_loss.is_none()));
    let rec = metrics.reconstruction.unwrap();
    assert!(rec.test_noisy.is_none());
    let best = checkpoint::load_weights(&dir.path().join("best.safetensors"), &m).unwrap();
    let (mse, bce_img, _) = errors(&best.params, d, code, &data.test.images, &data.test.images);
    close(rec.test.mse_per_pixel, mse, "MSE per pixel");
    close(rec.test.bce_per_image, bce_img, "BCE per image");
    // BCE per image is d times the clean test loss of that epoch (no L2 penalty here).
    let at = &metrics.epochs[rec.epoch - 1];
    close(
        rec.test.bce_per_image,
        at.test_loss.unwrap() * d as f64,
        "BCE/image vs test loss",
    );
}

/// Epochs where the clean and the noisy validation losses disagree on the best one.
fn disagreeing_epochs() -> Vec<train::EpochMetrics> {
    let e = |epoch, val: f64, noisy: f64| train::EpochMetrics {
        epoch,
        lr: Some(1e-3),
        train_loss: Some(0.3),
        train_error: None,
        val_loss: Some(val),
        val_error: None,
        test_loss: Some(val),
        test_error: None,
        seconds: Some(1.0),
        val_noisy_loss: Some(noisy),
        test_noisy_loss: Some(noisy),
    };
    vec![
        e(1, 0.20, 0.30),
        e(2, 0.10, 0.35),
        e(3, 0.15, 0.25),
        e(4, 0.12, 0.28),
    ]
}

#[test]
fn the_best_epoch_of_a_denoising_model_is_chosen_by_the_noisy_validation_loss() {
    let epochs = disagreeing_epochs();
    let keys: Vec<f64> = epochs.iter().map(train::evaluate::selection_loss).collect();
    assert_eq!(keys, vec![0.30, 0.35, 0.25, 0.28]);
    // The report reads metrics.json the same way: best epoch 3, by the noisy loss.
    let json = serde_json::json!({ "epochs": epochs });
    let m: archc::analysis::io::Metrics = serde_json::from_value(json).unwrap();
    let s = archc::report::results::summarize(&m).unwrap();
    assert_eq!(s.best, 2);
    assert_eq!(s.criterion, archc::report::results::Criterion::ValNoisyLoss);
}
