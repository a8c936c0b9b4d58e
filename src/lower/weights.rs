//! Parameters and running statistics: their storage per layer and their initial values,
//! both read from each layer's [`ParamLayout`](crate::ir::ParamLayout).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::ir::layers;
use crate::ir::params::{Fill, Store};
use crate::ir::{Init, LayerKind, Model};

/// Parameters and running statistics of a model, per layer (empty when a layer has none).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Weights {
    /// `[w; b]` (conv w `[co, ci, kh, kw]`, dense w `[in, units]`), BatchNorm `[γ; β]`.
    pub params: Vec<Vec<f32>>,
    /// BatchNorm `[running_mean; running_var]`.
    pub running: Vec<Vec<f32>>,
}

/// Optimizer slots per layer: `slots[layer][k]` has the layer's parameter length.
pub type Slots = Vec<Vec<Vec<f32>>>;

/// Number of leading weight entries (the part weight decay applies to) and of the rest
/// (biases, or β of BatchNorm); `None` for layers without parameters.
pub fn param_split(kind: &LayerKind, input_shape: &[usize]) -> Option<(usize, usize)> {
    layers::layout(kind, input_shape).split()
}

impl Weights {
    /// Fresh parameters, piece by piece as the layouts say: weights drawn per the layer's
    /// `init`, biases zero, BatchNorm γ = 1, β = 0, running mean 0 and variance 1.
    /// Deterministic in `seed` (one stream, layers and pieces in order).
    pub fn init(model: &Model, seed: u64) -> Weights {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut w = Weights::default();
        for layer in &model.layers {
            let layout = layer.layout();
            let mut p = vec![0.0; layout.params_len()];
            let mut r = vec![0.0; layout.running_len()];
            for piece in &layout.pieces {
                let store = match piece.store {
                    Store::Params => &mut p,
                    Store::Running => &mut r,
                };
                let dst = &mut store[piece.offset..piece.offset + piece.len()];
                match piece.fill {
                    Fill::Draw {
                        init,
                        fan_in,
                        fan_out,
                    } => dst.copy_from_slice(&draw(init, fan_in, fan_out, dst.len(), &mut rng)),
                    Fill::Const(c) => dst.fill(c),
                }
            }
            w.params.push(p);
            w.running.push(r);
        }
        w
    }

    pub fn count(&self) -> usize {
        self.params.iter().map(Vec::len).sum()
    }
}

fn draw(init: Init, fan_in: usize, fan_out: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    match init {
        Init::GlorotUniform => {
            let l = (6.0 / (fan_in + fan_out) as f32).sqrt();
            let d = Uniform::new_inclusive(-l, l);
            (0..n).map(|_| d.sample(rng)).collect()
        }
        Init::HeUniform => {
            let l = (6.0 / fan_in as f32).sqrt();
            let d = Uniform::new_inclusive(-l, l);
            (0..n).map(|_| d.sample(rng)).collect()
        }
        Init::HeNormal => {
            let d = Normal::new(0.0, (2.0 / fan_in as f32).sqrt()).expect("finite std");
            (0..n).map(|_| d.sample(rng)).collect()
        }
    }
}
