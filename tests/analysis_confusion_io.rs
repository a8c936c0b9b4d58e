//! Confusion matrices against counted predictions; readers against files written here.

use std::collections::HashMap;

use archc::analysis::{confusion, io};
use rand::{Rng, SeedableRng};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

#[test]
fn confusion_matches_counts() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let classes: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let labels: Vec<u8> = (0..1000).map(|_| rng.gen_range(0..4)).collect();
    let preds: Vec<u8> = labels
        .iter()
        .map(|&l| {
            if rng.gen_bool(0.7) {
                l
            } else {
                rng.gen_range(0..4)
            }
        })
        .collect();
    let c = confusion::confusion(&classes, &labels, &preds).unwrap();
    let mut counted: HashMap<(u8, u8), u64> = HashMap::new();
    for (&l, &p) in labels.iter().zip(&preds) {
        *counted.entry((l, p)).or_default() += 1;
    }
    for t in 0..4u8 {
        for p in 0..4u8 {
            assert_eq!(
                c.counts[t as usize][p as usize],
                *counted.get(&(t, p)).unwrap_or(&0)
            );
        }
    }
    let wrong = labels.iter().zip(&preds).filter(|(l, p)| l != p).count();
    assert!((c.error_rate() - wrong as f64 / 1000.0).abs() < 1e-12);
    let pairs = c.most_confused(100);
    let off: Vec<_> = counted.iter().filter(|((t, p), _)| t != p).collect();
    assert_eq!(pairs.len(), off.len());
    let top = off.iter().map(|(_, &v)| v).max().unwrap();
    assert_eq!(pairs[0].count, top);
    assert!(pairs.windows(2).all(|w| w[0].count >= w[1].count));
    let class_total = labels
        .iter()
        .filter(|&&l| l as usize == pairs[0].true_class)
        .count();
    assert!((pairs[0].rate - pairs[0].count as f64 / class_total as f64).abs() < 1e-12);
    assert!(confusion::confusion(&classes, &[0, 9], &[0, 1]).is_err());
    assert!(confusion::confusion(&classes, &[0], &[0, 1]).is_err());
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn reads_codes_reconstructions_checkpoints_predictions_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let codes: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
    let cb = f32_bytes(&codes);
    let labels = vec![1u8, 2, 3, 4];
    let mut tensors = vec![
        (
            "train.codes",
            TensorView::new(Dtype::F32, vec![4, 3], &cb).unwrap(),
        ),
        (
            "train.labels",
            TensorView::new(Dtype::U8, vec![4], &labels).unwrap(),
        ),
        (
            "test.codes",
            TensorView::new(Dtype::F32, vec![4, 3], &cb).unwrap(),
        ),
        (
            "test.labels",
            TensorView::new(Dtype::U8, vec![4], &labels).unwrap(),
        ),
    ];
    let p = dir.path().join("codes.safetensors");
    safetensors::serialize_to_file(tensors.clone(), &None, &p).unwrap();
    let c = io::read_codes(&p).unwrap();
    let tr = c.train.unwrap();
    assert_eq!(
        (tr.codes, tr.labels, tr.dim),
        (codes.clone(), labels.clone(), 3)
    );
    assert!(c.validation.is_none());
    // Mismatched labels → error.
    let short = vec![1u8, 2];
    tensors[1] = (
        "train.labels",
        TensorView::new(Dtype::U8, vec![2], &short).unwrap(),
    );
    safetensors::serialize_to_file(tensors, &None, &p).unwrap();
    assert!(io::read_codes(&p).is_err());

    let img: Vec<f32> = (0..2 * 16).map(|i| i as f32 / 32.0).collect();
    let ib = f32_bytes(&img);
    let rp = dir.path().join("reconstructions.safetensors");
    safetensors::serialize_to_file(
        vec![
            (
                "test.inputs",
                TensorView::new(Dtype::F32, vec![2, 1, 4, 4], &ib).unwrap(),
            ),
            (
                "test.outputs",
                TensorView::new(Dtype::F32, vec![2, 1, 4, 4], &ib).unwrap(),
            ),
        ],
        &None,
        &rp,
    )
    .unwrap();
    let r = io::read_reconstructions(&rp).unwrap();
    assert_eq!(
        (r.n, r.shape.clone(), r.noisy.is_none()),
        (2, vec![1, 4, 4], true)
    );
    assert_eq!(r.inputs, img);

    let w: Vec<f32> = (0..6 * 9).map(|i| i as f32).collect();
    let w2: Vec<f32> = vec![1.0; 4 * 6 * 3 * 3];
    let (wb, w2b, bb) = (f32_bytes(&w), f32_bytes(&w2), f32_bytes(&[0.0; 6]));
    let cp = dir.path().join("best.safetensors");
    safetensors::serialize_to_file(
        vec![
            (
                "layers.4.weight",
                TensorView::new(Dtype::F32, vec![4, 6, 3, 3], &w2b).unwrap(),
            ),
            (
                "layers.0.weight",
                TensorView::new(Dtype::F32, vec![6, 1, 3, 3], &wb).unwrap(),
            ),
            (
                "layers.0.bias",
                TensorView::new(Dtype::F32, vec![6], &bb).unwrap(),
            ),
        ],
        &None,
        &cp,
    )
    .unwrap();
    let (got, shape, layer) = io::read_first_conv(&cp).unwrap();
    assert_eq!((got, shape, layer), (w, vec![6, 1, 3, 3], 0));

    let pp = dir.path().join("predictions.json");
    std::fs::write(
        &pp,
        r#"{"split": "test", "classes": ["0","1"], "labels": [0,1,1], "predictions": [0,0,1]}"#,
    )
    .unwrap();
    let pr = io::read_predictions(&pp).unwrap();
    assert_eq!(pr.predictions, vec![0, 0, 1]);
    std::fs::write(&pp, r#"{"split": "test"}"#).unwrap();
    assert!(io::read_predictions(&pp).is_err());

    let mp = dir.path().join("metrics.json");
    std::fs::write(
        &mp,
        r#"{"model": "C×P×F", "dataset": "mnist", "epochs": [{"epoch": 1, "lr": 0.1, "train_loss": 0.5, "train_error": 0.1, "val_error": 0.12, "test_error": 0.11, "seconds": 3.0, "extra": 1}]}"#,
    )
    .unwrap();
    let m = io::read_metrics(&mp).unwrap();
    assert_eq!(m.epochs[0].val_error, Some(0.12));

    let jp = dir.path().join("out/x.json");
    io::write_json(&jp, &serde_json::json!({"a": 1})).unwrap();
    let back: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&jp).unwrap()).unwrap();
    assert_eq!(back["a"], 1);
}
