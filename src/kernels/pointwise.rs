//! Fused element-wise helpers for the glue between GEMMs: one pass over memory instead
//! of a chain of luminal primitive ops. Large arrays are split over rayon's threads.
use rayon::prelude::*;

use super::wide::wide;

/// Below this many elements a single thread is faster than forking.
const PAR_MIN: usize = 1 << 16;

/// Applies `f(chunk, first_index)` over `x` in parallel chunks of whole `unit`s.
fn par_units(x: &mut [f32], unit: usize, f: impl Fn(&mut [f32], usize) + Sync) {
    let unit = unit.max(1);
    if x.len() < PAR_MIN {
        return f(x, 0);
    }
    let per = (PAR_MIN / unit).max(1) * unit;
    x.par_chunks_mut(per)
        .enumerate()
        .for_each(|(i, c)| f(c, i * per));
}

pub fn relu_inplace(x: &mut [f32]) {
    par_units(x, 1, |c, _| {
        wide!({ c.iter_mut().for_each(|v| *v = v.max(0.0)) })
    });
}

/// x[o, c, i] = relu(x[o, c, i] + bias[c]) for x viewed as [outer, bias.len(), inner].
pub fn bias_relu_inplace(x: &mut [f32], bias: &[f32], inner: usize) {
    let plane = bias.len() * inner;
    assert!(
        plane > 0 && x.len().is_multiple_of(plane),
        "bias_relu: length"
    );
    par_units(x, plane, |c, _| {
        wide!({
            for sample in c.chunks_exact_mut(plane) {
                for (row, b) in sample.chunks_exact_mut(inner).zip(bias) {
                    row.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
                }
            }
        })
    });
}

/// dy ← dy · [y > 0], where y is the ReLU's output.
pub fn relu_backward_inplace(y: &[f32], dy: &mut [f32]) {
    assert_eq!(y.len(), dy.len(), "relu_backward: length");
    par_units(dy, 1, |c, start| {
        wide!({
            for (d, &v) in c.iter_mut().zip(&y[start..]) {
                if v <= 0.0 {
                    *d = 0.0;
                }
            }
        })
    });
}

/// dbias[c] = Σ over outer and inner of dy viewed as [outer, dbias.len(), inner].
pub fn bias_grad(dy: &[f32], inner: usize, dbias: &mut [f32]) {
    let plane = dbias.len() * inner;
    assert!(
        plane > 0 && dy.len().is_multiple_of(plane),
        "bias_grad: length"
    );
    dbias.fill(0.0);
    if inner == 1 {
        // Dense layer: accumulate whole rows (vectorises across channels).
        for row in dy.chunks_exact(plane) {
            dbias.iter_mut().zip(row).for_each(|(b, v)| *b += v);
        }
        return;
    }
    for sample in dy.chunks_exact(plane) {
        for (b, row) in dbias.iter_mut().zip(sample.chunks_exact(inner)) {
            *b += super::conv::sum(row);
        }
    }
}

/// Mean over the batch of the cross-entropy −Σ_k t_k·log softmax(z)_k between logits
/// z[batch, classes] and targets t (one-hot or any non-negative weights), and its
/// gradient dz = (softmax(z)·Σ_k t_k − t) / batch. Stable for large logits.
pub fn softmax_cross_entropy(
    logits: &[f32],
    targets: &[f32],
    classes: usize,
    dlogits: &mut [f32],
) -> f32 {
    assert!(
        classes > 0 && logits.len().is_multiple_of(classes),
        "softmax_ce: logits length"
    );
    assert_eq!(targets.len(), logits.len(), "softmax_ce: targets length");
    assert_eq!(dlogits.len(), logits.len(), "softmax_ce: gradient length");
    let batch = logits.len() / classes;
    if batch == 0 {
        return 0.0;
    }
    let inv = 1.0 / batch as f32;
    let mut loss = 0.0f64;
    for ((z, t), d) in logits
        .chunks_exact(classes)
        .zip(targets.chunks_exact(classes))
        .zip(dlogits.chunks_exact_mut(classes))
    {
        let max = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut denom = 0.0f32;
        for (di, &zi) in d.iter_mut().zip(z) {
            *di = (zi - max).exp();
            denom += *di;
        }
        let log_denom = denom.ln();
        let t_sum: f32 = t.iter().sum();
        for ((di, &zi), &ti) in d.iter_mut().zip(z).zip(t) {
            if ti != 0.0 {
                loss -= f64::from(ti * (zi - max - log_denom));
            }
            *di = (*di / denom * t_sum - ti) * inv;
        }
    }
    (loss / batch as f64) as f32
}
