//! The intermediate representation: a fully expanded, shape-checked model.
//!
//! The front end (`syntax` → `ir::build`) produces a [`Spec`]; everything downstream
//! (summary tables, lowering to luminal, training, analysis) reads only these plain
//! types. Shapes exclude the batch dimension.
//! What archc knows about each layer kind lives in [`layers`], one file per letter. Image tensors are channel-first
//! `[C, H, W]`; flat tensors are `[D]`.

use miette::SourceSpan;
use serde::{Deserialize, Serialize};

/// A parsed and expanded spec file: one model per point of its sweeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// File name without extension, e.g. `svhn`.
    pub name: String,
    pub models: Vec<Model>,
}

/// One concrete network with its training setup.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Spec name plus the sweep point, e.g. `ae_basic[d=2]`; just the spec name when there is no sweep.
    pub name: String,
    /// The sweep point that produced this model, e.g. `[("d", "2")]`.
    pub sweep_point: Vec<(String, String)>,
    /// Shape of one input example, without batch: `[C, H, W]` or `[D]`.
    pub input_shape: Vec<usize>,
    pub layers: Vec<Layer>,
    /// Index into `layers` of the layer whose output is the code of an autoencoder.
    pub code_layer: Option<usize>,
    pub train: TrainConfig,
}

/// One layer with its inferred shapes and counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub kind: LayerKind,
    /// Canonical notation of this layer, e.g. `C64@3x3/1 same relu`.
    pub notation: String,
    /// Where it was written in the spec source.
    pub span: SourceSpan,
    /// Optional user-given name (e.g. the code layer `code`).
    pub label: Option<String>,
    pub input_shape: Vec<usize>,
    pub output_shape: Vec<usize>,
    /// Trainable parameters (weights + biases).
    pub params: usize,
    /// Multiply-adds per example for the forward pass.
    pub mult_adds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Keras's default: U(-l, l), l = sqrt(6 / (fan_in + fan_out)).
    GlorotUniform,
    /// He normal: N(0, 2 / fan_in).
    HeNormal,
    /// He uniform: U(-l, l), l = sqrt(6 / fan_in).
    HeUniform,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolKind {
    Max,
    Avg,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerKind {
    /// 2-D convolution, weights `[filters, in_channels, kh, kw]`, bias `[filters]`.
    Conv {
        filters: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        /// Zero padding added on each side (top/bottom, left/right), resolved from same/valid/N.
        padding: [usize; 2],
        activation: Activation,
        init: Init,
        /// L2 penalty coefficient λ (adds λ·Σw² to the loss), 0 when absent.
        weight_decay: f32,
    },
    /// Pooling over `size` windows with `stride`, no padding unless given.
    Pool {
        kind: PoolKind,
        size: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    },
    /// Fully connected; flattens its input. Weights `[in, units]` (Keras layout), bias `[units]`.
    Dense {
        units: usize,
        activation: Activation,
        init: Init,
        weight_decay: f32,
    },
    /// Nearest-neighbour upsampling by an integer factor.
    Upsample { factor: [usize; 2] },
    /// Inverted dropout: at training time zero with probability `rate`, scale the rest by 1/(1-rate).
    Dropout { rate: f32 },
    /// Batch normalisation over channels (images) or features (flat), with learned scale and shift.
    BatchNorm { momentum: f32, epsilon: f32 },
    /// A standalone activation.
    Activation(Activation),
    /// Training-time input corruption (denoising); identity at evaluation.
    Noise(Noise),
}

/// Input corruption. The masking convention is explicit in the name: `keep` is the
/// probability that a pixel is kept (ξ = 1), so `keep = 0.75` zeroes about 25%.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Noise {
    /// x̃ = x ⊙ ξ, ξᵢ ~ Bernoulli(keep).
    Mask { keep: f32 },
    /// x̃ = x + ξ, ξᵢ ~ N(0, σ²), optionally clipped to [0, 1].
    Gaussian { sigma: f32, clip: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetName {
    Mnist,
    Cifar10,
    Svhn,
}

impl DatasetName {
    /// MISSION.md's split: MNIST 55000/5000 (3a), CIFAR-10 45000/5000 (1a); SVHN keeps the
    /// last 5000 of its 73257 training images for validation. Validation examples are
    /// always the last ones of the training file.
    pub fn default_split(self) -> Split {
        let train = match self {
            DatasetName::Mnist => 55000,
            DatasetName::Cifar10 => 45000,
            DatasetName::Svhn => 68257,
        };
        Split {
            train,
            validation: 5000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Categorical cross-entropy on logits through a stable log-softmax (softmax output layer).
    CrossEntropy,
    /// Binary cross-entropy with sigmoid outputs, computed stably from logits.
    BinaryCrossEntropy,
    MeanSquaredError,
}

/// What the network learns to output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Class labels (classifiers).
    Labels,
    /// The clean input itself (autoencoders, denoising autoencoders).
    Input,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Optimizer {
    Sgd {
        lr: f32,
        momentum: f32,
        nesterov: bool,
    },
    /// Keras RMSprop; `decay` is Keras's time decay lr / (1 + decay·iterations).
    RmsProp {
        lr: f32,
        rho: f32,
        epsilon: f32,
        decay: f32,
    },
    Adagrad {
        lr: f32,
        epsilon: f32,
    },
    Adadelta {
        lr: f32,
        rho: f32,
        epsilon: f32,
    },
    Adam {
        lr: f32,
        beta1: f32,
        beta2: f32,
        epsilon: f32,
    },
}

/// Learning-rate schedule applied per epoch (time decay is per iteration, inside the optimizer).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Schedule {
    Constant,
    /// lr = max(lr0 · factor^(epoch / every), floor) — the assignment's ×0.5 every 10 epochs, floor 1e-5.
    Step {
        factor: f32,
        every: usize,
        floor: f32,
    },
    /// Cosine from lr0 to `min` over the run.
    Cosine {
        min: f32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Maximum shift as a fraction of width/height (0.1 = 10%).
    pub shift: f32,
    pub hflip: bool,
    pub vflip: bool,
    /// Maximum rotation in degrees (0 = none).
    pub rotate: f32,
}

/// Which examples a run trains and validates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Training examples taken from the start of the training file (45000 for CIFAR-10, 55000 for MNIST).
    pub train: usize,
    /// Validation examples taken from the end of the training file (5000).
    pub validation: usize,
}

/// One stage of greedy layer-wise pre-training (items 3.3b–d): each hidden dense
/// layer is trained as an autoencoder on the previous layer's codes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pretrain {
    pub epochs: usize,
    /// Input corruption for denoising pre-training (3.3c), none for plain autoencoders.
    pub noise: Option<Noise>,
    pub loss: Loss,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub dataset: DatasetName,
    pub split: Split,
    pub target: Target,
    pub loss: Loss,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    pub epochs: usize,
    pub batch: usize,
    pub seed: u64,
    pub augment: Option<Augment>,
    /// Input corruption applied to training inputs only (denoising autoencoders).
    pub noise: Option<Noise>,
    pub pretrain: Option<Pretrain>,
}

impl Model {
    /// Shape of the network's output, without batch.
    pub fn output_shape(&self) -> &[usize] {
        self.layers
            .last()
            .map(|l| l.output_shape.as_slice())
            .unwrap_or(&self.input_shape)
    }

    pub fn total_params(&self) -> usize {
        self.layers.iter().map(|l| l.params).sum()
    }

    pub fn total_mult_adds(&self) -> u64 {
        self.layers.iter().map(|l| l.mult_adds).sum()
    }
}

pub mod build;
pub mod layers;
pub mod names;
pub mod params;
pub mod shape;

pub use params::ParamLayout;

pub use build::{compile, load};
