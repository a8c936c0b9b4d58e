//! How many of an autoencoder's code units carry information (items 3.1a, 3.2b, 3.2d): per
//! unit, the mean and standard deviation of its value over the test codes. A unit whose
//! value hardly moves from image to image (a sigmoid saturated at 0 or 1, a ReLU that never
//! fires) is "constant": the decoder can only use it as a bias, so the effective code size
//! is the number of the others.

use serde::Serialize;

use super::io::CodeBlock;

/// Activity of every unit of a code, and the count of constant ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeUnits {
    /// Codes the statistics were taken over.
    pub examples: usize,
    /// Code size d'.
    pub units: usize,
    /// A unit is constant when its standard deviation is below this.
    pub tol: f64,
    /// Units with standard deviation < `tol`.
    pub constant: usize,
    /// `units - constant`.
    pub active: usize,
    /// Per unit: mean over the codes.
    pub mean: Vec<f64>,
    /// Per unit: population standard deviation over the codes.
    pub std: Vec<f64>,
}

/// Statistics of `block`'s units (population standard deviation, in f64).
pub fn code_units(block: &CodeBlock, tol: f64) -> CodeUnits {
    let d = block.dim;
    let n = block.codes.len().checked_div(d).unwrap_or(0);
    let mut sum = vec![0.0f64; d];
    let mut sq = vec![0.0f64; d];
    for row in block.codes.chunks_exact(d.max(1)).take(n) {
        for (j, &v) in row.iter().enumerate() {
            sum[j] += v as f64;
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1) as f64).collect();
    // Two passes: squared deviations from the mean, not E[x²] − E[x]², which cancels for
    // units sitting near 1.
    for row in block.codes.chunks_exact(d.max(1)).take(n) {
        for (j, &v) in row.iter().enumerate() {
            sq[j] += (v as f64 - mean[j]).powi(2);
        }
    }
    let std: Vec<f64> = sq.iter().map(|s| (s / n.max(1) as f64).sqrt()).collect();
    let constant = std.iter().filter(|&&s| s < tol).count();
    CodeUnits {
        examples: n,
        units: d,
        tol,
        constant,
        active: d - constant,
        mean,
        std,
    }
}

/// `archc units RUN`: statistics of the test codes of a run, written as `units.json` into
/// `out` (default: the run directory); prints a one-line summary.
pub fn run(
    run_dir: &std::path::Path,
    tol: f64,
    out: Option<&std::path::Path>,
) -> miette::Result<()> {
    if !(tol.is_finite() && tol >= 0.0) {
        return Err(miette::miette!(
            "--tol must be a finite number ≥ 0, got {tol}"
        ));
    }
    let path = run_dir.join(crate::train::run_dir::CODES);
    let codes = super::io::read_codes(&path)?;
    let test = codes
        .test
        .ok_or_else(|| miette::miette!("{} holds no test codes (test.codes)", path.display()))?;
    let stats = code_units(&test, tol);
    let out = match out {
        Some(o) => {
            crate::atomic::prepare_dir(o)?;
            o
        }
        None => run_dir,
    };
    crate::atomic::write_json(&out.join("units.json"), &stats)?;
    println!(
        "{}: {} of {} code units active, {} constant (std < {tol} over {} test codes) → {}",
        run_dir.display(),
        stats.active,
        stats.units,
        stats.constant,
        stats.examples,
        out.join("units.json").display()
    );
    Ok(())
}
