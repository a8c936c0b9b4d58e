//! A trained network for inference: what the analysis commands use.

use std::cell::RefCell;
use std::path::Path;

use miette::{miette, Result};

use crate::ir::Model;
use crate::lower::{ForwardGraph, Weights};
use crate::train::checkpoint;

/// Examples per inference batch.
const BATCH: usize = 256;

/// A model with its weights; every query runs as a luminal inference graph in batches.
pub struct Network {
    pub model: Model,
    weights: RefCell<Weights>,
}

impl Network {
    pub fn new(model: Model, weights: Weights) -> Network {
        Network {
            model,
            weights: RefCell::new(weights),
        }
    }

    /// Loads `checkpoint` (a `final`/`best.safetensors`) for `model`.
    pub fn load(model: &Model, checkpoint: &Path) -> Result<Network> {
        let w = checkpoint::load_weights(checkpoint, model)?;
        Ok(Network::new(model.clone(), w))
    }

    pub fn weights(&self) -> Weights {
        self.weights.borrow().clone()
    }

    /// Runs layers `0..upto` on `n` examples; weights move into the graph and back.
    ///
    /// # Panics
    /// If `inputs` does not hold `n` examples of the model's input size (a caller bug).
    fn run(&self, upto: usize, inputs: &[f32], n: usize) -> Vec<f32> {
        let per: usize = self.model.input_shape.iter().product();
        assert_eq!(
            inputs.len(),
            n * per,
            "expected {n} examples of {per} values"
        );
        let mut g = ForwardGraph::build(&self.model, upto, false)
            .expect("the model was validated when it was trained");
        g.set_weights(self.weights.take());
        let out = g.run_all(inputs, n, BATCH);
        self.weights.replace(g.take_weights());
        out
    }

    /// Final outputs (after softmax/sigmoid), `n × output size`.
    pub fn predict(&self, inputs: &[f32], n: usize) -> Vec<f32> {
        self.run(self.model.layers.len(), inputs, n)
    }

    /// Codes of an autoencoder (output of `code_layer`), `n × code size`.
    /// A model without a code layer is an error.
    pub fn encode(&self, inputs: &[f32], n: usize) -> Result<Vec<f32>> {
        let c = self.model.code_layer.ok_or_else(|| {
            miette!(
                help = "mark the code layer in the spec",
                "model {} has no code layer",
                self.model.name
            )
        })?;
        Ok(self.run(c + 1, inputs, n))
    }

    /// Output of layer `layer_index` (e.g. feature maps), `n × that layer's size`.
    ///
    /// # Panics
    /// If `layer_index` is out of range.
    pub fn layer_output(&self, layer_index: usize, inputs: &[f32], n: usize) -> Vec<f32> {
        assert!(
            layer_index < self.model.layers.len(),
            "no layer {layer_index}"
        );
        self.run(layer_index + 1, inputs, n)
    }
}
