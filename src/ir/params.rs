//! The parameter layout of one layer: its named pieces with shapes and offsets, how each
//! starts, and which are decayed. Initialisation (`lower::Weights::init`), checkpoint
//! names (`train::checkpoint`), weight decay (loss penalty and gradient) and optimizer
//! slots all read this one description.

use super::Init;

/// Which of a layer's two vectors a piece lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// The trainable vector (optimizer slots have its length).
    Params,
    /// Statistics that follow the training batches but get no gradient (BatchNorm).
    Running,
}

/// How a piece starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fill {
    /// Random per the layer's initialiser, with the fans it scales by.
    Draw {
        init: Init,
        fan_in: usize,
        fan_out: usize,
    },
    Const(f32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// Checkpoint name within the layer: `weight`, `bias`, `gamma`, `running_mean`, …
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub store: Store,
    /// Start within its store's vector.
    pub offset: usize,
    pub fill: Fill,
    /// Whether the layer's L2 weight decay applies to it.
    pub decayed: bool,
}

impl Piece {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// All pieces of one layer, in storage order; empty for layers without parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamLayout {
    pub pieces: Vec<Piece>,
    /// λ of the L2 penalty λ·Σw² over the decayed pieces (0 when none).
    pub weight_decay: f32,
}

impl ParamLayout {
    /// Appends a piece after the others of its store.
    pub fn piece(
        mut self,
        name: &'static str,
        shape: Vec<usize>,
        store: Store,
        fill: Fill,
        decayed: bool,
    ) -> Self {
        let offset = self.len(store);
        self.pieces.push(Piece {
            name,
            shape,
            store,
            offset,
            fill,
            decayed,
        });
        self
    }

    pub fn with_weight_decay(mut self, lambda: f32) -> Self {
        self.weight_decay = lambda;
        self
    }

    /// Length of one store's vector.
    pub fn len(&self, store: Store) -> usize {
        self.pieces
            .iter()
            .filter(|p| p.store == store)
            .map(Piece::len)
            .sum()
    }

    pub fn params_len(&self) -> usize {
        self.len(Store::Params)
    }

    pub fn running_len(&self) -> usize {
        self.len(Store::Running)
    }

    /// Whether the layer has trainable parameters.
    pub fn has_params(&self) -> bool {
        self.params_len() > 0
    }

    /// `(λ, n)`: the penalty applies to the first `n` trainable entries. The decayed
    /// pieces lead the trainable vector, so the decay kernels take one prefix.
    pub fn decay(&self) -> Option<(f32, usize)> {
        let mut n = 0;
        for p in self.pieces.iter().filter(|p| p.store == Store::Params) {
            if !p.decayed {
                break;
            }
            debug_assert_eq!(p.offset, n, "decayed pieces lead the parameters");
            n += p.len();
        }
        (self.weight_decay > 0.0 && n > 0).then_some((self.weight_decay, n))
    }

    /// `(first piece, the rest)` of the trainable vector: weights and biases, or γ and β.
    pub fn split(&self) -> Option<(usize, usize)> {
        let first = self.pieces.iter().find(|p| p.store == Store::Params)?;
        Some((first.len(), self.params_len() - first.len()))
    }
}
