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

/// The spans (offset, length) of a report's problems, in the order it lists them.
fn spans(err: &miette::Report) -> Vec<(String, usize, usize)> {
    err.related()
        .expect("several problems are related diagnostics")
        .map(|d| {
            let label = d.labels().expect("labelled").next().expect("one label");
            let code = d.code().expect("code").to_string();
            (code, label.offset(), label.len())
        })
        .collect()
}

/// A problem's code and where `word` is in `src`, found independently of the builder.
fn at(code: &str, src: &str, word: &str) -> (String, usize, usize) {
    let offset = src.find(word).expect("word in spec");
    (format!("archc::{code}"), offset, word.len())
}

#[test]
fn independent_mistakes_are_reported_together_in_source_order() {
    // An unknown activation in a layer, an unknown dataset, a misspelt optimizer option.
    let src = "net = C32@3x3[rleu] × P2 × F10[softmax]\ntrain {\n  dataset cifar100\n  optimizer sgd lr=0.1 momentun=0.9\n}\n";
    let err = archc::ir::compile("bad", src).expect_err("spec must be rejected");
    assert_eq!(
        err.code().map(|c| c.to_string()).as_deref(),
        Some("archc::problems")
    );
    let got = spans(&err);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(
        got,
        vec![
            at("unknown_annotation", src, "rleu"),
            at("unknown_option", src, "cifar100"),
            at("unknown_option", src, "momentun"),
        ]
    );
    let (_, rendered) = render(src);
    assert!(rendered.contains("the spec has 3 problems"), "{rendered}");
    insta::assert_snapshot!("three_independent_mistakes", rendered, src);
}

#[test]
fn a_problem_that_follows_from_another_is_not_reported() {
    // `softmx` is unknown, so the last activation is unknown too: no loss/activation
    // disagreement may be reported on top, nor the layer once per sweep point.
    let src = "sweep n in {50, 100, 200}\nnet = F$n[rleu] × F10[softmx]\ntrain {\n  dataset mnist\n  loss cross_entropy\n}\n";
    let err = archc::ir::compile("bad", src).expect_err("spec must be rejected");
    assert_eq!(
        spans(&err),
        vec![
            at("unknown_annotation", src, "rleu"),
            at("unknown_annotation", src, "softmx"),
        ]
    );
    // A bad layer hides the shapes after it: `C` on the flat output of `F` is not
    // checked after a layer whose size is not a count.
    let src = "net = F0.5 × C8@3x3 × F10[softmax]\ntrain {\n  dataset mnist\n}\n";
    let (code, rendered) = render(src);
    assert_eq!(code, "archc::expected_count", "{rendered}");
}

#[test]
fn a_report_shows_at_most_twenty_problems() {
    let layers: Vec<String> = (0..25).map(|i| format!("F{}[rleu{i}]", i + 1)).collect();
    let src = format!(
        "net = {} × F10[softmax]\ntrain {{\n  dataset mnist\n}}\n",
        layers.join(" × ")
    );
    let err = archc::ir::compile("bad", &src).expect_err("spec must be rejected");
    assert_eq!(spans(&err).len(), 20);
    assert_eq!(
        err.to_string(),
        "the spec has 25 problems (the first 20 are shown)"
    );
}
