//! `archc units`: code-unit statistics on a hand-made `codes.safetensors` whose means and
//! standard deviations are known in closed form.

use std::process::Command;

use archc::train::checkpoint::{self, Entry};

/// 40 test codes of 4 units: unit 0 always 1 (saturated), unit 1 alternating 0/1 (mean 0.5,
/// std 0.5), unit 2 alternating 0.999/1.0 (mean 0.9995, std 0.0005: constant at tol 0.01,
/// and a test of the two-pass variance near 1), unit 3 = i/39 (uniform grid on [0, 1]).
fn write_codes(dir: &std::path::Path) {
    let n = 40;
    let mut codes = Vec::new();
    for i in 0..n {
        codes.push(1.0f32);
        codes.push((i % 2) as f32);
        codes.push(if i % 2 == 0 { 0.999 } else { 1.0 });
        codes.push(i as f32 / (n - 1) as f32);
    }
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    checkpoint::save(
        &dir.join("codes.safetensors"),
        vec![
            ("test.codes".into(), Entry::F32(vec![n, 4], codes)),
            ("test.labels".into(), Entry::U8(vec![n], labels)),
        ],
    )
    .unwrap();
}

#[test]
fn counts_constant_units_and_their_spread() {
    let tmp = tempfile::tempdir().unwrap();
    write_codes(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_archc"))
        .arg("units")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 of 4 code units active"), "{stdout}");
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("units.json")).unwrap()).unwrap();
    assert_eq!(j["constant"], 2);
    assert_eq!(j["active"], 2);
    assert_eq!(j["examples"], 40);
    let u = |k: usize, f: &str| j[f][k].as_f64().unwrap();
    assert_eq!(u(0, "std"), 0.0);
    assert!((u(1, "mean") - 0.5).abs() < 1e-12 && (u(1, "std") - 0.5).abs() < 1e-12);
    // f32 0.999 is 0.99900001287…: mean and half-difference in f64 of the stored values.
    let lo = 0.999f32 as f64;
    assert!((u(2, "mean") - (lo + 1.0) / 2.0).abs() < 1e-12);
    assert!(
        (u(2, "std") - (1.0 - lo) / 2.0).abs() < 1e-9,
        "{}",
        u(2, "std")
    );
    // Uniform grid i/39, i = 0..39: variance (n² − 1) / (12 (n − 1)²) with n = 40.
    let var = (40.0f64 * 40.0 - 1.0) / (12.0 * 39.0 * 39.0);
    assert!((u(3, "std") - var.sqrt()).abs() < 1e-7, "{}", u(3, "std"));
    // Unit 2 is constant at tol 0.01 but not at 1e-4.
    let out = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(["units", "--tol", "1e-4", "--out"])
        .arg(tmp.path().join("strict"))
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("strict/units.json")).unwrap())
            .unwrap();
    assert_eq!(j["constant"], 1);
}

#[test]
fn refuses_a_bad_tolerance_and_a_run_without_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_archc"))
        .arg("units")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("codes.safetensors"), "{err}");
    write_codes(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(["units", "--tol=-1"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tol"));
}
