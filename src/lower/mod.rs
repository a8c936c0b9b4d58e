//! IR → luminal graphs, by phase.
//!
//! A [`TrainGraph`] holds forward pass, loss, generated backward pass and optimizer
//! update as nodes of one luminal `Graph`; `step` runs it once per batch. Parameters
//! (one flat `[w; b]` vector per layer), BatchNorm running statistics and optimizer
//! slots are kept graph inputs: after each `execute()` the nodes computing their next
//! values are moved back into those inputs, and every other retrieved output is taken
//! out of the graph so the next step recomputes it (`execute()` skips nodes whose
//! output is already stored).
//!
//! A [`ForwardGraph`] is an inference graph up to some layer (whole network, encoder,
//! feature maps). Graphs share parameters by moving the [`Weights`] between them.
//!
//! The phases, one file each: `graph` (plumbing), `weights` (storage and
//! initialisation from each layer's parameter layout), `forward` (one match over layer
//! kinds: which op implements each layer), `loss` (loss, penalty), `backward` (one
//! match), `optim` (the optimizer protocol). `ops` holds the operators and how they
//! run (CPU kernels); `passes` rewrites the plain graph into fused ops.

mod backward;
pub mod buffers;
pub mod forward;
mod graph;
mod loss;
pub mod ops;
pub mod optim;
pub mod passes;
mod weights;

use luminal::prelude::{Graph, NodeIndex, Tensor};
use miette::Result;

use crate::ir::{Model, Optimizer};
use forward::{forward, Mode};
use graph::{load, set_weights, take, take_weights, tune_allocator};

pub use forward::gemm_ops;
pub use optim::init_slots;
pub use weights::{param_split, Slots, Weights};

/// Forward + loss + backward (+ optimizer update) for one model.
pub struct TrainGraph {
    pub cx: Box<Graph>,
    pub input: NodeIndex,
    /// Labels as f32 (cross-entropy) or target values (BCE, MSE).
    pub target: NodeIndex,
    /// `[lr, iteration]`, see `ops::HYPER_*`.
    pub hyper: NodeIndex,
    pub params: Vec<Option<NodeIndex>>,
    pub running: Vec<Option<NodeIndex>>,
    pub slots: Vec<Vec<NodeIndex>>,
    /// Loss including the L2 penalty.
    pub loss: NodeIndex,
    /// Network output before the fused activation (logits), or the output for MSE.
    pub output: NodeIndex,
    /// ∂loss/∂params per layer (kept only without an optimizer, for gradient checks).
    pub grads: Vec<Option<NodeIndex>>,
    /// ∂loss/∂input (only without an optimizer).
    pub input_grad: Option<NodeIndex>,
    /// (graph input, node computing its next value), moved back after each step.
    carry: Vec<(NodeIndex, NodeIndex)>,
    /// Nodes whose outputs are read after each step.
    kept: Vec<NodeIndex>,
    pub output_size: usize,
}

/// Everything one training step reports.
pub struct StepOut {
    pub loss: f32,
    pub output: Vec<f32>,
}

impl TrainGraph {
    /// Builds the training graph and compiles it with [`passes::Optimise`]. Without
    /// `optimizer` it computes gradients only (kept for inspection): that is how the
    /// gradient checks drive it.
    pub fn build(model: &Model, optimizer: Option<&Optimizer>) -> Result<TrainGraph> {
        Self::build_with(model, optimizer, true)
    }

    /// The plain lowering, without the fusing passes (the reference the passes must match).
    pub fn build_plain(model: &Model, optimizer: Option<&Optimizer>) -> Result<TrainGraph> {
        Self::build_with(model, optimizer, false)
    }

    fn build_with(
        model: &Model,
        optimizer: Option<&Optimizer>,
        optimise: bool,
    ) -> Result<TrainGraph> {
        let fused = loss::fused_activation(model)?;
        tune_allocator();
        let mut cx = Box::new(Graph::new());
        let hyper = load(&mut cx, "hyper");
        let target = load(&mut cx, "target");
        let n_layers = model.layers.len();
        let f = forward(&mut cx, model, n_layers, Mode::Train { hyper }, false)?;
        let output_size: usize = model.output_shape().iter().product();
        let l = loss::wire(&mut cx, model, &f, fused, target);
        let (loss, output) = (l.loss, l.output);
        let want_input_grad = optimizer.is_none();
        let (mut grads, input_grad) =
            backward::backward(&mut cx, model, &f, l.grad, want_input_grad)?;
        loss::decay_grads(&mut cx, model, &f, &mut grads);

        let mut kept = vec![loss, output];
        let mut carry = forward::running_updates(&mut cx, model, &f);
        let mut slots = vec![Vec::new(); n_layers];
        match optimizer {
            None => kept.extend(grads.iter().flatten().copied().chain(input_grad)),
            Some(opt) => {
                for i in 0..n_layers {
                    let (Some(p), Some(g)) = (f.params[i], grads[i]) else {
                        continue;
                    };
                    let (s, next) = optim::wire_layer(&mut cx, opt, i, p, g, hyper);
                    carry.extend(next);
                    slots[i] = s;
                }
            }
        }
        for &(a, b) in &carry {
            cx.no_delete.insert(a);
            kept.push(b);
        }
        for p in f.params.iter().flatten() {
            cx.no_delete.insert(*p);
        }
        for &k in &kept {
            cx.no_delete.insert(k);
        }
        if optimise {
            cx.compile(<passes::Optimise>::default(), ());
        }
        Ok(TrainGraph {
            cx,
            input: f.input,
            target,
            hyper,
            params: f.params,
            running: f.running,
            slots,
            loss,
            output,
            grads,
            input_grad,
            carry,
            kept,
            output_size,
        })
    }

    /// Moves weights (and optimizer slots) into the graph.
    pub fn set_weights(&mut self, w: Weights, slots: Option<Slots>) {
        set_weights(&mut self.cx, &self.params, &self.running, w);
        if let Some(slots) = slots {
            for (ids, vals) in self.slots.iter().zip(slots) {
                for (&id, v) in ids.iter().zip(vals) {
                    self.cx.set_tensor(id, 0, Tensor::new(v));
                }
            }
        }
    }

    /// Moves weights and optimizer slots out of the graph.
    pub fn take_weights(&mut self) -> (Weights, Slots) {
        let w = take_weights(&mut self.cx, &self.params, &self.running);
        let slots = self
            .slots
            .iter()
            .map(|ids| ids.iter().map(|&id| take(&mut self.cx, id)).collect())
            .collect();
        (w, slots)
    }

    /// Runs one step on a batch: forward, loss, backward and (if built with one) the
    /// optimizer update, whose results replace the weights.
    pub fn step(&mut self, input: Vec<f32>, target: Vec<f32>, lr: f32, iteration: u64) -> StepOut {
        let mut hyper = vec![0.0; ops::HYPER_LEN];
        hyper[ops::HYPER_LR] = lr;
        hyper[ops::HYPER_ITER] = iteration as f32;
        self.cx.set_tensor(self.input, 0, Tensor::new(input));
        self.cx.set_tensor(self.target, 0, Tensor::new(target));
        self.cx.set_tensor(self.hyper, 0, Tensor::new(hyper));
        crate::kernels::with_warm_pool(|| self.cx.execute());
        for &(dst, src) in &self.carry {
            let t = self.cx.get_tensor(src, 0).expect("update was computed");
            self.cx.set_tensor(dst, 0, t);
        }
        let loss = take(&mut self.cx, self.loss)[0];
        let output = take(&mut self.cx, self.output);
        StepOut { loss, output }
    }

    /// After a gradient-only step: takes ∂loss/∂params per layer and ∂loss/∂input.
    pub fn take_grads(&mut self) -> (Vec<Option<Vec<f32>>>, Option<Vec<f32>>) {
        let grads = self
            .grads
            .clone()
            .iter()
            .map(|g| g.map(|id| take(&mut self.cx, id)))
            .collect();
        let dx = self.input_grad.map(|id| take(&mut self.cx, id));
        (grads, dx)
    }

    /// Drops any outputs left in the graph (e.g. unread gradients).
    pub fn clear_outputs(&mut self) {
        let carried: Vec<NodeIndex> = self.carry.iter().map(|c| c.1).collect();
        for &k in self.kept.iter().filter(|k| !carried.contains(k)) {
            self.cx.get_tensor(k, 0);
        }
    }
}

/// Inference up to (excluding) layer `upto`: dropout off, BatchNorm on running stats.
pub struct ForwardGraph {
    pub cx: Box<Graph>,
    pub input: NodeIndex,
    pub params: Vec<Option<NodeIndex>>,
    pub running: Vec<Option<NodeIndex>>,
    pub output: NodeIndex,
    /// Floats per example of the output.
    pub output_size: usize,
    /// Number of layers this graph covers; weights beyond are kept aside.
    upto: usize,
    aside: Weights,
}

impl ForwardGraph {
    /// `logits`: leave the last layer's softmax/sigmoid off (as the loss sees it).
    pub fn build(model: &Model, upto: usize, logits: bool) -> Result<ForwardGraph> {
        tune_allocator();
        let mut cx = Box::new(Graph::new());
        let f = forward(&mut cx, model, upto, Mode::Eval, logits)?;
        let output = *f.outputs.last().unwrap_or(&f.input);
        cx.no_delete.insert(output);
        for id in f.params.iter().chain(&f.running).flatten() {
            cx.no_delete.insert(*id);
        }
        cx.compile(passes::FuseActivation, ());
        let output_size = if upto == 0 {
            model.input_shape.iter().product()
        } else {
            model.layers[upto - 1].output_shape.iter().product()
        };
        Ok(ForwardGraph {
            cx,
            input: f.input,
            params: f.params,
            running: f.running,
            output,
            output_size,
            upto,
            aside: Weights::default(),
        })
    }

    pub fn set_weights(&mut self, mut w: Weights) {
        self.aside = Weights {
            params: w.params.split_off(self.upto),
            running: w.running.split_off(self.upto),
        };
        set_weights(&mut self.cx, &self.params, &self.running, w);
    }

    pub fn take_weights(&mut self) -> Weights {
        let mut w = take_weights(&mut self.cx, &self.params, &self.running);
        let aside = std::mem::take(&mut self.aside);
        w.params.extend(aside.params);
        w.running.extend(aside.running);
        w
    }

    /// Runs the graph on one batch.
    pub fn run(&mut self, input: Vec<f32>) -> Vec<f32> {
        self.cx.set_tensor(self.input, 0, Tensor::new(input));
        crate::kernels::with_warm_pool(|| self.cx.execute());
        take(&mut self.cx, self.output)
    }

    /// Runs `n` examples in batches of `batch`, concatenating the outputs.
    pub fn run_all(&mut self, inputs: &[f32], n: usize, batch: usize) -> Vec<f32> {
        let per = inputs.len() / n.max(1);
        let mut outs = Vec::with_capacity(n * self.output_size);
        for start in (0..n).step_by(batch.max(1)) {
            let end = (start + batch).min(n);
            outs.extend(self.run(inputs[start * per..end * per].to_vec()));
        }
        outs
    }
}
