//! Checkpoints as safetensors, and atomic file writes.
//!
//! Names: `layers.{i}.weight` / `layers.{i}.bias` (conv `[co, ci, kh, kw]`, dense
//! `[in, units]`), BatchNorm `layers.{i}.gamma|beta|running_mean|running_var`;
//! optimizer slots `layers.{i}.slot{k}` (flat, parameter order `[w; b]`) in the
//! resume file `state.safetensors`.

use std::collections::HashMap;
use std::path::Path;

use miette::{miette, IntoDiagnostic, Result, WrapErr};
use safetensors::tensor::{Dtype, TensorView};

use crate::ir::params::Store;
use crate::ir::Model;
use crate::lower::{Slots, Weights};

/// A named tensor to serialise: f32 or u8 data with its shape.
pub enum Entry {
    F32(Vec<usize>, Vec<f32>),
    U8(Vec<usize>, Vec<u8>),
}

/// Serialises named tensors to a safetensors file, atomically.
pub fn save(path: &Path, entries: Vec<(String, Entry)>) -> Result<()> {
    save_with_metadata(path, entries, None)
}

/// [`save`] with a string map in the file header.
pub fn save_with_metadata(
    path: &Path,
    entries: Vec<(String, Entry)>,
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = entries
        .into_iter()
        .map(|(name, e)| match e {
            Entry::F32(shape, v) => (
                name,
                Dtype::F32,
                shape,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            Entry::U8(shape, v) => (name, Dtype::U8, shape, v),
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(name, dt, shape, data)| {
            TensorView::new(*dt, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| miette!("tensor {name}: {e:?}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let out =
        safetensors::serialize(views, &metadata).map_err(|e| miette!("safetensors: {e:?}"))?;
    crate::atomic::write_bytes(path, &out)
}

/// Reads every f32 tensor of a safetensors file.
pub fn load(path: &Path) -> Result<HashMap<String, Vec<f32>>> {
    load_with_metadata(path).map(|(t, _)| t)
}

/// [`load`] plus the header's string map (empty when absent).
#[allow(clippy::type_complexity)]
pub fn load_with_metadata(
    path: &Path,
) -> Result<(HashMap<String, Vec<f32>>, HashMap<String, String>)> {
    let bytes = std::fs::read(path)
        .into_diagnostic()
        .wrap_err_with(|| format!("reading checkpoint {}", path.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| miette!("{} is not a safetensors file: {e:?}", path.display()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| miette!("{} is not a safetensors file: {e:?}", path.display()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() == Dtype::F32 {
            let v = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            out.insert(name, v);
        }
    }
    Ok((out, meta))
}

/// The named pieces of layer `i`'s parameter and running-statistics vectors, from its
/// parameter layout: (name, shape, from running?, offset).
fn pieces(model: &Model, i: usize) -> Vec<(String, Vec<usize>, bool, usize)> {
    model.layers[i]
        .layout()
        .pieces
        .into_iter()
        .map(|p| {
            (
                format!("layers.{i}.{}", p.name),
                p.shape,
                p.store == Store::Running,
                p.offset,
            )
        })
        .collect()
}

pub fn save_weights(path: &Path, model: &Model, w: &Weights) -> Result<()> {
    save(path, weight_entries(model, w))
}

fn weight_entries(model: &Model, w: &Weights) -> Vec<(String, Entry)> {
    let mut entries = Vec::new();
    for i in 0..model.layers.len() {
        for (name, shape, running, off) in pieces(model, i) {
            let src = if running { &w.running[i] } else { &w.params[i] };
            let len: usize = shape.iter().product();
            entries.push((name, Entry::F32(shape, src[off..off + len].to_vec())));
        }
    }
    entries
}

/// Loads weights for `model`, checking every tensor is present with the right size.
pub fn load_weights(path: &Path, model: &Model) -> Result<Weights> {
    weights_from(&mut load(path)?, path, model)
}

fn weights_from(t: &mut HashMap<String, Vec<f32>>, path: &Path, model: &Model) -> Result<Weights> {
    let mut w = Weights::init(model, 0);
    for i in 0..model.layers.len() {
        for (name, shape, running, off) in pieces(model, i) {
            let len: usize = shape.iter().product();
            let v = t.remove(&name).ok_or_else(|| {
                miette!(
                    help = "was the checkpoint trained from this spec?",
                    "{} has no tensor `{name}`",
                    path.display()
                )
            })?;
            if v.len() != len {
                return Err(miette!(
                    "{}: `{name}` has {} values, the model expects {shape:?}",
                    path.display(),
                    v.len()
                ));
            }
            let dst = if running {
                &mut w.running[i]
            } else {
                &mut w.params[i]
            };
            dst[off..off + len].copy_from_slice(&v);
        }
    }
    Ok(w)
}

fn slot_entries(slots: &Slots) -> Vec<(String, Entry)> {
    let mut entries = Vec::new();
    for (i, layer) in slots.iter().enumerate() {
        for (k, s) in layer.iter().enumerate() {
            entries.push((
                format!("layers.{i}.slot{k}"),
                Entry::F32(vec![s.len()], s.clone()),
            ));
        }
    }
    entries
}

fn slots_from(t: &mut HashMap<String, Vec<f32>>, path: &Path, like: &Slots) -> Result<Slots> {
    let mut out = like.clone();
    for (i, layer) in out.iter_mut().enumerate() {
        for (k, s) in layer.iter_mut().enumerate() {
            let name = format!("layers.{i}.slot{k}");
            let v = t
                .remove(&name)
                .ok_or_else(|| miette!("{} has no tensor `{name}`", path.display()))?;
            if v.len() != s.len() {
                return Err(miette!("{}: `{name}` has the wrong size", path.display()));
            }
            *s = v;
        }
    }
    Ok(out)
}

/// Everything `--resume` needs, in one file so that a kill can never leave weights,
/// optimizer slots and counters from different epochs: the weights (same names as
/// `final.safetensors`), the slots, and `metadata` (JSON strings) in the header.
pub fn save_state(
    path: &Path,
    model: &Model,
    w: &Weights,
    slots: &Slots,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let mut entries = weight_entries(model, w);
    entries.extend(slot_entries(slots));
    save_with_metadata(path, entries, Some(metadata))
}

/// Reads a [`save_state`] file; `like` gives the slots' layout.
pub fn load_state(
    path: &Path,
    model: &Model,
    like: &Slots,
) -> Result<(Weights, Slots, HashMap<String, String>)> {
    let (mut t, meta) = load_with_metadata(path)?;
    let w = weights_from(&mut t, path, model)?;
    let s = slots_from(&mut t, path, like)?;
    Ok((w, s, meta))
}
