//! Measures dataset load times and augmentation / noise throughput.
//! `cargo run --release --example data_throughput -- [DATA_ROOT]` (default ../shared/data).

use std::path::PathBuf;
use std::time::Instant;

use archc::data::{self, apply_noise, augment_batch};
use archc::ir::{Augment, DatasetName, Noise};
use rand::SeedableRng;

fn main() -> miette::Result<()> {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data"));
    for name in [DatasetName::Mnist, DatasetName::Cifar10] {
        let mut times = vec![];
        let mut ds = None;
        for _ in 0..3 {
            let t = Instant::now();
            ds = Some(data::load(name, data::default_split(name), Some(&root))?);
            times.push(t.elapsed().as_secs_f64());
        }
        let ds = ds.unwrap();
        times.sort_by(f64::total_cmp);
        println!(
            "load {:?}: best {:.3} s, median {:.3} s ({} + {} + {} examples) — {}",
            name,
            times[0],
            times[1],
            ds.train.len(),
            ds.validation.len(),
            ds.test.len(),
            ds.provenance
        );
        if name == DatasetName::Cifar10 {
            let shape = ds.train.shape.clone();
            let size = ds.train.example_size();
            let batch = 256;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            for (label, aug) in [
                (
                    "shift 10% + hflip",
                    Augment {
                        shift: 0.1,
                        hflip: true,
                        vflip: false,
                        rotate: 0.0,
                    },
                ),
                (
                    "shift 10% + hflip + vflip + rotate 15°",
                    Augment {
                        shift: 0.1,
                        hflip: true,
                        vflip: true,
                        rotate: 15.0,
                    },
                ),
            ] {
                let mut buf = ds.train.images[..batch * size].to_vec();
                let t = Instant::now();
                let reps = 40;
                for _ in 0..reps {
                    buf.copy_from_slice(&ds.train.images[..batch * size]);
                    augment_batch(&aug, &shape, &mut buf, &mut rng);
                }
                let s = t.elapsed().as_secs_f64();
                println!("augment {label}: {:.0} images/s (32×32×3, batches of {batch}, includes the batch copy)", (reps * batch) as f64 / s);
            }
            let mut buf = ds.train.images[..batch * size].to_vec();
            for noise in [
                Noise::Mask { keep: 0.75 },
                Noise::Gaussian {
                    sigma: 0.3,
                    clip: true,
                },
            ] {
                let t = Instant::now();
                for _ in 0..20 {
                    apply_noise(&noise, &mut buf, &mut rng);
                }
                let s = t.elapsed().as_secs_f64();
                println!(
                    "noise {noise:?}: {:.0} M values/s",
                    (20 * batch * size) as f64 / s / 1e6
                );
            }
        }
    }
    svhn_streaming()?;
    Ok(())
}

/// A minimal little-endian MAT v5 file with `X` (32×32×3×n uint8) and `y` (n×1 uint8 class double).
fn svhn_like(n: usize) -> Vec<u8> {
    fn elem(t: u32, d: &[u8]) -> Vec<u8> {
        let mut o = t.to_le_bytes().to_vec();
        o.extend((d.len() as u32).to_le_bytes());
        o.extend(d);
        while !o.len().is_multiple_of(8) {
            o.push(0);
        }
        o
    }
    fn matrix(name: &str, class: u32, dims: &[usize], t: u32, d: &[u8]) -> Vec<u8> {
        let mut b = elem(6, &[class.to_le_bytes(), [0; 4]].concat());
        b.extend(elem(
            5,
            &dims
                .iter()
                .flat_map(|&x| (x as u32).to_le_bytes())
                .collect::<Vec<_>>(),
        ));
        b.extend(elem(1, name.as_bytes()));
        b.extend(elem(t, d));
        elem(14, &b)
    }
    let mut h = b"MATLAB 5.0 MAT-file".to_vec();
    h.resize(116, b' ');
    h.extend([0; 8]);
    h.extend([0, 1, b'I', b'M']);
    let x: Vec<u8> = (0..n * 3072).map(|i| (i * 7 % 256) as u8).collect();
    let y: Vec<u8> = (0..n).map(|i| (i % 10 + 1) as u8).collect();
    h.extend(matrix("X", 9, &[32, 32, 3, n], 2, &x));
    h.extend(matrix("y", 6, &[n, 1], 2, &y));
    h
}

fn svhn_streaming() -> miette::Result<()> {
    let n = 30000;
    let tmp = std::env::temp_dir().join(format!("archc-svhn-bench-{}.mat", std::process::id()));
    std::fs::write(&tmp, svhn_like(n)).map_err(|e| miette::miette!("{e}"))?;
    let t = Instant::now();
    let mut count = 0;
    for c in data::svhn::stream(&tmp, 4096)? {
        count += c?.len();
    }
    let s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&tmp);
    println!(
        "svhn .mat streaming (uncompressed, chunks of 4096): {:.0} images/s ({count} images)",
        count as f64 / s
    );
    Ok(())
}
