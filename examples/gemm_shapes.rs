//! GEMM throughput by shape, one thread and all threads: where the 128-row products of
//! the dense layers lose against a large square one.
//! `cargo run --release --example gemm_shapes [-- THREADS]`; with 1 thread it also runs
//! two copies side by side, one per core, to compare with one product split over both.
use archc::bench::fma_peak;
use archc::kernels;
use std::time::Instant;

fn rate(m: usize, k: usize, n: usize, a_t: bool, b_t: bool) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut c = vec![0.0f32; m * n];
    let flops = 2.0 * (m * k * n) as f64;
    let reps = ((2e9 / flops) as usize).max(3);
    kernels::matmul(m, k, n, &a, a_t, &b, b_t, &mut c, false);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            kernels::matmul(m, k, n, &a, a_t, &b, b_t, &mut c, false);
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    flops / best / 1e9
}

/// Aggregate rate of two independent copies of the product, one per OS thread, each
/// single-threaded (the global pool has one thread): what running two independent
/// GEMMs of a step side by side would give.
fn rate_two_apart(m: usize, k: usize, n: usize, a_t: bool, b_t: bool) -> f64 {
    let rates: Vec<f64> = std::thread::scope(|s| {
        let h: Vec<_> = (0..2)
            .map(|_| s.spawn(move || rate(m, k, n, a_t, b_t)))
            .collect();
        h.into_iter().map(|h| h.join().unwrap()).collect()
    });
    rates.iter().sum()
}

fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .unwrap();
    let peak = fma_peak(threads).map(|p| p.0).unwrap_or(f64::NAN);
    println!("peak {peak:.1} GFLOP/s on {threads} threads");
    for &(name, m, k, n, at, bt) in &[
        ("square 1024", 1024, 1024, 1024, false, false),
        ("fwd 128x784x1000", 128, 784, 1000, false, false),
        ("fwd 128x1000x1000", 128, 1000, 1000, false, false),
        ("bwd-in 128x1000x784 (Wt)", 128, 1000, 784, false, true),
        ("bwd-w 784x128x1000 (Xt)", 784, 128, 1000, true, false),
        ("bwd-w 1000x128x1000 (Xt)", 1000, 128, 1000, true, false),
        ("fwd 512x1000x1000", 512, 1000, 1000, false, false),
        ("fwd 128x4096x512", 128, 4096, 512, false, false),
    ] {
        let r = rate(m, k, n, at, bt);
        print!("{name:28} {r:7.1} GFLOP/s {:5.1}%", 100.0 * r / peak);
        if threads == 1 {
            let two = rate_two_apart(m, k, n, at, bt);
            print!("   two apart: {two:7.1} GFLOP/s");
        }
        println!();
    }
}
