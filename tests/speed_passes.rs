//! Training results are unchanged by the fast path: the same model, weights and batches
//! give the same losses, outputs and trained weights with and without the compiler
//! passes (softmax/sigmoid folded into the loss, fused activations, fused ReLU/max-pool
//! gradient, fused and in-place optimizer updates). The fused optimizer update is
//! checked bit for bit: against the per-output update nodes it replaces, op by op and
//! over whole training runs with every optimizer.

use archc::lower::ops::Op;
use archc::lower::{init_slots, TrainGraph, Weights};
use rand::{Rng, SeedableRng};

fn count(g: &TrainGraph, pred: impl Fn(&Op) -> bool) -> usize {
    g.cx.graph
        .node_weights()
        .filter_map(|w| w.as_any().downcast_ref::<Op>())
        .filter(|o| pred(o))
        .count()
}

/// The bit patterns, so that equality means bit-identical (−0 ≠ 0, NaN = NaN).
fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// Runs `steps` steps of both graphs on the same random batches; returns how many nodes
/// the passes removed.
fn compare(src: &str, steps: usize, batch: usize) -> usize {
    let spec = archc::ir::compile("t", src).expect("spec compiles");
    let model = &spec.models[0];
    let opt = model.train.optimizer;
    let w = Weights::init(model, 7);
    let mut fast = TrainGraph::build(model, Some(&opt)).unwrap();
    let mut plain = TrainGraph::build_plain(model, Some(&opt)).unwrap();
    fast.set_weights(w.clone(), Some(init_slots(&opt, &w)));
    plain.set_weights(w.clone(), Some(init_slots(&opt, &w)));
    let d: usize = model.input_shape.iter().product();
    let classes: usize = model.output_shape().iter().product();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for it in 0..steps {
        let x: Vec<f32> = (0..batch * d).map(|_| rng.gen::<f32>() - 0.3).collect();
        let t: Vec<f32> = if model.train.target == archc::ir::Target::Input {
            x.iter().map(|v| v.clamp(0.0, 1.0)).collect()
        } else {
            (0..batch)
                .map(|_| rng.gen_range(0..classes) as f32)
                .collect()
        };
        let a = fast.step(x.clone(), t.clone(), 0.05, it as u64);
        let b = plain.step(x, t, 0.05, it as u64);
        assert!(
            close(a.loss, b.loss, 1e-5),
            "step {it}: loss {} vs {}",
            a.loss,
            b.loss
        );
        assert_eq!(a.output.len(), b.output.len());
        for (i, (p, q)) in a.output.iter().zip(&b.output).enumerate() {
            assert!(close(*p, *q, 1e-4), "step {it}: output {i}: {p} vs {q}");
        }
    }
    let (wa, sa) = fast.take_weights();
    let (wb, sb) = plain.take_weights();
    for (l, (p, q)) in wa.params.iter().zip(&wb.params).enumerate() {
        assert_eq!(p.len(), q.len());
        for (i, (x, y)) in p.iter().zip(q).enumerate() {
            assert!(close(*x, *y, 1e-4), "layer {l} weight {i}: {x} vs {y}");
        }
    }
    assert_eq!(sa.len(), sb.len());
    // The trained weights moved: the comparison covers real updates.
    assert!(wa.params.iter().zip(&w.params).any(|(a, b)| a != b));
    // One fused update per parameter vector when the optimizer keeps slots (it adds a
    // node: the per-output nodes stay as pass-throughs of its outputs).
    let fused = count(&fast, |o| matches!(o, Op::FusedUpdate { .. }));
    let with_slots = wa.params.iter().filter(|p| !p.is_empty()).count();
    let fusing = archc::lower::ops::opt_slots(&opt) > 0
        && std::env::var_os("ARCHC_NO_FUSED_UPDATE").is_none();
    assert_eq!(fused, if fusing { with_slots } else { 0 });
    if fusing {
        assert_eq!(count(&fast, |o| matches!(o, Op::Update { .. })), 0);
    }
    // Each fused first-layer conv + pool adds a node (conv and pool become
    // pass-throughs of its two outputs).
    let conv_pool = count(&fast, |o| matches!(o, Op::ConvReluMaxPool { .. }));
    assert_eq!(
        conv_pool,
        count(&fast, |o| matches!(o, Op::MaxPoolArgBack { .. }))
    );
    // Each dense layer whose input gradient is needed has its two backward products
    // paired (a node added; the two become pass-throughs).
    let paired = count(&fast, |o| matches!(o, Op::DenseBack { .. }));
    let pairing = std::env::var_os("ARCHC_NO_PAIR_DENSE").is_none();
    assert_eq!(
        paired,
        if pairing {
            count(&plain, |o| matches!(o, Op::DenseBackInput { .. }))
        } else {
            0
        }
    );
    plain.cx.graph.node_count() + fused + conv_pool + paired - fast.cx.graph.node_count()
}

#[test]
fn conv_net_trains_identically_with_and_without_passes() {
    let src = "defaults C[3x3 same relu] F[relu]
net = C4 × P2 × C6 × P2 × D0.25 × F12 × F10[softmax]
train {
  dataset cifar10
  loss cross_entropy
  optimizer adam lr=1e-2
  batch 6
}";
    let removed = compare(src, 4, 6);
    // Two conv and one dense activations fused, two ReLU/pool gradients fused,
    // softmax and the probability gradient folded into the loss on logits.
    assert_eq!(removed, 7);
    let spec = archc::ir::compile("t", src).unwrap();
    let g = TrainGraph::build(&spec.models[0], Some(&spec.models[0].train.optimizer)).unwrap();
    assert_eq!(count(&g, |o| matches!(o, Op::Act { .. })), 0);
    assert_eq!(count(&g, |o| matches!(o, Op::ProbLoss { .. })), 0);
    assert_eq!(count(&g, |o| matches!(o, Op::LossGrad { .. })), 1);
    // Both conv layers have few input taps (27, 36): their ReLU/pool gradients run on
    // the fused conv + pool's winner codes.
    let conv_pool = std::env::var_os("ARCHC_NO_CONV_POOL").is_none();
    let (fused_back, plain_back) = if conv_pool { (2, 0) } else { (0, 2) };
    assert_eq!(
        count(&g, |o| matches!(o, Op::MaxPoolArgBack { .. })),
        fused_back
    );
    assert_eq!(
        count(&g, |o| matches!(o, Op::MaxPoolReluBack { .. })),
        plain_back
    );
    // Updates take the weights and slots over: none stays pinned in the graph.
    let slots: Vec<_> = g.slots.concat();
    let pinned = g.params.iter().flatten().chain(&slots);
    assert_eq!(pinned.filter(|p| g.cx.no_delete.contains(p)).count(), 0);
}

#[test]
fn stacked_convs_train_identically_with_and_without_passes() {
    // C × C: the second conv's input gradient goes through the first one's ReLU.
    let src = "defaults C[3x3 same relu]
net = C3 × C5 × P2 × F10[softmax]
train {
  dataset cifar10
  loss cross_entropy
  optimizer sgd lr=0.1
  batch 9
}";
    // Two activations, one ReLU/pool gradient, softmax loss.
    assert_eq!(compare(src, 3, 9), 5);
}

#[test]
fn mlp_trains_identically_with_and_without_passes() {
    let src = "net = F16[sigmoid] × F12[tanh] × F10[softmax]
train {
  dataset mnist
  loss cross_entropy
  optimizer sgd lr=0.1 momentum=0.9 nesterov
  batch 8
}";
    assert_eq!(compare(src, 4, 8), 4);
    // F12 and F10 need their input gradients: both pair their backward products.
    let spec = archc::ir::compile("t", src).unwrap();
    let g = TrainGraph::build(&spec.models[0], Some(&spec.models[0].train.optimizer)).unwrap();
    let pairing = std::env::var_os("ARCHC_NO_PAIR_DENSE").is_none();
    assert_eq!(
        count(&g, |o| matches!(o, Op::DenseBack { .. })),
        if pairing { 2 } else { 0 }
    );
}

#[test]
fn autoencoder_with_adadelta_trains_identically() {
    // Adadelta's weight and slot updates both read the old slot: only one of them
    // can take a buffer over, and the pass must not order them into a cycle.
    let src = "defaults F[relu]
encoder = F12 × F3[linear]
decoder = mirror
train {
  dataset mnist
  loss binary_cross_entropy
  optimizer adadelta lr=1
  batch 5
}";
    assert_eq!(compare(src, 3, 5), 4);
}

#[test]
fn parallel_dropout_mask_equals_the_sequential_stream() {
    use luminal::op::{InputTensor, Operator};
    use luminal::prelude::{ShapeTracker, Tensor};
    let (rate, seed, layer, iter) = (0.3f32, 11u64, 2usize, 5u64);
    let n = 200_003; // several parallel chunks and a ragged tail
    let x = Tensor::new(vec![0.0f32; n]);
    let hyper = Tensor::new(vec![0.1f32, iter as f32]);
    let mut op = Op::DropoutMask { rate, seed, layer };
    let out = op.process(vec![
        (InputTensor::Borrowed(&x), ShapeTracker::new(&[])),
        (InputTensor::Borrowed(&hyper), ShapeTracker::new(&[])),
    ]);
    let mask = out[0].data.as_any().downcast_ref::<Vec<f32>>().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((layer as u64) << 40) ^ iter);
    let scale = 1.0 / (1.0 - rate);
    for (i, &m) in mask.iter().enumerate() {
        let want = if rng.gen::<f32>() < rate { 0.0 } else { scale };
        assert_eq!(m, want, "element {i}");
    }
}

#[test]
fn fused_relu_max_pool_gradient_matches_the_reference_on_odd_sizes() {
    use archc::kernels::{reference, PoolGeom};
    use luminal::op::{InputTensor, Operator};
    use luminal::prelude::{ShapeTracker, Tensor};
    let geom = PoolGeom {
        batch: 0,
        channels: 3,
        in_h: 5,
        in_w: 7,
        size: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
    };
    let n = 2;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    // ReLU outputs: many exact zeros, and ties among positive values.
    let a: Vec<f32> = (0..n * 3 * 5 * 7)
        .map(|_| (rng.gen_range(-2i32..4) as f32 * 0.5).max(0.0))
        .collect();
    let dy: Vec<f32> = (0..n * 3 * 2 * 3).map(|_| rng.gen::<f32>() - 0.5).collect();
    let mut g = geom;
    g.batch = n;
    let mut want = vec![0.0; a.len()];
    reference::max_pool_backward(&g, &a, &dy, &mut want);
    for (w, &v) in want.iter_mut().zip(&a) {
        if v <= 0.0 {
            *w = 0.0;
        }
    }
    let (ta, tdy) = (Tensor::new(a.clone()), Tensor::new(dy));
    let out = Op::MaxPoolReluBack { geom }.process(vec![
        (InputTensor::Borrowed(&ta), ShapeTracker::new(&[])),
        (InputTensor::Borrowed(&tdy), ShapeTracker::new(&[])),
    ]);
    let got = out[0].data.as_any().downcast_ref::<Vec<f32>>().unwrap();
    assert_eq!(got, &want);
}

#[test]
fn vectorised_sigmoid_matches_the_scalar_one() {
    use archc::ir::Activation;
    let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.025).collect();
    let mut y = xs.clone();
    archc::lower::ops::act_forward(Activation::Sigmoid, 1, &mut y);
    for (&x, &v) in xs.iter().zip(&y) {
        let want = archc::lower::ops::sigmoid(x);
        assert!(
            (v - want).abs() <= 2e-7 + 4e-7 * want,
            "sigmoid({x}) = {v}, want {want}"
        );
    }
}

#[test]
fn batchnorm_avg_pool_l2_rmsprop_train_identically() {
    // BatchNorm between convolution and pooling, average pooling, L2 on every weight
    // layer, RMSprop with its learning-rate decay.
    let src = "defaults C[3x3 same relu wd=1e-3] F[relu wd=1e-3]
net = C4 × B × P2[avg] × C5 × B × P2 × F12 × F10[softmax]
train {
  dataset cifar10
  loss cross_entropy
  optimizer rmsprop lr=1e-2 decay=1e-3
  batch 6
}";
    // Three activations fused (two conv, one dense), softmax and its gradient folded into
    // the loss; BatchNorm between conv and pool leaves no ReLU/pool gradient to fuse.
    assert_eq!(compare(src, 4, 6), 5);
}

#[test]
fn upsampling_autoencoder_with_mse_and_adagrad_trains_identically() {
    let src = "input 1x28x28
defaults C[3x3 same relu]
encoder = C4 × P2 × C3 × P2
decoder = C3 × U2 × C4 × U2 × C1[sigmoid]
train {
  dataset mnist
  loss mse
  optimizer adagrad lr=0.05
  batch 4
}";
    // Five conv activations fused (the sigmoid too: MSE is not folded into it) and two
    // ReLU/max-pool gradients.
    assert_eq!(compare(src, 3, 4), 7);
}

/// Every optimizer with slots: Keras options that change the formulas (Nesterov,
/// RMSprop's time decay) included.
const OPTIMIZERS: [&str; 6] = [
    "sgd lr=0.1 momentum=0.9",
    "sgd lr=0.1 momentum=0.8 nesterov",
    "rmsprop lr=1e-2 decay=1e-2",
    "adagrad lr=0.05",
    "adadelta lr=1",
    "adam lr=1e-2",
];

/// One step of the per-output update nodes, in the order and wiring `lower::optim`
/// gives them: each output a separate `update` call reading the old or new slots.
fn per_output_step(
    opt: &archc::ir::Optimizer,
    hyper: &[f32],
    w: &mut Vec<f32>,
    g: &[f32],
    s: &mut [Vec<f32>],
) {
    use archc::ir::Optimizer;
    use archc::lower::ops::{update, OptOut};
    let e: &[f32] = &[];
    let w0 = w.clone();
    let w0: &[f32] = &w0;
    match (opt, s) {
        (Optimizer::Adadelta { .. }, [a, d]) => {
            let a2 = update(opt, OptOut::Slot(0), &[w0, g, e], hyper, a.clone());
            let w2 = update(opt, OptOut::Weights, &[e, g, &a2, &d[..]], hyper, w.clone());
            let d2 = update(opt, OptOut::Slot(1), &[w0, g, &a2, e], hyper, d.clone());
            (*w, *a, *d) = (w2, a2, d2);
        }
        (Optimizer::Adam { .. }, [m, v]) => {
            let m2 = update(opt, OptOut::Slot(0), &[w0, g, e], hyper, m.clone());
            let v2 = update(opt, OptOut::Slot(1), &[w0, g, e], hyper, v.clone());
            let w2 = update(opt, OptOut::Weights, &[e, g, &m2, &v2], hyper, w.clone());
            (*w, *m, *v) = (w2, m2, v2);
        }
        (_, [a]) => {
            let a2 = update(opt, OptOut::Slot(0), &[w0, g, e], hyper, a.clone());
            let w2 = update(opt, OptOut::Weights, &[e, g, &a2], hyper, w.clone());
            (*w, *a) = (w2, a2);
        }
        (_, s) => panic!("no test wiring for {} slots", s.len()),
    }
}

fn optimizer(line: &str) -> archc::ir::Optimizer {
    let src = format!(
        "net = F10[softmax]\ntrain {{\n  dataset mnist\n  loss cross_entropy\n  optimizer {line}\n  batch 2\n}}"
    );
    archc::ir::compile("t", &src).expect("spec compiles").models[0]
        .train
        .optimizer
}

#[test]
fn fused_update_op_equals_the_per_output_updates_bit_for_bit() {
    use luminal::op::{InputTensor, Operator};
    use luminal::prelude::{ShapeTracker, Tensor};
    // Several parallel chunks and a ragged tail; gradients over many magnitudes.
    let n = 70_001;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
    for line in OPTIMIZERS {
        let opt = optimizer(line);
        let k = archc::lower::ops::opt_slots(&opt);
        let mut w: Vec<f32> = (0..n).map(|_| rng.gen::<f32>() - 0.5).collect();
        let mut s = vec![vec![0.0f32; n]; k];
        let (mut fw, mut fs) = (w.clone(), s.clone());
        for it in 0..4 {
            let g: Vec<f32> = (0..n)
                .map(|_| (rng.gen::<f32>() - 0.5) * 10f32.powi(rng.gen_range(-4..2)))
                .collect();
            let hyper = [0.05 / (1.0 + it as f32), it as f32];
            per_output_step(&opt, &hyper, &mut w, &g, &mut s);
            // The op as the graph runs it: buffers handed over, outputs w', slots'.
            let mut ins = vec![Tensor::new(std::mem::take(&mut fw)), Tensor::new(g)];
            ins.extend(fs.drain(..).map(Tensor::new));
            ins.push(Tensor::new(hyper.to_vec()));
            let outs = Op::FusedUpdate { opt }.process(
                ins.into_iter()
                    .map(|t| (InputTensor::Owned(t), ShapeTracker::new(&[])))
                    .collect(),
            );
            assert_eq!(outs.len(), k + 1, "{line}");
            let mut outs = outs.into_iter().map(|t| {
                t.data
                    .as_any()
                    .downcast_ref::<Vec<f32>>()
                    .expect("f32 output")
                    .clone()
            });
            fw = outs.next().unwrap();
            fs = outs.collect();
            assert!(bits(&fw) == bits(&w), "{line}: step {it}: weights differ");
            for (j, (a, b)) in fs.iter().zip(&s).enumerate() {
                assert!(bits(a) == bits(b), "{line}: step {it}: slot {j} differs");
            }
        }
        assert!(
            s.iter().all(|s| s.iter().any(|&v| v != 0.0)),
            "{line}: slots moved"
        );
    }
}

/// Trains the same conv net with the plain lowering's per-output update nodes and with
/// them fused (both with in-place updates and no other pass); every loss, output,
/// weight and slot must be bit-identical.
#[test]
fn fused_updates_train_bit_identically_for_every_optimizer() {
    use archc::lower::passes::{FuseUpdate, InPlaceUpdate};
    for line in OPTIMIZERS {
        let src = format!(
            "defaults C[3x3 same relu wd=1e-3] F[relu]
net = C4 × P2 × C5 × B × P2 × F12 × F10[softmax]
train {{
  dataset cifar10
  loss cross_entropy
  optimizer {line}
  batch 5
}}"
        );
        let spec = archc::ir::compile("t", &src).expect("spec compiles");
        let model = &spec.models[0];
        let opt = model.train.optimizer;
        let w = Weights::init(model, 5);
        let graph = |fuse: bool| {
            let mut g = TrainGraph::build_plain(model, Some(&opt)).unwrap();
            g.cx.compile((FuseUpdate { skip: !fuse }, InPlaceUpdate), ());
            g.set_weights(w.clone(), Some(init_slots(&opt, &w)));
            g
        };
        let (mut fused, mut plain) = (graph(true), graph(false));
        let layers = w.params.iter().filter(|p| !p.is_empty()).count();
        assert_eq!(
            count(&fused, |o| matches!(o, Op::FusedUpdate { .. })),
            layers
        );
        assert_eq!(count(&plain, |o| matches!(o, Op::FusedUpdate { .. })), 0);
        let d: usize = model.input_shape.iter().product();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        for it in 0..4 {
            let x: Vec<f32> = (0..5 * d).map(|_| rng.gen::<f32>() - 0.3).collect();
            let t: Vec<f32> = (0..5).map(|_| rng.gen_range(0..10) as f32).collect();
            let a = fused.step(x.clone(), t.clone(), 0.05, it);
            let b = plain.step(x, t, 0.05, it);
            assert_eq!(a.loss.to_bits(), b.loss.to_bits(), "{line}: step {it} loss");
            assert!(
                bits(&a.output) == bits(&b.output),
                "{line}: step {it} outputs"
            );
        }
        let (wa, sa) = fused.take_weights();
        let (wb, sb) = plain.take_weights();
        assert!(wa.params != w.params, "{line}: training moved the weights");
        let all = |v: &[Vec<f32>]| bits(&v.concat());
        assert!(all(&wa.params) == all(&wb.params), "{line}: weights differ");
        assert!(
            all(&wa.running) == all(&wb.running),
            "{line}: running stats differ"
        );
        assert!(
            all(&sa.concat()) == all(&sb.concat()),
            "{line}: slots differ"
        );
        // Weights and slots are handed to the fused update, not pinned in the graph.
        let slots: Vec<_> = fused.slots.concat();
        let pinned = fused.params.iter().flatten().chain(&slots);
        assert_eq!(
            pinned.filter(|p| fused.cx.no_delete.contains(p)).count(),
            0,
            "{line}"
        );
    }
}
