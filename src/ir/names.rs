//! The written names of the IR's choices, one table each: the spec builder, the CLI and
//! the data layer parse and print through these tables, so a new activation, loss or
//! dataset is named in one place. The first entry for a value is its canonical name.

use super::{Activation, DatasetName, Init, Loss, Optimizer, PoolKind, Target};

/// `(name, value)` pairs; aliases follow the canonical name.
pub type Table<T> = &'static [(&'static str, T)];

pub const ACTIVATIONS: Table<Activation> = &[
    ("linear", Activation::Linear),
    ("relu", Activation::Relu),
    ("sigmoid", Activation::Sigmoid),
    ("tanh", Activation::Tanh),
    ("softmax", Activation::Softmax),
];

pub const INITS: Table<Init> = &[
    ("glorot_uniform", Init::GlorotUniform),
    ("he_normal", Init::HeNormal),
    ("he_uniform", Init::HeUniform),
];

pub const LOSSES: Table<Loss> = &[
    ("cross_entropy", Loss::CrossEntropy),
    ("binary_cross_entropy", Loss::BinaryCrossEntropy),
    ("bce", Loss::BinaryCrossEntropy),
    ("mse", Loss::MeanSquaredError),
    ("categorical_cross_entropy", Loss::CrossEntropy),
    ("mean_squared_error", Loss::MeanSquaredError),
];

pub const DATASETS: Table<DatasetName> = &[
    ("mnist", DatasetName::Mnist),
    ("cifar10", DatasetName::Cifar10),
    ("svhn", DatasetName::Svhn),
];

pub const POOLS: Table<PoolKind> = &[("max", PoolKind::Max), ("avg", PoolKind::Avg)];

pub const TARGETS: Table<Target> = &[("labels", Target::Labels), ("input", Target::Input)];

/// Optimizer names, in the order of [`optimizer_name`]'s match.
pub const OPTIMIZERS: &[&str] = &["sgd", "rmsprop", "adagrad", "adadelta", "adam"];

pub const SCHEDULES: &[&str] = &["constant", "step", "cosine"];

pub const NOISES: &[&str] = &["mask", "gaussian"];

/// The value written as `name`.
pub fn lookup<T: Copy>(table: Table<T>, name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// The canonical name of `value`.
pub fn name_of<T: PartialEq>(table: Table<T>, value: T) -> &'static str {
    table
        .iter()
        .find(|(_, v)| *v == value)
        .map(|&(n, _)| n)
        .expect("every value has a name in its table")
}

/// Every name of a table, aliases included (for "valid names" help).
pub fn all<T>(table: Table<T>) -> Vec<&'static str> {
    table.iter().map(|&(n, _)| n).collect()
}

pub fn activation(name: &str) -> Option<Activation> {
    lookup(ACTIVATIONS, name)
}

pub fn activation_name(a: Activation) -> &'static str {
    name_of(ACTIVATIONS, a)
}

pub fn init(name: &str) -> Option<Init> {
    lookup(INITS, name)
}

pub fn init_name(i: Init) -> &'static str {
    name_of(INITS, i)
}

pub fn loss(name: &str) -> Option<Loss> {
    lookup(LOSSES, name)
}

pub fn loss_name(l: Loss) -> &'static str {
    name_of(LOSSES, l)
}

pub fn dataset(name: &str) -> Option<DatasetName> {
    lookup(DATASETS, name)
}

pub fn dataset_name(d: DatasetName) -> &'static str {
    name_of(DATASETS, d)
}

pub fn pool_name(p: PoolKind) -> &'static str {
    name_of(POOLS, p)
}

pub fn optimizer_name(o: &Optimizer) -> &'static str {
    OPTIMIZERS[match o {
        Optimizer::Sgd { .. } => 0,
        Optimizer::RmsProp { .. } => 1,
        Optimizer::Adagrad { .. } => 2,
        Optimizer::Adadelta { .. } => 3,
        Optimizer::Adam { .. } => 4,
    }]
}

impl DatasetName {
    /// Examples in the dataset's training file (train + validation come from it).
    pub fn training_file_len(self) -> usize {
        match self {
            DatasetName::Mnist => 60000,
            DatasetName::Cifar10 => 50000,
            DatasetName::Svhn => 73257,
        }
    }

    /// One example as an image `[C, H, W]`.
    pub fn image_shape(self) -> [usize; 3] {
        match self {
            DatasetName::Mnist => [1, 28, 28],
            DatasetName::Cifar10 | DatasetName::Svhn => [3, 32, 32],
        }
    }

    /// The input a spec gets when it declares none: MNIST flat (784), the colour sets as images.
    pub fn default_input(self) -> Vec<usize> {
        match self {
            DatasetName::Mnist => vec![784],
            DatasetName::Cifar10 | DatasetName::Svhn => self.image_shape().to_vec(),
        }
    }

    /// Number of classes (all three sets have ten).
    pub fn classes(self) -> usize {
        10
    }
}
