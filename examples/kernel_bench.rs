//! Kernel throughput on the assignment's shapes (batch 128), against the naive reference
//! and the machine's measured FP32 FMA peak.
//!
//! `cargo run --release --example kernel_bench [-- --reps N] [-- --no-ref]`
//! Times are medians of N runs (default 7) after one warm-up; the cores are shared, so
//! expect noise and compare medians.
use archc::bench::{cpu_secs, fma_peak};
use archc::kernels::{self, reference, ConvGeom, PoolGeom};
use bench_util::{data, median};
use std::time::Instant;

mod bench_util;

/// Median wall and median CPU seconds of `reps` runs after one warm-up.
fn median_secs(reps: usize, mut f: impl FnMut()) -> Secs {
    f();
    let (wall, cpu): (Vec<f64>, Vec<f64>) = (0..reps.max(1))
        .map(|_| {
            let (s, c) = (Instant::now(), cpu_secs());
            f();
            (s.elapsed().as_secs_f64(), cpu_secs() - c)
        })
        .unzip();
    Secs {
        wall: median(wall),
        cpu: median(cpu),
    }
}

#[derive(Clone, Copy)]
struct Secs {
    wall: f64,
    cpu: f64,
}

// ---------- kernels ----------

struct Row {
    name: String,
    secs: Secs,
    flops: f64,
    ref_gflops: Option<f64>,
}

fn conv_geom(cin: usize, hw: usize, cout: usize, k: usize) -> ConvGeom {
    ConvGeom {
        batch: 128,
        in_channels: cin,
        in_h: hw,
        in_w: hw,
        out_channels: cout,
        kernel: [k, k],
        stride: [1, 1],
        padding: [k / 2, k / 2],
    }
}

/// Reference GFLOP/s, measured on one sample (same flops per sample).
fn ref_rate(flops_per_sample: f64, f: impl FnMut()) -> f64 {
    flops_per_sample / median_secs(1, f).cpu / 1e9
}

/// Times conv forward, backward-input and backward-weights; returns their rows.
fn bench_conv(tag: &str, g: ConvGeom, reps: usize, with_ref: bool) -> Vec<Row> {
    let k = g.in_channels * g.kernel[0] * g.kernel[1];
    let p = g.out_h() * g.out_w();
    let flops = 2.0 * (g.batch * g.out_channels * p * k) as f64;
    let x = data(g.batch * g.in_channels * g.in_h * g.in_w, 1);
    let w = data(g.out_channels * k, 2);
    let b = data(g.out_channels, 3);
    let mut y = vec![0.0; g.batch * g.out_channels * p];
    let dy = data(y.len(), 4);
    let mut dx = vec![0.0; x.len()];
    let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; b.len()]);
    let one = ConvGeom { batch: 1, ..g };
    let per = flops / g.batch as f64;
    let (x1, dy1) = (&x[..x.len() / g.batch], &dy[..dy.len() / g.batch]);
    let (mut y1, mut dx1) = (vec![0.0; y.len() / g.batch], vec![0.0; x1.len()]);
    let row = |name: &str, secs, r| Row {
        name: format!("{tag} {name}"),
        secs,
        flops,
        ref_gflops: r,
    };
    vec![
        row(
            "fwd",
            median_secs(reps, || kernels::conv2d_forward(&g, &x, &w, &b, &mut y)),
            with_ref
                .then(|| ref_rate(per, || reference::conv2d_forward(&one, x1, &w, &b, &mut y1))),
        ),
        row(
            "bwd-in",
            median_secs(reps, || {
                kernels::conv2d_backward_input(&g, &dy, &w, &mut dx)
            }),
            with_ref.then(|| {
                ref_rate(per, || {
                    reference::conv2d_backward_input(&one, dy1, &w, &mut dx1)
                })
            }),
        ),
        row(
            "bwd-w",
            median_secs(reps, || {
                kernels::conv2d_backward_weights(&g, &x, &dy, &mut dw, &mut db)
            }),
            with_ref.then(|| {
                ref_rate(per, || {
                    reference::conv2d_backward_weights(&one, x1, dy1, &mut dw, &mut db)
                })
            }),
        ),
    ]
}

/// Dense layer y[N, out] = x[N, in]·W[in, out]: forward, dX = dY·Wᵀ, dW = Xᵀ·dY.
fn bench_dense(
    tag: &str,
    n: usize,
    fin: usize,
    fout: usize,
    reps: usize,
    with_ref: bool,
) -> Vec<Row> {
    let flops = 2.0 * (n * fin * fout) as f64;
    let x = data(n * fin, 5);
    let w = data(fin * fout, 6);
    let dy = data(n * fout, 7);
    let mut y = vec![0.0; n * fout];
    let mut dx = vec![0.0; n * fin];
    let mut dw = vec![0.0; fin * fout];
    let rate = |f: &mut dyn FnMut()| -> Option<f64> {
        with_ref.then(|| flops / median_secs(1, f).cpu / 1e9)
    };
    let r_fwd = rate(&mut || reference::matmul(n, fin, fout, &x, false, &w, false, &mut y, false));
    let r_dx = rate(&mut || reference::matmul(n, fout, fin, &dy, false, &w, true, &mut dx, false));
    let r_dw = rate(&mut || reference::matmul(fin, n, fout, &x, true, &dy, false, &mut dw, false));
    let row = |name: &str, secs, r| Row {
        name: format!("{tag} {name}"),
        secs,
        flops,
        ref_gflops: r,
    };
    vec![
        row(
            "fwd",
            median_secs(reps, || {
                kernels::matmul(n, fin, fout, &x, false, &w, false, &mut y, false)
            }),
            r_fwd,
        ),
        row(
            "bwd-in",
            median_secs(reps, || {
                kernels::matmul(n, fout, fin, &dy, false, &w, true, &mut dx, false)
            }),
            r_dx,
        ),
        row(
            "bwd-w",
            median_secs(reps, || {
                kernels::matmul(fin, n, fout, &x, true, &dy, false, &mut dw, false)
            }),
            r_dw,
        ),
    ]
}

/// Max 2×2/2 pooling forward and backward on [128, c, hw, hw].
fn bench_pool(tag: &str, c: usize, hw: usize, reps: usize) -> Vec<Row> {
    let g = PoolGeom {
        batch: 128,
        channels: c,
        in_h: hw,
        in_w: hw,
        size: [2, 2],
        stride: [2, 2],
        padding: [0, 0],
    };
    let x = data(128 * c * hw * hw, 8);
    let mut y = vec![0.0; x.len() / 4];
    let dy = data(y.len(), 9);
    let mut dx = vec![0.0; x.len()];
    // "flops" = input cells touched, to give a rate; pooling is memory-bound.
    let cells = x.len() as f64;
    vec![
        Row {
            name: format!("{tag} fwd"),
            secs: median_secs(reps, || kernels::max_pool_forward(&g, &x, &mut y)),
            flops: cells,
            ref_gflops: None,
        },
        Row {
            name: format!("{tag} bwd"),
            secs: median_secs(reps, || kernels::max_pool_backward(&g, &x, &dy, &mut dx)),
            flops: cells,
            ref_gflops: None,
        },
    ]
}

/// One line per kernel. "GF/s wall" suffers from the neighbours on the shared cores;
/// "GF/s/core" = flops per CPU-second, i.e. what the kernel does with the cores it holds.
fn print_rows(rows: &[Row], core_peak: Option<f64>) {
    for r in rows {
        let wall = r.flops / r.secs.wall / 1e9;
        let per_core = r.flops / r.secs.cpu / 1e9;
        let of_peak = core_peak.map_or(String::new(), |p| format!("{:5.1}%", 100.0 * per_core / p));
        let reference = r
            .ref_gflops
            .map_or(String::from("     -"), |g| format!("{g:6.2}"));
        println!(
            "{:<34} {:9.2} {:8.1} {:9.2} {:9.1} {of_peak:>7} {reference:>9}",
            r.name,
            r.secs.wall * 1e3,
            wall,
            r.secs.cpu * 1e3,
            per_core
        );
    }
}

fn header() {
    println!(
        "{:<34} {:>9} {:>8} {:>9} {:>9} {:>7} {:>9}",
        "kernel (batch 128)", "wall ms", "GF/s", "cpu ms", "GF/s/core", "%core", "ref GF/s"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let reps = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(7);
    let with_ref = !args.iter().any(|a| a == "--no-ref");
    let threads = rayon::current_num_threads();
    println!("rayon threads: {threads}; medians of {reps} runs; shared cores: expect noise");

    let peak1 = fma_peak(1);
    let peak = fma_peak(threads);
    let core_peak = peak1.map(|p| p.1);
    if let (Some(p1), Some(p)) = (peak1, peak) {
        println!(
            "AVX-512 FMA loop: {:.1} GFLOP/s per core-second ({:.1} flop/cycle at the {:.2} GHz of /proc/cpuinfo); \
             {threads} threads: {:.1} GFLOP/s wall, {:.1} per core-second",
            p1.1,
            p1.1 / cpu_ghz().unwrap_or(f64::NAN),
            cpu_ghz().unwrap_or(f64::NAN),
            p.0,
            p.1
        );
    }
    header();

    let c1 = bench_conv(
        "1b conv1 3→64 3x3 32²",
        conv_geom(3, 32, 64, 3),
        reps,
        with_ref,
    );
    let c2 = bench_conv(
        "1b conv2 64→64 3x3 16²",
        conv_geom(64, 16, 64, 3),
        reps,
        with_ref,
    );
    let p1 = bench_pool("pool 64@32² ", 64, 32, reps);
    let p2 = bench_pool("pool 64@16² ", 64, 16, reps);
    let f1 = bench_dense("1b dense 4096→512", 128, 4096, 512, reps, with_ref);
    let f2 = bench_dense("1b dense 512→10", 128, 512, 10, reps, with_ref);
    let net_1b = [&c1[..], &c2, &p1, &p2, &f1, &f2];
    for rows in net_1b {
        print_rows(rows, core_peak);
    }
    let e1 = bench_conv(
        "1e conv 64→64 3x3 32²",
        conv_geom(64, 32, 64, 3),
        reps,
        with_ref,
    );
    let e2 = bench_conv(
        "1e conv 64→128 3x3 16²",
        conv_geom(64, 16, 128, 3),
        reps,
        with_ref,
    );
    let e3 = bench_conv(
        "1e conv 128→128 3x3 16²",
        conv_geom(128, 16, 128, 3),
        reps,
        with_ref,
    );
    for rows in [&e1, &e2, &e3] {
        print_rows(rows, core_peak);
    }
    let s1 = bench_conv(
        "2c conv1 3→16 5x5 32²",
        conv_geom(3, 32, 16, 5),
        reps,
        with_ref,
    );
    let s2 = bench_conv(
        "2c conv2 16→512 7x7 16²",
        conv_geom(16, 16, 512, 7),
        reps,
        with_ref,
    );
    let q1 = bench_pool("pool 16@32² ", 16, 32, reps);
    let q2 = bench_pool("pool 512@16²", 512, 16, reps);
    let g1 = bench_dense("2c dense 32768→20", 128, 32768, 20, reps, with_ref);
    let g2 = bench_dense("2c dense 20→10", 128, 20, 10, reps, with_ref);
    let net_2c = [&s1[..], &s2, &q1, &q2, &g1, &g2];
    for rows in net_2c {
        print_rows(rows, core_peak);
    }
    let m1 = bench_conv(
        "AE conv 1→16 3x3 28²",
        conv_geom(1, 28, 16, 3),
        reps,
        with_ref,
    );
    let m2 = bench_conv(
        "AE conv 16→8 3x3 14²",
        conv_geom(16, 14, 8, 3),
        reps,
        with_ref,
    );
    for rows in [&m1, &m2] {
        print_rows(rows, core_peak);
    }
    let big = bench_dense("matmul 1024³ (batch n/a)", 1024, 1024, 1024, reps, false);
    print_rows(&big[..1], core_peak);

    // A training step needs no gradient w.r.t. the images: skip conv1's backward-input.
    for (name, rows) in [("1b", &net_1b), ("2c", &net_2c)] {
        let step = rows
            .iter()
            .flat_map(|r| r.iter())
            .filter(|r| !(r.name.contains("conv1 ") && r.name.ends_with("bwd-in")));
        let (wall, cpu, flops) = step.fold((0.0, 0.0, 0.0), |(w, c, f), r| {
            let f_r = if r.name.starts_with("pool") {
                0.0
            } else {
                r.flops
            };
            (w + r.secs.wall, c + r.secs.cpu, f + f_r)
        });
        println!(
            "{name} step (conv+pool+dense kernels, batch 128): {:.1} ms wall ({:.1} GFLOP/s) now; \
             {:.1} CPU-ms, i.e. ≈{:.1} ms ({:.1} GFLOP/s) on {threads} idle cores",
            wall * 1e3,
            flops / wall / 1e9,
            cpu * 1e3,
            cpu / threads as f64 * 1e3,
            flops / (cpu / threads as f64) / 1e9
        );
    }
}

fn cpu_ghz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("cpu MHz"))?;
    Some(line.split(':').nth(1)?.trim().parse::<f64>().ok()? / 1e3)
}
