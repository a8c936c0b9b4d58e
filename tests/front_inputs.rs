//! Inputs that used to abort or flood the terminal: deep nesting, invalid UTF-8, very
//! long lines, and models too large for memory.

use std::process::Command;

fn archc(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .output()
        .expect("run archc")
}

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write spec");
    path.to_str().expect("utf-8 path").to_string()
}

fn nested(depth: usize) -> String {
    format!(
        "net = {}F10[softmax]{}\ntrain {{\n  dataset mnist\n}}\n",
        "(".repeat(depth),
        ")".repeat(depth)
    )
}

#[test]
fn thousands_of_nested_groups_are_an_error_not_a_stack_overflow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = write(&dir, "deep.arch", nested(5000).as_bytes());
    let out = archc(&["check", &spec]);
    let err = String::from_utf8_lossy(&out.stderr);
    // A stack overflow aborts (signal, no exit code); a diagnostic exits with 1.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("archc::nesting"), "{err}");
    assert!(err.contains("more than 16 deep"), "{err}");
    assert!(!err.contains("refer to itself"), "{err}");
}

#[test]
fn the_group_depth_limit_is_exactly_the_documented_one() {
    let max = archc::syntax::MAX_GROUP_DEPTH;
    assert!(archc::ir::compile("ok", &nested(max)).is_ok());
    let err = archc::ir::compile("deep", &nested(max + 1)).expect_err("one level too deep");
    assert_eq!(
        err.code().map(|c| c.to_string()).as_deref(),
        Some("archc::nesting")
    );
    // Parentheses in comments do not count.
    let commented = format!("# {}\n{}", "(".repeat(100), nested(max));
    assert!(archc::ir::compile("ok", &commented).is_ok());
    let readme = std::fs::read_to_string("README.md").expect("README");
    assert!(
        readme.contains(&format!("at most {max} levels")),
        "README must state the limit"
    );
}

/// A net whose layers sit `a + b + c + 2` levels deep: `c` groups around `$B`, whose
/// fragment has `b` groups around `$A`, whose fragment has `a` groups around a layer. Every
/// line nests at most max(a, b, c) parentheses, so only the expansion sees the depth.
fn nested_fragments(a: usize, b: usize, c: usize) -> String {
    let wrap = |n: usize, inner: &str| format!("{}{inner}{}", "(".repeat(n), ")".repeat(n));
    format!(
        "sweep A in {{a: {}}}\nsweep B in {{b: {}}}\nnet = {} × F10[softmax]\ntrain {{\n  dataset mnist\n}}\n",
        wrap(a, "F8[relu]"),
        wrap(b, "$A"),
        wrap(c, "$B")
    )
}

/// Code, message and help of a compile error.
fn diagnosis(source: &str) -> (String, String, String) {
    let err = archc::ir::compile("deep", source).expect_err("must be rejected");
    (
        err.code().map(|c| c.to_string()).unwrap_or_default(),
        err.to_string(),
        err.help().map(|h| h.to_string()).unwrap_or_default(),
    )
}

#[test]
fn deep_nesting_through_fragments_states_the_limit_not_recursion() {
    let max = archc::syntax::MAX_GROUP_DEPTH;
    // Exactly at the limit compiles (the layer at depth 16), one more level does not.
    assert!(archc::ir::compile("ok", &nested_fragments(6, 5, max - 13)).is_ok());
    let (code, msg, help) = diagnosis(&nested_fragments(6, 5, max - 12));
    assert_eq!(code, "archc::nesting", "{msg}");
    assert!(msg.contains(&format!("more than {max} deep")), "{msg}");
    assert!(
        help.contains(&format!("at most {max} levels of `(…)` and `$fragment`s")),
        "{help}"
    );
    assert!(
        help.contains("write the innermost fragment out in place"),
        "{help}"
    );
    assert!(
        !help.contains("refer to itself") && !msg.contains("itself"),
        "{msg} / {help}"
    );
}

#[test]
fn a_fragment_that_refers_to_itself_is_named_at_once() {
    let direct = "sweep L in {a: F10 × $L}\nnet = $L × F10[softmax]\ntrain {\n  dataset mnist\n}\n";
    let (code, msg, help) = diagnosis(direct);
    assert_eq!(code, "archc::recursion", "{msg}");
    assert!(msg.contains("`$L` refers to itself ($L → $L)"), "{msg}");
    assert!(help.contains("may not refer to itself"), "{help}");
    // Through another fragment: the cycle is spelled out.
    let indirect = "sweep A in {a: F10 × $B}\nsweep B in {b: F12 × $A}\nnet = $A × F10[softmax]\ntrain {\n  dataset mnist\n}\n";
    let (code, msg, _) = diagnosis(indirect);
    assert_eq!(code, "archc::recursion", "{msg}");
    assert!(msg.contains("($A → $B → $A)"), "{msg}");
}

#[test]
fn invalid_utf8_names_its_byte_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = b"net = F10[softmax]\n# caf".to_vec();
    let at = bytes.len();
    bytes.extend_from_slice(&[0xe9, b'\n']);
    bytes.extend_from_slice(b"train {\n  dataset mnist\n}\n");
    let spec = write(&dir, "latin1.arch", &bytes);
    let out = archc(&["check", &spec]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("archc::encoding"), "{err}");
    assert!(
        err.contains(&format!("byte {at} (line 2, column 6)")),
        "{err}"
    );
    assert!(err.contains("0xe9"), "{err}");
}

#[test]
fn a_one_megabyte_line_is_not_echoed_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pad = " ".repeat(1_000_000);
    // An unknown letter after 1 MB of blanks, and an unknown annotation 1 MB long.
    for (name, net, marker, before) in [
        (
            "blanks",
            format!("F10[softmax]{pad}× Q3"),
            "Q3",
            format!("net = F10[softmax]{pad}× "),
        ),
        (
            "word",
            format!("F10[softmax {}]", "z".repeat(1_000_000)),
            "zzz",
            "net = F10[softmax ".to_string(),
        ),
    ] {
        let text = format!("net = {net}\ntrain {{\n  dataset mnist\n}}\n");
        let spec = write(&dir, &format!("{name}.arch"), text.as_bytes());
        let out = archc(&["check", &spec]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            err.len() < 4000,
            "{name}: diagnostic is {} bytes",
            err.len()
        );
        assert!(err.contains(marker), "{err}");
        // The cut line's columns are not the file's: the label gives the real position.
        let column = before.chars().count() + 1;
        assert!(err.contains(&format!("(line 1, column {column})")), "{err}");
    }
}

#[test]
fn summary_estimates_training_memory_from_the_layer_table() {
    // mnist_mlp: 784-1000-1000-10, SGD without momentum (no slots), batch 32.
    let params: u64 = 785 * 1000 + 1001 * 1000 + 1001 * 10;
    let floats_per_example: u64 = 784 + 1000 + 1000 + 10;
    let out = archc(&["summary", "--format", "json", "specs/mnist_mlp.arch"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let m = &v["models"][0]["training_memory"];
    let parameters = params * 3 * 4;
    let activations = floats_per_example * 32 * 4;
    let data = 70_000 * 784 * 4;
    assert_eq!(m["parameters"].as_u64(), Some(parameters));
    assert_eq!(m["optimizer"].as_u64(), Some(0));
    assert_eq!(m["batch"].as_u64(), Some(32));
    assert_eq!(m["activations"].as_u64(), Some(activations));
    assert_eq!(m["data"].as_u64(), Some(data));
    assert_eq!(m["total"].as_u64(), Some(parameters + activations + data));
    // Adam keeps two slots per parameter (mnist_ae_deep).
    let out = archc(&["summary", "--format", "json", "specs/mnist_ae_deep.arch"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let m = &v["models"][0];
    let p = m["total_params"].as_u64().expect("params");
    assert_eq!(
        m["training_memory"]["optimizer"].as_u64(),
        Some(p * 2 * 3 * 4)
    );
    // The text form prints it under the table.
    let out = archc(&["summary", "specs/mnist_mlp.arch"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let total = (parameters + activations + data) as f64 / 1e6;
    assert!(
        text.contains(&format!("training memory ≈ {total:.0} MB")),
        "{text}"
    );
}

#[test]
fn meminfo_is_read_in_bytes() {
    let text = "MemTotal:       24684096 kB\nMemFree:  1 kB\nMemAvailable:   22330968 kB\n";
    assert_eq!(
        archc::memory::parse_meminfo(text),
        Some((22_330_968 * 1024, 24_684_096 * 1024))
    );
    assert_eq!(archc::memory::parse_meminfo("MemTotal: 5 kB\n"), None);
}

#[test]
fn train_refuses_a_model_larger_than_memory_before_allocating() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Two 10⁶-unit dense layers: 10¹² weights, 4 TB a copy.
    let spec = write(
        &dir,
        "huge.arch",
        b"net = F1000000[relu] \xc3\x97 F1000000[relu] \xc3\x97 F10[softmax]\ntrain {\n  dataset mnist\n  optimizer sgd lr=0.1\n}\n",
    );
    let out_dir = dir.path().join("runs");
    let data = std::path::Path::new("../shared/data");
    let out = archc(&[
        "train",
        &spec,
        "--data",
        data.to_str().expect("path"),
        "--out",
        out_dir.to_str().expect("path"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    // Before the check it died of a failed 2.7 TB allocation (abort, no exit code).
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("archc::too_large"), "{err}");
    // parameters alone: (784·10⁶ + 10⁶ + 10⁶·10⁶ + 10⁶ + 10⁶·10 + 10) · 3 copies · 4 bytes ≈ 12.0 TB
    let params = 785u64 * 1_000_000 + 1_000_001 * 1_000_000 + 1_000_001 * 10;
    let tb = (params * 12) as f64 / 1e12;
    assert!(err.contains(&format!("needs about {tb:.1} TB")), "{err}");
    assert!(!out_dir.join("huge").exists(), "nothing may be written");
}
