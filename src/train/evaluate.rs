//! What an autoencoder's run measures beyond its loss (items 3.1a, 3.1e, 3.2b, 3.2d).
//!
//! - **Noisy evaluation** of a denoising model (one that trains with input noise): the
//!   validation and test losses from *corrupted* inputs against the clean targets, over
//!   the whole split, with noise drawn from a fixed stream per split ([`eval_noise_rng`]),
//!   so every epoch and every run sees the same corrupted images (as the assignment's
//!   template builds `noisy_x_test` once). The clean losses stay beside them (item 3.2e
//!   judges denoising models on clean data). The best epoch of a denoising model is the
//!   one with the lowest noisy validation loss: denoising is what it is trained for.
//! - **Reconstruction error** of every autoencoder in the units `archc pca` reports
//!   ([`crate::analysis::pca::reconstruction_error`]): mean squared error per pixel and
//!   binary cross-entropy summed over an image's pixels, averaged over the whole test
//!   split, from the sigmoid (or linear) outputs with the same clamp as PCA's. Written to
//!   `metrics.json` as `reconstruction`, computed from the best epoch's weights.

use miette::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::analysis::pca;
use crate::data::{self, Dataset, Examples};
use crate::ir::{Model, Noise, Target};
use crate::lower::{ops, ForwardGraph, Weights};
use crate::train::Network;

/// Stream purpose of the evaluation noise (the training loop's purposes are 1–3).
pub const EVAL_NOISE: u64 = 4;

/// Which split a noisy evaluation corrupts: the stream index of [`eval_noise_rng`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Validation = 1,
    Test = 2,
}

/// The noise stream of one split: ChaCha8 seeded with the spec's `seed`, stream
/// `(EVAL_NOISE << 32) | split`. The split's images are corrupted in order, one draw per
/// value, by [`data::apply_noise`]; the same for every epoch.
pub fn eval_noise_rng(seed: u64, split: Split) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((EVAL_NOISE << 32) | split as u64);
    rng
}

/// A copy of `ex`'s images corrupted as [`eval_noise_rng`] says.
pub fn noisy_images(noise: &Noise, ex: &Examples, seed: u64, split: Split) -> Vec<f32> {
    let mut x = ex.images.clone();
    data::apply_noise(noise, &mut x, &mut eval_noise_rng(seed, split));
    x
}

/// The corrupted validation and test images of a denoising model, made once per run.
pub struct NoisySplits {
    validation: Vec<f32>,
    test: Vec<f32>,
}

impl NoisySplits {
    /// `None` unless `model` reconstructs its input from corrupted inputs.
    pub fn new(model: &Model, data: &Dataset, noise: Option<Noise>) -> Option<NoisySplits> {
        let noise = noise.filter(|_| model.train.target == Target::Input)?;
        let seed = model.train.seed;
        Some(NoisySplits {
            validation: noisy_images(&noise, &data.validation, seed, Split::Validation),
            test: noisy_images(&noise, &data.test, seed, Split::Test),
        })
    }

    /// Noisy-input validation and test losses (plus the L2 penalty `pen`, as the clean
    /// losses include it), `None` for an empty split.
    pub fn losses(
        &self,
        model: &Model,
        eval: &mut ForwardGraph,
        data: &Dataset,
        pen: f64,
    ) -> (Option<f64>, Option<f64>) {
        (
            noisy_loss(model, eval, &self.validation, &data.validation).map(|l| l + pen),
            noisy_loss(model, eval, &self.test, &data.test).map(|l| l + pen),
        )
    }
}

/// Mean loss over `clean`'s examples of the model fed `noisy` (its corrupted images),
/// the targets being the clean images. `eval` outputs logits (as the loss reads them).
fn noisy_loss(
    model: &Model,
    eval: &mut ForwardGraph,
    noisy: &[f32],
    clean: &Examples,
) -> Option<f64> {
    let n = clean.len();
    if n == 0 {
        return None;
    }
    let d = clean.example_size();
    let batch = model.train.batch.max(256);
    let row = eval.output_size;
    let mut sum = 0.0f64;
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let out = eval.run(noisy[start * d..end * d].to_vec());
        let t = &clean.images[start * d..end * d];
        sum += ops::loss_value(model.train.loss, row, &out, t) as f64 * (end - start) as f64;
    }
    Some(sum / n as f64)
}

/// Reconstruction errors of an autoencoder on the whole test split, in PCA's units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReconErrors {
    /// Mean over images and pixels of (x − r)².
    pub mse_per_pixel: f64,
    /// Mean over images of −Σ_pixels [x log r + (1 − x) log(1 − r)], r clamped to
    /// [1e-7, 1 − 1e-7] (as `archc pca`).
    pub bce_per_image: f64,
    /// The same cross-entropy per pixel (= the BCE test loss without L2 penalty).
    pub bce_per_pixel: f64,
}

impl From<pca::ReconError> for ReconErrors {
    fn from(e: pca::ReconError) -> Self {
        ReconErrors {
            mse_per_pixel: e.mse_per_pixel,
            bce_per_image: e.bce_per_example,
            bce_per_pixel: e.bce_per_pixel,
        }
    }
}

/// `metrics.json`'s `reconstruction` record.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reconstruction {
    /// Epoch (1-based) whose weights (`best.safetensors`) were measured.
    pub epoch: usize,
    /// Clean test images in, clean targets.
    pub test: ReconErrors,
    /// Denoising models: test images corrupted as in the noisy test loss, clean targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_noisy: Option<ReconErrors>,
}

/// The reconstruction errors of `model` with `weights` on `data.test`; `None` for a
/// model that does not reconstruct its input.
pub fn reconstruction(
    model: &Model,
    data: &Dataset,
    weights: Weights,
    noise: Option<Noise>,
    epoch: usize,
) -> Result<Option<Reconstruction>> {
    if model.train.target != Target::Input || data.test.is_empty() {
        return Ok(None);
    }
    let test = &data.test;
    let d = test.example_size();
    let net = Network::new(model.clone(), weights);
    let out = net.predict(&test.images, test.len());
    let clean = pca::reconstruction_error(&test.images, &out, d).into();
    let test_noisy = match noise {
        Some(nz) => {
            let x = noisy_images(&nz, test, model.train.seed, Split::Test);
            let out = net.predict(&x, test.len());
            Some(pca::reconstruction_error(&test.images, &out, d).into())
        }
        None => None,
    };
    Ok(Some(Reconstruction {
        epoch,
        test: clean,
        test_noisy,
    }))
}

/// The loss that chooses the best epoch: the noisy validation loss of a denoising model,
/// else the validation loss, else (no validation split) the training loss.
pub fn selection_loss(m: &super::EpochMetrics) -> f64 {
    m.val_noisy_loss
        .or(m.val_loss)
        .or(m.train_loss)
        .unwrap_or(f64::INFINITY)
}

/// Adds the [`Reconstruction`] of the best epoch (`best.safetensors` in `out`) to
/// `metrics` and rewrites `out/metrics.json`; nothing for models that do not reconstruct.
pub fn record_reconstruction(
    model: &Model,
    data: &Dataset,
    noise: Option<Noise>,
    out: &std::path::Path,
    metrics: &mut super::Metrics,
) -> Result<()> {
    if model.train.target != Target::Input {
        return Ok(());
    }
    let best = metrics
        .epochs
        .iter()
        .map(|m| (m.epoch, selection_loss(m)))
        // The first lowest, as the training loop keeps it (`key < best`).
        .fold(None, |b: Option<(usize, f64)>, (e, v)| match b {
            Some((_, bv)) if v < bv => Some((e, v)),
            None => Some((e, v)),
            _ => b,
        });
    let Some((epoch, _)) = best else {
        return Ok(());
    };
    let weights = super::checkpoint::load_weights(&out.join("best.safetensors"), model)?;
    metrics.reconstruction = reconstruction(model, data, weights, noise, epoch)?;
    super::write_json(&out.join("metrics.json"), metrics)
}

/// The weights `predictions.json`, `reconstructions.safetensors` and `codes.safetensors`
/// are computed from: an autoencoder's best epoch (`best.safetensors`, the epoch its
/// `reconstruction` record and the report's "at best" columns describe, so that kNN on
/// its codes and its reconstruction error measure the same network); a classifier's
/// final weights (its predictions match the last epoch's test error).
pub fn output_weights(model: &Model, out: &std::path::Path, last: &Weights) -> Result<Weights> {
    if model.train.target == Target::Input {
        super::checkpoint::load_weights(&out.join("best.safetensors"), model)
    } else {
        Ok(last.clone())
    }
}
