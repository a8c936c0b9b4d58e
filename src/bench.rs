//! Throughput of whole training steps and of inference on random data (`archc bench`).
//!
//! For one model: build the training graph with its optimizer (forward, loss, backward,
//! update in one luminal graph), feed a fixed random batch (seeded; class labels for
//! classifiers, the input itself for autoencoders), run a few warm-up steps, then time
//! steps for a given wall-clock budget. The same for the inference graph.
//!
//! Achieved FLOP/s counts only the multiply-adds of conv and dense layers, at 2 flops
//! each, over what one training step must compute per image:
//! forward (MACs) + backward-weights (MACs of each parameterised layer) + backward-input
//! (MACs of each parameterised layer but the first: the images need no gradient), i.e.
//! about 6·MACs − 2·MACs(first layer). Pooling, activations, loss and the optimizer are
//! not counted (they are memory-bound and small in flops).

use std::time::Instant;

use miette::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::ir::names::optimizer_name;
use crate::ir::{Layer, Loss, Model, Optimizer, Target};
use crate::lower::{self, init_slots, ops, ForwardGraph, TrainGraph, Weights};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub batch: usize,
    /// Timed wall-clock budget of each phase (training, inference), after warm-up.
    pub seconds: f64,
    pub warmup: usize,
    /// Replaces the spec's optimizer (e.g. plain SGD, as the PyTorch reference runs).
    pub optimizer: Option<Optimizer>,
    pub seed: u64,
    /// Record time per op kind over the timed training steps.
    pub profile: bool,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            batch: 128,
            seconds: 5.0,
            warmup: 3,
            optimizer: None,
            seed: 0,
            profile: false,
        }
    }
}

/// One model's measurements (the JSON object `archc bench --format json` prints).
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub model: String,
    pub batch: usize,
    pub optimizer: String,
    pub train_images_per_second: f64,
    pub infer_images_per_second: f64,
    /// Achieved training GFLOP/s: train images/s × [`train_flops_per_image`].
    pub gflops: f64,
    /// Peak resident set (`VmHWM`) while this model ran, in MiB (0 if unknown).
    pub peak_rss_mb: f64,
    /// FP32 peak of this machine on rayon's threads as an FMA loop measures it
    /// ([`machine_peak_gflops`]); None without AVX-512.
    pub machine_peak_gflops: Option<f64>,
    /// `gflops` as a percentage of `machine_peak_gflops`.
    pub percent_of_peak: Option<f64>,
    /// Mean wall-clock time of one training step.
    pub step_ms: f64,
    pub step_ms_median: f64,
    /// CPU time of this process (all threads) per training step: on cores shared with
    /// other jobs, about `threads ×` the step time the machine alone would give.
    pub step_cpu_ms: f64,
    pub infer_step_ms: f64,
    pub train_steps: usize,
    pub infer_steps: usize,
    pub mult_adds_per_image: u64,
    pub train_flops_per_image: u64,
    pub params: usize,
    /// Time per op kind, most expensive first; empty unless profiling.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<OpTime>,
}

/// One row of the per-op profile.
#[derive(Debug, Clone, Serialize)]
pub struct OpTime {
    /// Op kind as `ops` names it (conv and dense ops with their layer shape).
    pub op: String,
    pub ms_per_step: f64,
    pub calls_per_step: usize,
    /// Achieved GFLOP/s of a GEMM-backed op (conv/dense forward and backward).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gflops: Option<f64>,
}

/// Multiply-adds per example of one call of each GEMM-backed op, by profile name.
fn op_mult_adds(model: &Model) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    for l in &model.layers {
        for op in lower::gemm_ops(l) {
            v.push((op.profile_name(), l.mult_adds));
        }
        // `PairDenseBack` runs a dense layer's two backward products as one op.
        if let crate::ir::LayerKind::Dense { units, .. } = l.kind {
            let inputs = l.input_shape.iter().product();
            let paired = ops::Op::DenseBack { inputs, units };
            v.push((paired.profile_name(), 2 * l.mult_adds));
        }
    }
    v
}

/// Whether a layer's multiply-adds run as GEMMs (conv and dense), the flops counted here.
fn is_gemm(l: &Layer) -> bool {
    !lower::gemm_ops(l).is_empty()
}

/// Flops of one training step per image, as described in the module doc.
pub fn train_flops_per_image(model: &Model) -> u64 {
    let mut macs = 0u64;
    let mut seen_param = false;
    for l in &model.layers {
        if !is_gemm(l) {
            continue;
        }
        // Forward and backward-weights; backward-input except for the first layer.
        macs += 2 * l.mult_adds;
        if seen_param {
            macs += l.mult_adds;
        }
        seen_param = true;
    }
    2 * macs
}

/// Forward flops per image (conv and dense multiply-adds × 2).
pub fn infer_flops_per_image(model: &Model) -> u64 {
    model
        .layers
        .iter()
        .filter(|l| is_gemm(l))
        .map(|l| 2 * l.mult_adds)
        .sum()
}

/// `VmHWM` of this process in MiB, from `/proc/self/status`.
pub fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets the peak-RSS mark (Linux ≥ 4.0) so each model reports its own peak;
/// best effort: elsewhere the peak stays the process-wide maximum.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// A random batch: inputs uniform in [0, 1), targets as training would feed them.
pub fn random_batch(model: &Model, batch: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d: usize = model.input_shape.iter().product();
    let x: Vec<f32> = (0..batch * d).map(|_| rng.gen()).collect();
    let classes: usize = model.output_shape().iter().product();
    let t = match (model.train.target, model.train.loss) {
        (Target::Input, _) => x.clone(),
        (Target::Labels, Loss::CrossEntropy) => (0..batch)
            .map(|_| rng.gen_range(0..classes.max(1)) as f32)
            .collect(),
        (Target::Labels, _) => {
            let mut t = vec![0.0; batch * classes];
            for r in 0..batch {
                t[r * classes + rng.gen_range(0..classes.max(1))] = 1.0;
            }
            t
        }
    };
    (x, t)
}

/// CPU seconds consumed by this process (all threads) so far; 0 where unsupported.
/// Wall time on cores shared with other jobs mostly measures the neighbours; CPU time
/// measures the work.
pub fn cpu_secs() -> f64 {
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        extern "C" {
            fn clock_gettime(clock: i32, t: *mut Timespec) -> i32;
        }
        const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
        let mut t = Timespec { sec: 0, nsec: 0 };
        // SAFETY: POSIX call writing into a properly laid out timespec (64-bit Linux).
        if unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0 {
            return t.sec as f64 + t.nsec as f64 * 1e-9;
        }
    }
    0.0
}

/// Runs `step` `warmup` times, then for `seconds` (at least once); returns the timed
/// steps' durations in seconds.
fn time_steps(
    warmup: usize,
    seconds: f64,
    profile: bool,
    mut step: impl FnMut(),
    mut status: impl FnMut(usize, f64),
) -> Vec<f64> {
    for _ in 0..warmup {
        step();
    }
    if profile {
        ops::take_profile();
        ops::enable_profile(true);
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.is_empty() || start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        step();
        times.push(t.elapsed().as_secs_f64());
        status(times.len(), times.iter().sum::<f64>() / times.len() as f64);
    }
    ops::enable_profile(false);
    times
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Measures one model; `status` receives a one-line progress message.
pub fn bench_model(
    model: &Model,
    cfg: &BenchConfig,
    mut status: impl FnMut(String),
) -> Result<BenchResult> {
    reset_peak_rss();
    let batch = cfg.batch.max(1);
    let opt = cfg.optimizer.unwrap_or(model.train.optimizer);
    let (x, t) = random_batch(model, batch, cfg.seed);
    let weights = Weights::init(model, model.train.seed);
    let params = weights.count();
    let lr = crate::train::base_lr(&opt);

    let mut g = TrainGraph::build(model, Some(&opt))?;
    let slots = init_slots(&opt, &weights);
    g.set_weights(weights, Some(slots));
    let mut it = 0u64;
    let cpu0 = cpu_secs();
    let train = time_steps(
        cfg.warmup,
        cfg.seconds,
        cfg.profile,
        || {
            let s = g.step(x.clone(), t.clone(), lr, it);
            it += 1;
            std::hint::black_box(s.loss);
        },
        |n, mean| {
            status(format!(
                "{}: train step {n}, {:.1} ms/step",
                model.name,
                mean * 1e3
            ))
        },
    );
    let steps = train.len() as f64;
    let step_cpu_ms = (cpu_secs() - cpu0) * 1e3 / (steps + cfg.warmup as f64);
    let macs = op_mult_adds(model);
    let profile = ops::take_profile()
        .into_iter()
        .map(|(op, secs, calls)| {
            let gflops = macs
                .iter()
                .find(|(n, _)| *n == op)
                .map(|&(_, m)| 2.0 * m as f64 * (batch * calls) as f64 / secs / 1e9);
            OpTime {
                ms_per_step: secs * 1e3 / steps,
                calls_per_step: calls / train.len(),
                op,
                gflops,
            }
        })
        .collect();
    let (weights, _) = g.take_weights();
    drop(g);

    let mut f = ForwardGraph::build(model, model.layers.len(), false)?;
    f.set_weights(weights);
    let infer = time_steps(
        cfg.warmup,
        cfg.seconds,
        false,
        || {
            std::hint::black_box(f.run(x.clone()));
        },
        |n, mean| {
            status(format!(
                "{}: inference batch {n}, {:.1} ms/batch",
                model.name,
                mean * 1e3
            ))
        },
    );

    let train_mean = train.iter().sum::<f64>() / train.len() as f64;
    let infer_mean = infer.iter().sum::<f64>() / infer.len() as f64;
    let train_ips = batch as f64 / train_mean;
    let flops = train_flops_per_image(model);
    let gflops = train_ips * flops as f64 / 1e9;
    let machine_peak = machine_peak_gflops();
    Ok(BenchResult {
        model: model.name.clone(),
        batch,
        optimizer: optimizer_name(&opt).into(),
        train_images_per_second: train_ips,
        infer_images_per_second: batch as f64 / infer_mean,
        gflops,
        peak_rss_mb: peak_rss_mb().unwrap_or(0.0),
        machine_peak_gflops: machine_peak,
        percent_of_peak: machine_peak.map(|p| 100.0 * gflops / p),
        step_ms: train_mean * 1e3,
        step_ms_median: median(&train) * 1e3,
        step_cpu_ms,
        infer_step_ms: infer_mean * 1e3,
        train_steps: train.len(),
        infer_steps: infer.len(),
        mult_adds_per_image: model.total_mult_adds(),
        train_flops_per_image: flops,
        params,
        profile,
    })
}

/// The results as an aligned text table.
pub fn table(results: &[BenchResult]) -> String {
    let mut s = format!(
        "{:<24} {:>6} {:>9} {:>12} {:>12} {:>9} {:>10} {:>9}\n",
        "model", "batch", "opt", "train img/s", "infer img/s", "step ms", "GFLOP/s", "peak MiB"
    );
    for r in results {
        s += &format!(
            "{:<24} {:>6} {:>9} {:>12.1} {:>12.1} {:>9.2} {:>10.1} {:>9.0}\n",
            r.model,
            r.batch,
            r.optimizer,
            r.train_images_per_second,
            r.infer_images_per_second,
            r.step_ms,
            r.gflops,
            r.peak_rss_mb
        );
    }
    s += "GFLOP/s = train img/s × 2·(forward + backward-weights + backward-input except the first layer) conv/dense multiply-adds per image\n";
    s += "  (the direct products: layers run by Winograd or FFT do fewer, so these can exceed the peak)\n";
    if let Some(p) = results.iter().find_map(|r| r.machine_peak_gflops) {
        s += &format!(
            "machine FP32 peak: {p:.1} GFLOP/s on {} threads (AVX-512 FMA loop, measured now)\n",
            rayon::current_num_threads()
        );
    }
    s
}

/// A tight AVX-512 FMA loop on `threads` threads at once: (GFLOP/s per wall second,
/// GFLOP/s per CPU second, i.e. per core actually held), best of 3; None without
/// AVX-512. This, not a data sheet, is the peak: the same binary on another CPU
/// (an AVX-512 Xeon retires 2 × 16-lane FMAs per cycle, a Zen 4 core 1) differs 2×.
pub fn fma_peak(threads: usize) -> Option<(f64, f64)> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        const ITERS: usize = 4_000_000;
        let flops = (threads * ITERS * 16 * 16 * 2) as f64;
        let mut best = (0.0f64, 0.0f64);
        for _ in 0..3 {
            let (start, cpu0) = (Instant::now(), cpu_secs());
            let sink: f32 = std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads.max(1))
                    // SAFETY: guarded by the runtime feature check above.
                    .map(|_| s.spawn(|| unsafe { fma_loop_avx512(ITERS) }))
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
            });
            std::hint::black_box(sink);
            let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_secs() - cpu0);
            best.0 = best.0.max(flops / wall / 1e9);
            if cpu > 0.0 {
                best.1 = best.1.max(flops / cpu / 1e9);
            }
        }
        return Some(best);
    }
    let _ = threads;
    None
}

/// [`fma_peak`] per wall second on rayon's threads, measured once per process.
pub fn machine_peak_gflops() -> Option<f64> {
    static PEAK: std::sync::OnceLock<Option<f64>> = std::sync::OnceLock::new();
    *PEAK.get_or_init(|| fma_peak(rayon::current_num_threads()).map(|p| p.0))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    // 16 independent accumulators hide the FMA latency on every core design here.
    let mut acc = [_mm512_set1_ps(0.0); 16];
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    let mut s = _mm512_set1_ps(0.0);
    for v in acc {
        s = _mm512_add_ps(s, v);
    }
    _mm512_reduce_add_ps(s)
}
