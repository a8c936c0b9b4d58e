//! Every kind of front-end error, rendered as the user sees it (stable unicode, no colour).

use miette::{GraphicalReportHandler, GraphicalTheme};

fn render(source: &str) -> (String, String) {
    let err = archc::ir::compile("bad", source).expect_err("spec must be rejected");
    let code = err.code().map(|c| c.to_string()).unwrap_or_default();
    let mut out = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, err.as_ref())
        .expect("render");
    (code, out)
}

const TRAIN_CIFAR: &str = "train {\n  dataset cifar10\n}\n";
const TRAIN_MNIST: &str = "train {\n  dataset mnist\n}\n";

fn cifar(net: &str) -> String {
    format!("{net}\n{TRAIN_CIFAR}")
}

fn mnist(net: &str) -> String {
    format!("{net}\n{TRAIN_MNIST}")
}

/// (snapshot name, expected diagnostic code, spec text)
fn cases() -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("syntax", "syntax", cifar("net = C64@3x3 × × F10[softmax]")),
        ("syntax_lowercase_letter", "syntax", cifar("net = c64@3x3 × F10[softmax]")),
        ("syntax_unclosed_block", "syntax", "net = F10[softmax]\ntrain {\n  dataset cifar10\n".into()),
        ("syntax_sweep_without_braces", "syntax", cifar("sweep d in 2, 8\nnet = F10[softmax]")),
        ("unknown_letter", "unknown_letter", cifar("net = C64@3x3 × Q2 × F10[softmax]")),
        ("unknown_annotation", "unknown_annotation", cifar("net = C64[3x3 rleu] × F10[softmax]")),
        ("unknown_annotation_key", "unknown_annotation", cifar("net = C64[3x3 strde=2] × F10[softmax]")),
        ("missing_kernel", "missing_annotation", cifar("net = C64 × P2 × F10[softmax]")),
        ("missing_units", "missing_annotation", cifar("net = C64@3x3 × F[relu] × F10[softmax]")),
        ("kernel_too_large", "kernel_too_large", cifar("net = C64@3x3 × P2 × P2 × P2 × P2 × C64@5x5 × F10[softmax]")),
        ("needs_image", "needs_image", mnist("net = F100[relu] × C8@3x3 × F10[softmax]")),
        (
            "augment_flat_input",
            "needs_image",
            "net = F100[relu] × F10[softmax]\ntrain {\n  dataset mnist\n  augment shift=0.1 hflip\n}\n".into(),
        ),
        ("asymmetric_same", "asymmetric_same", cifar("net = C64@2x2[same] × F10[softmax]")),
        ("output_size_classifier", "output_size", cifar("net = C64@3x3 × F512[relu] × F100[softmax]")),
        ("output_size_autoencoder", "output_size", mnist("net = F32[sigmoid] as code × F700[sigmoid]")),
        ("loss_activation", "loss_activation", cifar("net = C64@3x3 × F10[relu]")),
        ("empty_sweep", "empty_sweep", mnist("sweep d in {}\nnet = F$d[sigmoid] as code × F784[sigmoid]")),
        ("unknown_param", "unknown_param", mnist("sweep d in {2, 8}\nnet = F$e[sigmoid] as code × F784[sigmoid]")),
        ("sweep_arity", "sweep_arity", cifar("sweep (a, b) in {(3, 3), (5)}\nnet = C64@$a × C64@$b × F10[softmax]")),
        ("param_kind", "param_kind", cifar("sweep L in {2, 3}\nnet = C64@3x3 × $L × F10[softmax]")),
        ("recursion", "recursion", cifar("sweep L in {a: F10 × $L}\nnet = $L × F10[softmax]")),
        ("duplicate_param", "duplicate", cifar("sweep k in {3}\nsweep k in {5}\nnet = C64@$k × F10[softmax]")),
        ("duplicate_net", "duplicate", cifar("net = F10[softmax]\nnet = F10[softmax]")),
        ("unknown_option", "unknown_option", "net = F10[softmax]\ntrain {\n  dataset cifar10\n  optimizer sgd lr=0.1 momentun=0.9\n}\n".into()),
        ("unknown_train_key", "unknown_option", "net = F10[softmax]\ntrain {\n  dataset cifar10\n  epoch 10\n}\n".into()),
        ("unknown_dataset", "unknown_option", "net = F10[softmax]\ntrain {\n  dataset cifar100\n}\n".into()),
        ("unknown_optimizer", "unknown_option", "net = F10[softmax]\ntrain {\n  dataset cifar10\n  optimizer adamw\n}\n".into()),
        ("missing_keep", "missing_annotation", "net = F32[sigmoid] as code × F784[sigmoid]\ntrain {\n  dataset mnist\n  noise mask\n}\n".into()),
        ("mask_p_is_not_a_name", "unknown_option", "net = F32[sigmoid] as code × F784[sigmoid]\ntrain {\n  dataset mnist\n  noise mask p=0.5\n}\n".into()),
        ("keep_out_of_range", "out_of_range", "net = F32[sigmoid] as code × F784[sigmoid]\ntrain {\n  dataset mnist\n  noise mask keep=1.5\n}\n".into()),
        ("bad_split", "bad_split", "net = F10[softmax]\ntrain {\n  dataset cifar10 split=50000/5000\n}\n".into()),
        ("missing_dataset", "missing_annotation", "net = F10[softmax]\ntrain {\n  epochs 3\n}\n".into()),
        ("missing_train", "missing_train", "net = F10[softmax]\n".into()),
        ("no_net", "net_shape", TRAIN_CIFAR.into()),
        ("encoder_without_decoder", "net_shape", mnist("encoder = F32")),
        ("mirror_conv", "mirror_conv", "input 1x28x28\nencoder = C8@3x3 × F32\ndecoder = mirror\ntrain {\n  dataset mnist\n}\n".into()),
        ("mirror_misplaced", "mirror_misplaced", mnist("net = mirror")),
        ("expected_count", "expected_count", cifar("net = C64.5@3x3 × F10[softmax]")),
        ("expected_2d", "expected_2d", cifar("net = C64@3x3x3 × F10[softmax]")),
        ("bad_padding", "bad_padding", cifar("net = C64@3x3[pad=full] × F10[softmax]")),
        ("bad_input", "bad_input", "input 28x28\nnet = F10[softmax]\ntrain {\n  dataset mnist\n}\n".into()),
        ("expected_number", "expected_number", cifar("sweep a in {relu}\nnet = C$a@3x3 × F10[softmax]")),
        ("expected_name", "expected_name", "net = F10[softmax]\ntrain {\n  dataset 10\n}\n".into()),
        ("too_large", "too_large", cifar("net = C1000000000@3x3 × C1000000000@3x3 × F10[softmax]")),
        ("count_too_large", "too_large", mnist("net = F1e12 × F10[softmax]")),
        ("input_disagrees_with_dataset", "input_dataset", "input 3x32x32\nnet = F100 × F10[softmax]\ntrain {\n  dataset mnist\n}\n".into()),
        ("bad_seed", "out_of_range", "net = F10[softmax]\ntrain {\n  dataset cifar10\n  seed -1\n}\n".into()),
        ("too_many", "too_many", cifar("net = (D0.1)^5000 × F10[softmax]")),
    ]
}

#[test]
fn every_error_kind_is_a_labelled_diagnostic() {
    for (name, code, src) in cases() {
        let (got, rendered) = render(&src);
        assert_eq!(got, format!("archc::{code}"), "case {name}:\n{rendered}");
        assert!(
            rendered.contains("help:"),
            "case {name} has no help:\n{rendered}"
        );
        insta::assert_snapshot!(name, rendered, &src);
    }
}

#[test]
fn missing_file_is_a_clear_error() {
    let err =
        archc::ir::load(std::path::Path::new("specs/no_such_spec.arch")).expect_err("missing");
    let text = format!("{err:?}");
    assert!(text.contains("no_such_spec.arch"), "{text}");
}
