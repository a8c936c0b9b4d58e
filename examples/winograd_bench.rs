//! im2col + GEMM against Winograd F(2×2, 3×3) on the 3×3 layers of `cifar_base`,
//! `cifar_deep` and (the smaller ones) `svhn_improved`, against F(2×2, 5×5) on the
//! 5×5 layers of `cifar_deep_kernels`, and against FFT on the 7×7 layer of `svhn`:
//! forward, input gradient and weight gradient, wall-clock medians.
//!
//! `cargo run --release --example winograd_bench [-- --reps N] [-- --batch B] [-- --kernel K]`
//! (`--kernel 3`, `5` or `7`: only the layers of that kernel size; 2c–2e are svhn's.)
//! Each repetition times im2col and the fast algorithm back to back (interleaved), so both see the
//! same machine state; the cores are shared, so expect noise and compare medians.
use archc::bench::cpu_secs;
use archc::kernels::{self, ConvAlgo, ConvGeom};
use bench_util::{data, median};
use std::time::Instant;

mod bench_util;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(default)
    };
    let (reps, batch, only) = (arg("--reps", 7), arg("--batch", 64), arg("--kernel", 0));
    println!(
        "rayon threads: {}; batch {batch}; medians of {reps} interleaved runs (shared cores: noisy)",
        rayon::current_num_threads()
    );
    println!(
        "{:<26} {:>6} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7} | {:>9}",
        "layer", "pass", "im2col", "fast", "speedup", "im2col", "fast", "speedup", "im2col"
    );
    println!(
        "{:<26} {:>6} | {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7} | {:>9}",
        "", "", "wall ms", "wall ms", "wall", "cpu ms", "cpu ms", "cpu", "GF/cpu-s"
    );
    use ConvAlgo::{Fft, Winograd};
    let layers = [
        ("1b/1e 3→64 32²", 3, 64, 32, 3, Winograd),
        ("1e 64→64 32²", 64, 64, 32, 3, Winograd),
        ("1b 64→64 16²", 64, 64, 16, 3, Winograd),
        ("svhn+ 32→32 32²", 32, 32, 32, 3, Winograd),
        ("svhn+ 32→64 16²", 32, 64, 16, 3, Winograd),
        ("1e 64→128 16²", 64, 128, 16, 3, Winograd),
        ("1e 128→128 16²", 128, 128, 16, 3, Winograd),
        ("1e 5×5 64→64 32²", 64, 64, 32, 5, Winograd),
        ("1e 5×5 64→128 16²", 64, 128, 16, 5, Winograd),
        ("1e 5×5 128→128 16²", 128, 128, 16, 5, Winograd),
        ("svhn+ 5×5 32→32 32²", 32, 32, 32, 5, Winograd),
        ("1e 5×5 64→64 32² FFT", 64, 64, 32, 5, Fft),
        ("1e 5×5 128→128 16² FFT", 128, 128, 16, 5, Fft),
        ("svhn+ 5×5 32→32 32² FFT", 32, 32, 32, 5, Fft),
        ("2c 7×7 16→512 16² FFT", 16, 512, 16, 7, Fft),
        ("2e 7×7 8→64 16² FFT", 8, 64, 16, 7, Fft),
        ("2e 7×7 16→128 16² FFT", 16, 128, 16, 7, Fft),
        ("2d 5×5 16→512 16² FFT", 16, 512, 16, 5, Fft),
        ("2d 5×5 16→512 16² Wino", 16, 512, 16, 5, Winograd),
        ("2d 3×3 16→512 16² FFT", 16, 512, 16, 3, Fft),
        ("2d 3×3 16→512 16² Wino", 16, 512, 16, 3, Winograd),
    ];
    for (name, cin, cout, hw, k, fast) in layers {
        if only != 0 && k != only {
            continue;
        }
        let g = ConvGeom {
            batch,
            in_channels: cin,
            in_h: hw,
            in_w: hw,
            out_channels: cout,
            kernel: [k, k],
            stride: [1, 1],
            padding: [k / 2, k / 2],
        };
        let flops = 2.0 * (batch * cout * hw * hw * cin * k * k) as f64;
        let x = data(batch * cin * hw * hw, 1);
        let w = data(cout * cin * k * k, 2);
        let b = data(cout, 3);
        let dy = data(batch * cout * hw * hw, 4);
        let mut y = vec![0.0; dy.len()];
        let mut dx = vec![0.0; x.len()];
        let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; cout]);
        for pass in ["fwd", "bwd-in", "bwd-w"] {
            let mut run = |algo: ConvAlgo| {
                let (t, c) = (Instant::now(), cpu_secs());
                match pass {
                    "fwd" => kernels::conv2d_forward_using(algo, &g, &x, &w, &b, &mut y),
                    "bwd-in" => kernels::conv2d_backward_input_using(algo, &g, &dy, &w, &mut dx),
                    _ => {
                        kernels::conv2d_backward_weights_using(algo, &g, &x, &dy, &mut dw, &mut db)
                    }
                }
                (t.elapsed().as_secs_f64(), cpu_secs() - c)
            };
            run(ConvAlgo::Im2col);
            run(fast);
            let (mut ti, mut tw, mut ci, mut cw) = (vec![], vec![], vec![], vec![]);
            for _ in 0..reps.max(1) {
                let (t, c) = run(ConvAlgo::Im2col);
                ti.push(t);
                ci.push(c);
                let (t, c) = run(fast);
                tw.push(t);
                cw.push(c);
            }
            let (mi, mw, mci, mcw) = (median(ti), median(tw), median(ci), median(cw));
            println!(
                "{name:<26} {pass:>6} | {:9.2} {:9.2} {:6.2}× | {:9.2} {:9.2} {:6.2}× | {:9.1}",
                mi * 1e3,
                mw * 1e3,
                mi / mw,
                mci * 1e3,
                mcw * 1e3,
                mci / mcw,
                flops / mci / 1e9
            );
        }
    }
}
