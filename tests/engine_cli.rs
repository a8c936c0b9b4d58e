//! `archc train` argument errors are clear messages, not panics.

use std::process::Command;

fn archc(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_archc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.success(), text)
}

#[test]
fn unknown_model_lists_the_models() {
    let (ok, text) = archc(&["train", "specs/mnist_ae_basic.arch", "--model", "nope"]);
    assert!(!ok);
    assert!(text.contains("no model named"), "{text}");
    assert!(text.contains("mnist_ae_basic[d'=2]"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

#[test]
fn missing_spec_is_an_error() {
    let (ok, text) = archc(&["train", "specs/does_not_exist.arch"]);
    assert!(!ok);
    assert!(text.contains("does_not_exist"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}
