//! The notation's features, each checked on the IR it produces.

use archc::ir::{self, Activation, LayerKind, Noise, Optimizer, PoolKind, Schedule};

const TRAIN: &str = "train {\n  dataset cifar10\n}\n";

fn compile(src: &str) -> ir::Spec {
    ir::compile("t", src).unwrap_or_else(|e| panic!("{e:?}"))
}

fn one(net: &str) -> ir::Model {
    compile(&format!("{net}\n{TRAIN}")).models.remove(0)
}

/// Layers without their spans (which differ between equivalent spellings).
fn plain(m: &ir::Model) -> Vec<(LayerKind, Vec<usize>, usize, String)> {
    m.layers
        .iter()
        .map(|l| (l.kind, l.output_shape.clone(), l.params, l.notation.clone()))
        .collect()
}

fn letters(m: &ir::Model) -> String {
    m.layers
        .iter()
        .map(|l| l.notation.chars().next().expect("notation"))
        .collect()
}

#[test]
fn assignment_form_parses_with_unicode_and_ascii_times() {
    let a = one("defaults C[3x3 same relu] F[relu]\nnet = C64×P×C64×P×F512×F10[softmax]");
    let b = one("defaults C[3x3 same relu] F[relu]\nnet = C64xPxC64xPxF512xF10[softmax]");
    let c = one("defaults C[3x3 same relu] F[relu]\nnet = C64 * P * C64 * P * F512 * F10[softmax]");
    // Bare letters, with filter and unit counts from the defaults.
    let d = one("defaults C[3x3 same relu filters=64] F[relu units=512]\nnet = C×P×C×P×F×F[units=10 softmax]");
    assert_eq!(plain(&a), plain(&b));
    assert_eq!(plain(&a), plain(&c));
    assert_eq!(plain(&a), plain(&d));
    assert_eq!(letters(&a), "CPCPFF");
    assert_eq!(a.total_params(), 2_141_514);
    // Without counts the bare form parses but is incomplete.
    let err = ir::compile("t", &format!("net = C×P×C×P×F×F\n{TRAIN}")).expect_err("no counts");
    assert_eq!(
        err.code().map(|c| c.to_string()).as_deref(),
        Some("archc::missing_annotation")
    );
}

#[test]
fn repetition_prefix_and_power_agree() {
    let a = one("defaults C[3x3 same relu]\nnet = (C32 × C32 × P)^2 × F10[softmax]");
    let b = one("defaults C[3x3 same relu]\nnet = 2×(C32 × C32 × P) × F10[softmax]");
    let c = one("defaults C[3x3 same relu]\nnet = C32 × C32 × P × C32 × C32 × P × F10[softmax]");
    assert_eq!(plain(&a), plain(&b));
    assert_eq!(plain(&a), plain(&c));
    assert_eq!(letters(&a), "CCPCCPF");
    assert_eq!(a.layers[5].output_shape, vec![32, 8, 8]);
}

#[test]
fn conv_annotations() {
    let m = one(
        "net = C8@5x3/2[pad=1 tanh he_normal wd=1e-4 dropout=0.5] as first × P3[avg stride=1] × F10[softmax init=he_uniform]",
    );
    match m.layers[0].kind {
        LayerKind::Conv {
            filters,
            kernel,
            stride,
            padding,
            activation,
            init,
            weight_decay,
        } => {
            assert_eq!(
                (filters, kernel, stride, padding),
                (8, [5, 3], [2, 2], [1, 1])
            );
            assert_eq!(activation, Activation::Tanh);
            assert_eq!(init, ir::Init::HeNormal);
            assert!((weight_decay - 1e-4).abs() < 1e-12);
        }
        _ => panic!("conv expected"),
    }
    // floor((32 + 2 - 5)/2) + 1 = 15 rows, floor((32 + 2 - 3)/2) + 1 = 16 columns.
    assert_eq!(m.layers[0].output_shape, vec![8, 15, 16]);
    assert_eq!(m.layers[0].label.as_deref(), Some("first"));
    assert_eq!(m.layers[1].kind, LayerKind::Dropout { rate: 0.5 });
    match m.layers[2].kind {
        LayerKind::Pool {
            kind, size, stride, ..
        } => {
            assert_eq!((kind, size, stride), (PoolKind::Avg, [3, 3], [1, 1]))
        }
        _ => panic!("pool expected"),
    }
    assert_eq!(m.layers[2].output_shape, vec![8, 13, 14]);
}

#[test]
fn same_padding_with_stride_matches_keras_output_size() {
    // Keras: out = ceil(in / stride) for "same".
    for (k, s, expect) in [(3, 2, 16), (5, 2, 16), (3, 3, 11), (7, 1, 32)] {
        let m = one(&format!("net = C4@{k}/{s}[same] × F10[softmax]"));
        assert_eq!(
            m.layers[0].output_shape,
            vec![4, expect, expect],
            "k={k} s={s}"
        );
    }
}

#[test]
fn other_layer_kinds() {
    let m = compile(
        "input 1x28x28\nnet = N[gaussian sigma=0.2 clip] × C4@3[same relu] × B[momentum=0.9 eps=1e-5] × P2 × U2 × A[tanh] × D0.1 × F784[sigmoid] as code × N[mask keep=0.5] × F784[sigmoid]\ntrain {\n  dataset mnist\n  target input\n}\n",
    )
    .models
    .remove(0);
    assert_eq!(letters(&m), "NCBPUADFNF");
    assert_eq!(
        m.layers[0].kind,
        LayerKind::Noise(Noise::Gaussian {
            sigma: 0.2,
            clip: true
        })
    );
    assert_eq!(
        m.layers[2].kind,
        LayerKind::BatchNorm {
            momentum: 0.9,
            epsilon: 1e-5
        }
    );
    assert_eq!(m.layers[2].params, 2 * 4);
    assert_eq!(m.layers[4].output_shape, vec![4, 28, 28]);
    assert_eq!(m.layers[5].kind, LayerKind::Activation(Activation::Tanh));
    assert_eq!(
        m.layers[8].kind,
        LayerKind::Noise(Noise::Mask { keep: 0.5 })
    );
    assert_eq!(m.code_layer, Some(7));
    assert_eq!(m.train.loss, ir::Loss::BinaryCrossEntropy);
}

#[test]
fn sweeps_expand_to_grids_tuples_and_fragments() {
    let s = compile(&format!(
        "sweep k in {{3, 5}}\nsweep (a, b) ∈ {{(8, 16), (16, 32)}}\nsweep tail in {{small: F16[relu], big: F64[relu] × F32[relu]}}\n\
         net = C$a@$k[same relu] × C$b@$k[same relu] × P2 × $tail × F10[softmax]\n{TRAIN}"
    ));
    assert_eq!(s.models.len(), 2 * 2 * 2);
    let names: Vec<&str> = s.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names[0], "t[k=3,a=8,b=16,tail=small]");
    assert_eq!(names[7], "t[k=5,a=16,b=32,tail=big]");
    let m = &s.models[7];
    assert_eq!(m.layers[0].params, (5 * 5 * 3 + 1) * 16);
    assert_eq!(m.layers[1].params, (5 * 5 * 16 + 1) * 32);
    assert_eq!(letters(m), "CCPFFF");
    assert_eq!(letters(&s.models[0]), "CCPFF");
}

#[test]
fn training_section_and_defaults() {
    let m = one("net = F10[softmax]");
    assert_eq!(m.train.dataset, ir::DatasetName::Cifar10);
    assert_eq!(
        m.train.split,
        ir::Split {
            train: 45000,
            validation: 5000
        }
    );
    assert_eq!(m.train.target, ir::Target::Labels);
    assert_eq!(m.train.loss, ir::Loss::CrossEntropy);
    assert_eq!(m.input_shape, vec![3, 32, 32]);
    let t = compile(
        "net = F10[softmax]\ntrain {\n  dataset svhn\n  optimizer rmsprop decay=1e-6\n  schedule step\n  augment shift=0.1 hflip vflip rotate=10\n  epochs 3; batch 7; seed 9\n}\n",
    )
    .models
    .remove(0)
    .train;
    assert_eq!(
        t.split,
        ir::Split {
            train: 68257,
            validation: 5000
        }
    );
    assert_eq!(
        t.optimizer,
        Optimizer::RmsProp {
            lr: 1e-3,
            rho: 0.9,
            epsilon: 1e-7,
            decay: 1e-6
        }
    );
    assert_eq!(
        t.schedule,
        Schedule::Step {
            factor: 0.5,
            every: 10,
            floor: 1e-5
        }
    );
    assert_eq!(
        t.augment,
        Some(ir::Augment {
            shift: 0.1,
            hflip: true,
            vflip: true,
            rotate: 10.0
        })
    );
    assert_eq!((t.epochs, t.batch, t.seed), (3, 7, 9));
    for (line, opt) in [
        (
            "adam",
            Optimizer::Adam {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-7,
            },
        ),
        (
            "adagrad lr=0.01",
            Optimizer::Adagrad {
                lr: 0.01,
                epsilon: 1e-7,
            },
        ),
        (
            "adadelta",
            Optimizer::Adadelta {
                lr: 1.0,
                rho: 0.95,
                epsilon: 1e-7,
            },
        ),
        (
            "sgd lr=0.1 momentum=0.9 nesterov",
            Optimizer::Sgd {
                lr: 0.1,
                momentum: 0.9,
                nesterov: true,
            },
        ),
    ] {
        let t = compile(&format!(
            "net = F10[softmax]\ntrain {{\n  dataset mnist\n  optimizer {line}\n}}\n"
        ))
        .models
        .remove(0)
        .train;
        assert_eq!(t.optimizer, opt, "{line}");
        assert_eq!(
            t.split,
            ir::Split {
                train: 55000,
                validation: 5000
            }
        );
    }
}

#[test]
fn pretraining_and_noise_entries() {
    let t = compile(
        "net = F100[sigmoid] × F10[softmax]\ntrain {\n  dataset mnist\n  pretrain epochs=3 loss=mse noise=gaussian sigma=0.5\n  schedule cosine min=1e-4\n}\n",
    )
    .models
    .remove(0)
    .train;
    assert_eq!(
        t.pretrain,
        Some(ir::Pretrain {
            epochs: 3,
            noise: Some(Noise::Gaussian {
                sigma: 0.5,
                clip: false
            }),
            loss: ir::Loss::MeanSquaredError
        })
    );
    assert_eq!(t.schedule, Schedule::Cosine { min: 1e-4 });
    let masked = ir::load(std::path::Path::new("specs/mnist_dae_mask.arch")).expect("spec");
    let keeps: Vec<Option<Noise>> = masked.models.iter().map(|m| m.train.noise).collect();
    assert_eq!(
        keeps,
        [0.9, 0.75, 0.5, 0.25]
            .map(|keep| Some(Noise::Mask { keep }))
            .to_vec()
    );
}

#[test]
fn comments_and_line_continuations() {
    let m = one("# a comment\nnet = C8@3 // trailing\n  × P2\n  × F10[softmax]  # end");
    assert_eq!(letters(&m), "CPF");
}
