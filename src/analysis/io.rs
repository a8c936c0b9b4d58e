//! Readers for the files `archc train` writes into a run directory, and an atomic JSON
//! writer for our results.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

fn read_bytes(path: &Path) -> miette::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| miette::miette!("cannot read {}: {e}", path.display()))
}

fn parse<'a>(bytes: &'a [u8], path: &Path) -> miette::Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| miette::miette!("{} is not a safetensors file: {e}", path.display()))
}

/// A f32 tensor's values and shape.
pub fn tensor_f32(
    st: &SafeTensors,
    name: &str,
    path: &Path,
) -> miette::Result<(Vec<f32>, Vec<usize>)> {
    let t = st
        .tensor(name)
        .map_err(|_| miette::miette!("{} has no tensor '{name}'", path.display()))?;
    if t.dtype() != Dtype::F32 {
        return Err(miette::miette!(
            "tensor '{name}' in {} is {:?}, expected F32",
            path.display(),
            t.dtype()
        ));
    }
    let v = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((v, t.shape().to_vec()))
}

fn tensor_u8(st: &SafeTensors, name: &str, path: &Path) -> miette::Result<Vec<u8>> {
    let t = st
        .tensor(name)
        .map_err(|_| miette::miette!("{} has no tensor '{name}'", path.display()))?;
    if t.dtype() != Dtype::U8 {
        return Err(miette::miette!(
            "tensor '{name}' in {} is {:?}, expected U8",
            path.display(),
            t.dtype()
        ));
    }
    Ok(t.data().to_vec())
}

/// Codes of one split: `n × dim` values and `n` labels.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeBlock {
    pub codes: Vec<f32>,
    pub labels: Vec<u8>,
    pub dim: usize,
}

/// Autoencoder codes per split (`codes.safetensors`); absent splits are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Codes {
    pub train: Option<CodeBlock>,
    pub validation: Option<CodeBlock>,
    pub test: Option<CodeBlock>,
}

pub fn read_codes(path: &Path) -> miette::Result<Codes> {
    let bytes = read_bytes(path)?;
    let st = parse(&bytes, path)?;
    let names: Vec<String> = st.names().into_iter().cloned().collect();
    let block = |split: &str| -> miette::Result<Option<CodeBlock>> {
        let cname = format!("{split}.codes");
        if !names.contains(&cname) {
            return Ok(None);
        }
        let (codes, shape) = tensor_f32(&st, &cname, path)?;
        let labels = tensor_u8(&st, &format!("{split}.labels"), path)?;
        if shape.len() != 2 || shape[0] != labels.len() {
            return Err(miette::miette!(
                "{}: '{cname}' has shape {shape:?} for {} labels (want [n, d])",
                path.display(),
                labels.len()
            ));
        }
        Ok(Some(CodeBlock {
            codes,
            labels,
            dim: shape[1],
        }))
    };
    let codes = Codes {
        train: block("train")?,
        validation: block("validation")?,
        test: block("test")?,
    };
    if codes.train.is_none() && codes.validation.is_none() && codes.test.is_none() {
        return Err(miette::miette!(
            "{} holds no '{{train,validation,test}}.codes' tensor",
            path.display()
        ));
    }
    Ok(codes)
}

/// Test-set reconstructions (`reconstructions.safetensors`); `shape` is one example's.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconstructions {
    pub inputs: Vec<f32>,
    pub noisy: Option<Vec<f32>>,
    pub outputs: Vec<f32>,
    pub shape: Vec<usize>,
    pub n: usize,
}

pub fn read_reconstructions(path: &Path) -> miette::Result<Reconstructions> {
    let bytes = read_bytes(path)?;
    let st = parse(&bytes, path)?;
    let (inputs, ishape) = tensor_f32(&st, "test.inputs", path)?;
    let (outputs, oshape) = tensor_f32(&st, "test.outputs", path)?;
    let noisy = if st.names().iter().any(|n| *n == "test.noisy") {
        let (v, s) = tensor_f32(&st, "test.noisy", path)?;
        if s != ishape {
            return Err(miette::miette!(
                "{}: test.noisy shape {s:?} ≠ test.inputs {ishape:?}",
                path.display()
            ));
        }
        Some(v)
    } else {
        None
    };
    // Outputs may be flat (dense decoders: [n, 784]) while inputs keep the image shape
    // ([n, 1, 28, 28]); what must agree is n and the values per example.
    let per = |s: &[usize]| s.iter().skip(1).product::<usize>();
    if ishape.len() < 2
        || oshape.len() < 2
        || ishape[0] != oshape[0]
        || per(&ishape) != per(&oshape)
    {
        return Err(miette::miette!(
            "{}: test.inputs {ishape:?} and test.outputs {oshape:?} must hold the same number of examples and values per example",
            path.display()
        ));
    }
    Ok(Reconstructions {
        inputs,
        noisy,
        outputs,
        shape: ishape[1..].to_vec(),
        n: ishape[0],
    })
}

/// The first convolution's weights `[C_out, C_in, KH, KW]` in a checkpoint: the 4-D
/// `layers.{i}.weight` with the smallest `i`. Returns (weights, shape, i).
pub fn read_first_conv(path: &Path) -> miette::Result<(Vec<f32>, Vec<usize>, usize)> {
    let bytes = read_bytes(path)?;
    let st = parse(&bytes, path)?;
    let mut best: Option<(usize, String)> = None;
    for (name, view) in st.tensors() {
        let idx = name
            .strip_prefix("layers.")
            .and_then(|r| r.strip_suffix(".weight"))
            .and_then(|i| i.parse::<usize>().ok());
        if let Some(i) = idx {
            if view.shape().len() == 4 && best.as_ref().is_none_or(|(b, _)| i < *b) {
                best = Some((i, name.clone()));
            }
        }
    }
    let (i, name) = best.ok_or_else(|| {
        miette::miette!(
            "{} has no convolution weight (a 4-D 'layers.{{i}}.weight')",
            path.display()
        )
    })?;
    let (w, shape) = tensor_f32(&st, &name, path)?;
    Ok((w, shape, i))
}

/// `predictions.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    pub split: String,
    pub classes: Vec<String>,
    pub labels: Vec<u8>,
    pub predictions: Vec<u8>,
}

pub fn read_predictions(path: &Path) -> miette::Result<Predictions> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| miette::miette!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| miette::miette!("{}: {e}", path.display()))
}

/// One epoch of `metrics.json` as read back (written by `train::EpochMetrics`); fields
/// a run did not record are `None` (errors are null for autoencoders).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    #[serde(default)]
    pub lr: Option<f64>,
    #[serde(default)]
    pub train_loss: Option<f64>,
    #[serde(default)]
    pub train_error: Option<f64>,
    #[serde(default)]
    pub val_loss: Option<f64>,
    #[serde(default)]
    pub val_error: Option<f64>,
    #[serde(default)]
    pub test_loss: Option<f64>,
    #[serde(default)]
    pub test_error: Option<f64>,
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Denoising models: losses from corrupted inputs (`train::evaluate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_noisy_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_noisy_loss: Option<f64>,
}

/// `metrics.json` of one run, read leniently (the analysis commands and the report share it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub params: Option<u64>,
    pub epochs: Vec<EpochMetrics>,
    /// Test error after greedy pre-training and the read-out, before fine-tuning (3.3b–d).
    #[serde(default)]
    pub pretrain_test_error: Option<f64>,
    /// Autoencoders: test reconstruction errors in PCA's units (`train::evaluate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconstruction: Option<crate::train::evaluate::Reconstruction>,
}

pub fn read_metrics(path: &Path) -> miette::Result<Metrics> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| miette::miette!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| miette::miette!("{}: {e}", path.display()))
}

pub use crate::atomic::write_json;
