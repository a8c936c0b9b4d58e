//! Parameter counts of the specs against Keras's, derived by hand from
//! conv = (kh·kw·c_in + 1)·filters and dense = (inputs + 1)·units.

use archc::ir::{self, LayerKind};
use std::path::Path;

fn spec(name: &str) -> ir::Spec {
    ir::load(Path::new(&format!("specs/{name}.arch"))).expect("spec compiles")
}

fn params(m: &ir::Model) -> Vec<usize> {
    m.layers.iter().map(|l| l.params).collect()
}

fn json_total(name: &str) -> u64 {
    let j = archc::summary::json(&spec(name));
    let models = j["models"].as_array().expect("models array");
    assert_eq!(models.len(), 1);
    models[0]["total_params"].as_u64().expect("total")
}

#[test]
fn cifar_base_matches_keras() {
    let s = spec("cifar_base");
    // Keras model.summary() of the assignment's network with "same" padding.
    assert_eq!(params(&s.models[0]), vec![1792, 0, 36928, 0, 2097664, 5130]);
    assert_eq!(json_total("cifar_base"), 2_141_514);
    let shapes: Vec<Vec<usize>> = s.models[0]
        .layers
        .iter()
        .map(|l| l.output_shape.clone())
        .collect();
    assert_eq!(
        shapes,
        vec![
            vec![64, 32, 32],
            vec![64, 16, 16],
            vec![64, 16, 16],
            vec![64, 8, 8],
            vec![512],
            vec![10]
        ]
    );
}

#[test]
fn svhn_matches_keras() {
    let conv1 = (5 * 5 * 3 + 1) * 16;
    let conv2 = (7 * 7 * 16 + 1) * 512;
    let dense1 = (512 * 8 * 8 + 1) * 20;
    let dense2 = (20 + 1) * 10;
    assert_eq!(
        params(&spec("svhn").models[0]),
        vec![conv1, 0, conv2, 0, dense1, dense2]
    );
    assert_eq!(json_total("svhn"), 1_058_726);
}

#[test]
fn cifar_deep_by_hand() {
    let expected = vec![
        (3 * 3 * 3 + 1) * 64,
        (3 * 3 * 64 + 1) * 64,
        0,
        0,
        (3 * 3 * 64 + 1) * 128,
        (3 * 3 * 128 + 1) * 128,
        0,
        0,
        (128 * 8 * 8 + 1) * 512,
        (512 + 1) * 10,
    ];
    let total: usize = expected.iter().sum();
    assert_eq!(params(&spec("cifar_deep").models[0]), expected);
    assert_eq!(json_total("cifar_deep"), total as u64);
    assert_eq!(total, 4_460_106);
}

#[test]
fn cifar_strided_by_hand() {
    // The two poolings become 3×3 stride-2 convolutions: 32 → 16 → 8, like the pooling.
    let expected = vec![
        (3 * 3 * 3 + 1) * 64,
        (3 * 3 * 64 + 1) * 64,
        (3 * 3 * 64 + 1) * 64,
        0,
        (3 * 3 * 64 + 1) * 128,
        (3 * 3 * 128 + 1) * 128,
        (3 * 3 * 128 + 1) * 128,
        0,
        (128 * 8 * 8 + 1) * 512,
        (512 + 1) * 10,
    ];
    let m = &spec("cifar_strided").models[0];
    assert_eq!(params(m), expected);
    assert_eq!(m.layers[2].output_shape, vec![64, 16, 16]);
    assert_eq!(m.layers[6].output_shape, vec![128, 8, 8]);
    assert_eq!(
        json_total("cifar_strided"),
        expected.iter().sum::<usize>() as u64
    );
    assert_eq!(expected.iter().sum::<usize>(), 4_644_618);
}

#[test]
fn mnist_mlp_by_hand() {
    assert_eq!(
        params(&spec("mnist_mlp").models[0]),
        vec![785 * 1000, 1001 * 1000, 1001 * 10]
    );
    assert_eq!(json_total("mnist_mlp"), 1_796_010);
}

#[test]
fn basic_autoencoder_sweep() {
    let s = spec("mnist_ae_basic");
    let ds: Vec<usize> = vec![2, 4, 8, 16, 32, 64];
    assert_eq!(s.models.len(), ds.len());
    for (m, d) in s.models.iter().zip(ds) {
        assert_eq!(m.name, format!("mnist_ae_basic[d'={d}]"));
        assert_eq!(params(m), vec![(784 + 1) * d, (d + 1) * 784]);
        assert_eq!(m.code_layer, Some(0));
        assert_eq!(m.output_shape(), &[784]);
        assert_eq!(m.train.target, ir::Target::Input);
        assert_eq!(m.train.loss, ir::Loss::BinaryCrossEntropy);
    }
}

#[test]
fn deep_autoencoder_is_mirrored() {
    let s = spec("mnist_ae_deep");
    let m = &s.models[0];
    assert_eq!(m.name, "mnist_ae_deep");
    let widths: Vec<usize> = m
        .layers
        .iter()
        .map(|l| match l.kind {
            LayerKind::Dense { units, .. } => units,
            _ => panic!("dense only"),
        })
        .collect();
    assert_eq!(widths, vec![1000, 500, 250, 2, 250, 500, 1000, 784]);
    assert_eq!(m.code_layer, Some(3));
    let enc = 785 * 1000 + 1001 * 500 + 501 * 250 + 251 * 2;
    let dec = 3 * 250 + 251 * 500 + 501 * 1000 + 1001 * 784;
    assert_eq!(m.total_params(), enc + dec);
    match m.layers.last().expect("layers").kind {
        LayerKind::Dense { activation, .. } => assert_eq!(activation, ir::Activation::Sigmoid),
        _ => unreachable!(),
    }
}

#[test]
fn deep_sweep_grid() {
    let s = spec("mnist_ae_deep_sweep");
    assert_eq!(s.models.len(), 3 * 5);
    let m = s
        .models
        .iter()
        .find(|m| m.name == "mnist_ae_deep_sweep[L=3,d'=8]")
        .expect("grid point");
    assert_eq!(m.layers.len(), 8);
    assert_eq!(m.layers[3].output_shape, vec![8]);
    assert_eq!(
        m.sweep_point,
        vec![
            ("L".to_string(), "3".to_string()),
            ("d'".into(), "8".into())
        ]
    );
}

#[test]
fn conv_autoencoder_by_hand() {
    let m = &spec("mnist_ae_conv").models[0];
    let expected = vec![
        (3 * 3 + 1) * 16,
        0,
        (3 * 3 * 16 + 1) * 8,
        0,
        (3 * 3 * 8 + 1) * 8,
        0,
        (3 * 3 * 8 + 1) * 16,
        0,
        (3 * 3 * 16 + 1),
    ];
    assert_eq!(params(m), expected);
    assert_eq!(m.code_layer, Some(3));
    assert_eq!(m.layers[3].output_shape, vec![8, 7, 7]);
    assert_eq!(m.output_shape(), &[1, 28, 28]);
}

#[test]
fn svhn_improved_counts_batchnorm_trainables() {
    let m = &spec("svhn_improved").models[0];
    let bn: Vec<usize> = m
        .layers
        .iter()
        .filter(|l| matches!(l.kind, LayerKind::BatchNorm { .. }))
        .map(|l| l.params)
        .collect();
    // Scale and shift per channel: 2·32, 2·32, 2·64, 2·64.
    assert_eq!(bn, vec![64, 64, 128, 128]);
}

#[test]
fn mult_adds_by_hand() {
    let m = &spec("cifar_base").models[0];
    let ma: Vec<u64> = m.layers.iter().map(|l| l.mult_adds).collect();
    assert_eq!(
        ma,
        vec![
            3 * 3 * 3 * 64 * 32 * 32,
            0,
            3 * 3 * 64 * 64 * 16 * 16,
            0,
            64 * 8 * 8 * 512,
            512 * 10
        ]
    );
}

#[test]
fn json_has_the_agreed_shape() {
    let j = archc::summary::json(&spec("mnist_ae_basic"));
    let models = j["models"].as_array().expect("models");
    assert_eq!(models.len(), 6);
    for m in models {
        let keys: Vec<&String> = m.as_object().expect("object").keys().collect();
        assert_eq!(
            keys,
            vec!["layers", "name", "total_params", "training_memory"]
        );
        let sum: u64 = m["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| {
                assert!(l["layer"].is_string());
                assert!(l["output_shape"].is_array());
                l["params"].as_u64().expect("params")
            })
            .sum();
        assert_eq!(sum, m["total_params"].as_u64().expect("total"));
    }
}

#[test]
fn same_padding_rule() {
    use archc::ir::shape::same_padding;
    // Keras total = max((ceil(in/s) - 1)·s + k - in, 0), split evenly when it is even.
    assert_eq!(same_padding(32, 3, 1), Some(1)); // total 2
    assert_eq!(same_padding(32, 5, 1), Some(2)); // total 4
    assert_eq!(same_padding(32, 2, 2), Some(0)); // total 0: pooling-like
    assert_eq!(same_padding(32, 4, 2), Some(1)); // total 2
                                                 // total 1 (odd) with an odd kernel: (k-1)/2 still gives ceil(in/s) outputs.
    assert_eq!(same_padding(32, 3, 2), Some(1));
    // total odd with an even kernel: no symmetric padding exists.
    assert_eq!(same_padding(32, 4, 1), None); // total 3
    assert_eq!(same_padding(31, 2, 2), None); // total 1
}
