//! Syntax tree → IR, the pipeline: sort the statements, expand the sweeps (`sweep`),
//! build each model's layers (`layer`, which asks `ir::layers` what each letter means)
//! and its training setup (`train`), then check that they fit together.
//!
//! Every independent problem is reported, not only the first: a syntax error, a badly
//! structured file or a bad sweep stops the build, but then each layer annotation and
//! each training entry is checked on its own. What depends on a part with a problem
//! is not checked (the shapes after a bad layer; every shape when the dataset, and so
//! the input, is unknown), nor is how the parts fit together (output size, loss and
//! activation), so that no problem reported is only the echo of another.

use super::layers::{self, Annotations, Bare, Main, Mirror, Pad};
use super::names;
use super::shape::{elements, fmt_shape, LayerProblem};
use super::*;
use crate::syntax::ast::*;
use crate::syntax::diag::{in_source_order, report, suggest, Problem};
use crate::syntax::parse;
use miette::SourceSpan;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

mod layer;
mod sweep;
mod train;

use sweep::{sweep_points, value_text, Bound, Env};

type R<T> = Result<T, Problem>;

/// Parse, expand sweeps, build and validate the IR of one spec.
pub fn compile(name: &str, source: &str) -> miette::Result<Spec> {
    compile_named(name, name, source)
}

/// Read a spec file and compile it; the spec is named after the file stem.
pub fn load(path: &Path) -> miette::Result<Spec> {
    let bytes = std::fs::read(path).map_err(|e| {
        miette::miette!(
            code = "archc::read",
            help = "give the path of a `.arch` file, e.g. specs/cifar_base.arch",
            "cannot read spec {}: {e}",
            path.display()
        )
    })?;
    let source = crate::syntax::diag::decode(&path.display().to_string(), bytes)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "spec".into());
    compile_named(&path.display().to_string(), &stem, &source)
}

fn compile_named(display: &str, name: &str, source: &str) -> miette::Result<Spec> {
    build(name, source).map_err(|ps| report(ps, display, source))
}

/// Build without attaching the source (tests and tools that want the plain problems):
/// every problem found, in the order they appear in the spec.
pub fn build(name: &str, source: &str) -> Result<Spec, Vec<Problem>> {
    let file = parse(source).map_err(|p| vec![p])?;
    let parts = Parts::collect(&file).map_err(in_source_order)?;
    let points = sweep_points(&parts.sweeps).map_err(in_source_order)?;
    let found = RefCell::new(Vec::new());
    let mut models = Vec::with_capacity(points.len());
    for env in &points {
        let cx = Cx {
            env,
            defaults: &parts.defaults,
            found: &found,
        };
        if let Some(m) = cx.model(name, &parts) {
            models.push(m);
        }
    }
    let found = found.into_inner();
    if !found.is_empty() {
        return Err(in_source_order(found));
    }
    Ok(Spec {
        name: name.to_string(),
        models,
    })
}

// ---------------------------------------------------------------------------
// Statements of a file, sorted by kind.

struct Parts<'a> {
    input: Option<&'a Value>,
    defaults: HashMap<char, Vec<&'a Annot>>,
    sweeps: Vec<&'a Sweep>,
    net: Option<(&'a Chain, SourceSpan)>,
    encoder: Option<(&'a Chain, SourceSpan)>,
    decoder: Option<(&'a NetBody, SourceSpan)>,
    train: Option<(&'a [Entry], SourceSpan)>,
}

fn twice(span: SourceSpan, what: &str) -> Problem {
    Problem::new(
        "duplicate",
        span,
        format!("{what} is given twice"),
        "second one",
    )
    .help(format!("keep one `{what}`"))
}

impl<'a> Parts<'a> {
    /// Sort the statements; statements given twice or a misplaced mirror are all
    /// reported, and stop the build (which of two `net` lines is meant?).
    fn collect(file: &'a File) -> Result<Self, Vec<Problem>> {
        let mut found = Vec::new();
        let mut p = Parts {
            input: None,
            defaults: HashMap::new(),
            sweeps: Vec::new(),
            net: None,
            encoder: None,
            decoder: None,
            train: None,
        };
        for s in &file.stmts {
            match s {
                Stmt::Input(v) => {
                    if p.input.is_some() {
                        found.push(twice(v.span, "input"));
                    }
                    p.input.get_or_insert(v);
                }
                Stmt::Defaults(items) => {
                    for (l, annots) in items {
                        p.defaults.entry(l.node).or_default().extend(annots.iter());
                    }
                }
                Stmt::Sweep(sw) => p.sweeps.push(sw),
                Stmt::Net { part, body, span } => match (part.node, body) {
                    (NetPart::Net, NetBody::Chain(c)) if p.net.is_none() => {
                        p.net = Some((c, *span))
                    }
                    (NetPart::Encoder, NetBody::Chain(c)) if p.encoder.is_none() => {
                        p.encoder = Some((c, *span))
                    }
                    (NetPart::Decoder, b) if p.decoder.is_none() => p.decoder = Some((b, *span)),
                    (NetPart::Net | NetPart::Encoder, NetBody::Mirror { span, .. }) => found.push(
                        Problem::new(
                            "mirror_misplaced",
                            *span,
                            "only a decoder can be a mirror",
                            "mirror of what?",
                        )
                        .help("write `encoder = …` and then `decoder = mirror`"),
                    ),
                    (NetPart::Net, _) => found.push(twice(*span, "net")),
                    (NetPart::Encoder, _) => found.push(twice(*span, "encoder")),
                    (NetPart::Decoder, _) => found.push(twice(*span, "decoder")),
                },
                Stmt::Train { entries, span } => {
                    if p.train.is_some() {
                        found.push(twice(*span, "train"));
                    }
                    p.train.get_or_insert((entries, *span));
                }
            }
        }
        if !found.is_empty() {
            return Err(found);
        }
        let only = |p: Problem| Err(vec![p]);
        match (&p.net, &p.encoder, &p.decoder) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (Some((_, s)), _, _) => {
                return only(Problem::new(
                    "net_shape",
                    *s,
                    "a spec has either `net = …` or `encoder = …` with `decoder = …`, not both",
                    "here",
                )
                .help("put the whole autoencoder in `net` (mark the code with `as code`), or split it into encoder and decoder"))
            }
            (None, Some((_, s)), None) => {
                return only(Problem::new("net_shape", *s, "an encoder needs a decoder", "no decoder")
                    .help("add `decoder = mirror` or `decoder = F…`"))
            }
            (None, None, Some((_, s))) => {
                return only(Problem::new("net_shape", *s, "a decoder needs an encoder", "no encoder")
                    .help("add `encoder = F…` before the decoder"))
            }
            (None, None, None) => {
                return only(Problem::new(
                    "net_shape",
                    SourceSpan::new(0.into(), 0),
                    "the spec defines no network",
                    "expected `net = …`",
                )
                .help("add a line such as `net = C64[3x3 relu] × P2 × F10[softmax]`"))
            }
        }
        Ok(p)
    }
}

// ---------------------------------------------------------------------------
// Building one model.

/// The largest count a spec may write (sizes, repetitions, epochs): anything larger is
/// a typo or would not fit in memory, and keeping counts this small keeps every product
/// of a few of them within 64 bits.
const MAX_COUNT: f64 = 1e9;

struct Cx<'a, 'e> {
    env: &'e Env<'a>,
    defaults: &'e HashMap<char, Vec<&'a Annot>>,
    /// Problems found so far, in every model: the builder notes one and goes on with
    /// what does not depend on it.
    found: &'e RefCell<Vec<Problem>>,
}

fn bad(code: &'static str, span: SourceSpan, msg: impl Into<String>, label: &str) -> Problem {
    Problem::new(code, span, msg, label)
}

impl<'a> Cx<'a, '_> {
    fn note(&self, p: Problem) {
        self.found.borrow_mut().push(p);
    }

    /// The result's value, or `None` with its problem noted.
    fn keep<T>(&self, r: R<T>) -> Option<T> {
        r.map_err(|p| self.note(p)).ok()
    }

    /// How many problems are noted; with [`Self::clean_since`], whether a step found any.
    fn mark(&self) -> usize {
        self.found.borrow().len()
    }

    fn clean_since(&self, mark: usize) -> bool {
        self.found.borrow().len() == mark
    }

    /// Replace `$name` by its bound value (keeping the reference's span).
    fn resolve(&self, v: &Value) -> R<Value> {
        match &v.node {
            ValueKind::Param(name) => match self.env.iter().rev().find(|(n, _)| n == name) {
                Some((_, Bound::Scalar(b))) => Ok(Value {
                    node: b.node.clone(),
                    span: v.span,
                }),
                Some((_, Bound::Fragment(..))) => Err(bad(
                    "param_kind",
                    v.span,
                    format!("`${name}` stands for layers here, not a value"),
                    "a layer chain",
                )
                .help(format!(
                    "use `${name}` as a layer in the chain, e.g. `F784 × ${name} × F10`"
                ))),
                None => Err(self.unknown_param(name, v.span)),
            },
            ValueKind::Dims(ds) => Ok(Value {
                node: ValueKind::Dims(ds.iter().map(|d| self.resolve(d)).collect::<R<_>>()?),
                span: v.span,
            }),
            _ => Ok(v.clone()),
        }
    }

    fn unknown_param(&self, name: &str, span: SourceSpan) -> Problem {
        let names: Vec<&str> = self.env.iter().map(|(n, _)| n.as_str()).collect();
        let help = if names.is_empty() {
            format!("declare it first: `sweep {name} in {{…}}`")
        } else {
            suggest(name, &names)
        };
        bad(
            "unknown_param",
            span,
            format!("unknown parameter `${name}`"),
            "not swept",
        )
        .help(help)
    }

    fn num(&self, v: &Value, what: &str) -> R<f64> {
        let v = self.resolve(v)?;
        match v.node {
            ValueKind::Num(x, _) if x.is_finite() => Ok(x),
            _ => Err(bad(
                "expected_number",
                v.span,
                format!("{what} must be a number"),
                "not a number",
            )
            .help(format!("write a number for {what}, e.g. `2`"))),
        }
    }

    fn count(&self, v: &Value, what: &str) -> R<usize> {
        let x = self.num(v, what)?;
        if x >= 1.0 && x.fract() == 0.0 && x <= MAX_COUNT {
            Ok(x as usize)
        } else if x > MAX_COUNT {
            Err(bad(
                "too_large",
                v.span,
                format!("{what} {x} is too large: archc accepts at most 1,000,000,000"),
                "too large",
            )
            .help(format!(
                "a {what} this large would not fit in memory; write a realistic size"
            )))
        } else {
            Err(bad(
                "expected_count",
                v.span,
                format!("{what} must be a whole number ≥ 1, got {x}"),
                "not a count",
            )
            .help(format!("write a positive integer for {what}")))
        }
    }

    fn fraction(&self, v: &Value, what: &str, lo_open: bool) -> R<f32> {
        let x = self.num(v, what)?;
        let ok = if lo_open {
            x > 0.0 && x <= 1.0
        } else {
            (0.0..1.0).contains(&x)
        };
        if ok {
            Ok(x as f32)
        } else {
            let range = if lo_open { "(0, 1]" } else { "[0, 1)" };
            Err(bad(
                "out_of_range",
                v.span,
                format!("{what} must lie in {range}, got {x}"),
                "out of range",
            )
            .help(format!("{what} is a probability")))
        }
    }

    fn nonneg(&self, v: &Value, what: &str) -> R<f32> {
        let x = self.num(v, what)?;
        if x >= 0.0 {
            Ok(x as f32)
        } else {
            Err(bad(
                "out_of_range",
                v.span,
                format!("{what} must be ≥ 0, got {x}"),
                "negative",
            )
            .help(format!("give a non-negative {what}")))
        }
    }

    fn word(&self, v: &Value, what: &str) -> R<(String, SourceSpan)> {
        let v = self.resolve(v)?;
        match v.node {
            ValueKind::Ident(s) => Ok((s, v.span)),
            _ => Err(bad(
                "expected_name",
                v.span,
                format!("{what} must be a name"),
                "not a name",
            )
            .help(format!("write a name for {what}"))),
        }
    }

    /// `3` → 3×3, `3x5` → 3×5.
    fn pair2(&self, v: &Value, what: &str) -> R<[usize; 2]> {
        let v = self.resolve(v)?;
        match &v.node {
            ValueKind::Dims(ds) if ds.len() == 2 => {
                Ok([self.count(&ds[0], what)?, self.count(&ds[1], what)?])
            }
            ValueKind::Dims(_) => Err(bad(
                "expected_2d",
                v.span,
                format!("{what} must be one or two numbers"),
                "wrong rank",
            )
            .help(format!("write {what} as `3` or `3x3`"))),
            _ => {
                let n = self.count(&v, what)?;
                Ok([n, n])
            }
        }
    }

    fn pad(&self, v: &Value) -> R<(Pad, String)> {
        let r = self.resolve(v)?;
        match &r.node {
            ValueKind::Ident(s) if s == "same" => Ok((Pad::Same, "same".into())),
            ValueKind::Ident(s) if s == "valid" => Ok((Pad::Valid, "valid".into())),
            ValueKind::Num(x, _) if *x >= 0.0 && x.fract() == 0.0 && *x <= 1e6 => {
                Ok((Pad::N(*x as usize), format!("pad={x}")))
            }
            _ => Err(bad(
                "bad_padding",
                r.span,
                "padding must be `same`, `valid` or a number of pixels",
                "bad padding",
            )
            .help("e.g. `[same]`, `[valid]` or `[pad=1]`")),
        }
    }
}

impl<'a> Cx<'a, '_> {
    /// One model, or `None` when a problem was noted. The training section, the input
    /// and each layer are checked independently; how they fit together only when each
    /// of them is sound.
    fn model(&self, spec_name: &str, parts: &Parts<'a>) -> Option<Model> {
        let mark = self.mark();
        let t = match parts.train {
            Some((entries, span)) => Some(self.train(entries, span)),
            None => {
                self.note(
                    bad(
                        "missing_train",
                        SourceSpan::new(0.into(), 0),
                        "the spec has no training section",
                        "expected `train { … }`",
                    )
                    .help(
                        "add `train { dataset mnist }` (with loss, optimizer, epochs, … as needed)",
                    ),
                );
                None
            }
        };
        let dataset = t.as_ref().and_then(|t| t.data.map(|(d, _)| d));
        let input_shape = match parts.input {
            Some(v) => self.keep(self.input(v, dataset)),
            None => dataset.map(|d| d.default_input()),
        };
        let mut layers = Vec::new();
        let mut code_layer = None;
        if let Some((c, _)) = parts.net {
            self.chain_layers(c, input_shape.clone(), &mut layers);
        } else if let (Some((enc, enc_span)), Some((dec, _))) = (parts.encoder, parts.decoder) {
            let built = self.chain_layers(enc, input_shape.clone(), &mut layers);
            if built && layers.is_empty() {
                self.note(
                    bad("net_shape", enc_span, "empty encoder", "here")
                        .help("give the encoder at least one layer"),
                );
            }
            // The decoder's shapes follow the encoder's, known only if it was built.
            let code_shape = match layers.last() {
                Some(l) if built => Some(l.output_shape.clone()),
                _ => None,
            };
            code_layer = layers.len().checked_sub(1);
            match dec {
                NetBody::Chain(c) => {
                    self.chain_layers(c, code_shape, &mut layers);
                }
                NetBody::Mirror { annots, span } => match (&code_shape, &input_shape) {
                    (Some(_), Some(input)) => {
                        if let Some(dec) = self.keep(self.mirror(&layers, input, annots, *span)) {
                            layers.extend(dec);
                        }
                    }
                    // Nothing to mirror yet: check the decoder's own annotations.
                    _ => {
                        let refs: Vec<&Annot> = annots.iter().collect();
                        self.opts(layers::letter('A').expect("A is a letter"), &refs);
                    }
                },
            }
        }
        if !self.clean_since(mark) {
            return None;
        }
        // Clean: the training section named a dataset and the input shape is known.
        let (t, input_shape) = (t?, input_shape?);
        let data = t.data?;
        self.keep(self.finish(spec_name, t, data, input_shape, layers, code_layer))
    }

    /// The declared input: `D` or `C×H×W`, and the dataset's examples when it is known.
    fn input(&self, v: &Value, dataset: Option<DatasetName>) -> R<Vec<usize>> {
        let v = self.resolve(v)?;
        let shape = match &v.node {
            ValueKind::Dims(ds) if ds.len() == 3 => ds
                .iter()
                .map(|d| self.count(d, "input size"))
                .collect::<R<Vec<_>>>()?,
            ValueKind::Num(..) => vec![self.count(&v, "input size")?],
            _ => {
                return Err(bad(
                    "bad_input",
                    v.span,
                    "input must be `D` or `C×H×W`",
                    "bad input shape",
                )
                .help("e.g. `input 784` or `input 1x28x28`"))
            }
        };
        if let Some(d) = dataset {
            check_input(&shape, d, v.span)?;
        }
        Ok(shape)
    }

    /// The checks between the parts of a model whose parts are each sound.
    fn finish(
        &self,
        spec_name: &str,
        t: train::Train,
        (dataset, split): (DatasetName, Split),
        input_shape: Vec<usize>,
        layers: Vec<Layer>,
        mut code_layer: Option<usize>,
    ) -> R<Model> {
        for (i, l) in layers.iter().enumerate() {
            if l.label.as_deref() == Some("code") {
                if code_layer.is_some_and(|c| c != i) {
                    return Err(bad("duplicate", l.span, "two code layers", "second code layer")
                        .help("mark exactly one layer `as code` (an encoder's last layer is the code already)"));
                }
                code_layer = Some(i);
            }
        }
        let target = t.target.unwrap_or(if code_layer.is_some() {
            Target::Input
        } else {
            Target::Labels
        });
        let last = layers.last().expect("a chain has at least one layer");
        let last_act = layers.iter().rev().find_map(Layer::activation);
        let out_elems = elements(&last.output_shape);
        match target {
            Target::Labels => {
                let classes = dataset.classes();
                if last.output_shape != [classes] {
                    return Err(bad("output_size", last.span, format!("the network outputs {} values but {} has {classes} classes", fmt_shape(&last.output_shape), names::dataset_name(dataset)), "last layer")
                        .help(format!("end a classifier with `F{classes}[softmax]`; for an autoencoder write `target input` in the train section")));
                }
            }
            Target::Input => {
                let in_elems = elements(&input_shape);
                if out_elems != in_elems {
                    return Err(bad(
                        "output_size",
                        last.span,
                        format!(
                            "an autoencoder must output its input size {}, but this one outputs {}",
                            fmt_shape(&input_shape),
                            fmt_shape(&last.output_shape)
                        ),
                        "last layer",
                    )
                    .help(format!(
                        "end the decoder with `F{}[sigmoid]`, or use `decoder = mirror`",
                        in_elems.unwrap_or(0)
                    )));
                }
            }
        }
        let loss = match t.loss {
            Some(l) => l,
            None => match (target, last_act) {
                (Target::Labels, _) => Loss::CrossEntropy,
                (Target::Input, Some(Activation::Sigmoid)) => Loss::BinaryCrossEntropy,
                (Target::Input, _) => Loss::MeanSquaredError,
            },
        };
        let need = match loss {
            Loss::CrossEntropy => Some(Activation::Softmax),
            Loss::BinaryCrossEntropy => Some(Activation::Sigmoid),
            Loss::MeanSquaredError => None,
        };
        // Shifts, flips and rotations move pixels within an image: a flat input has none.
        if let (Some(_), Some(span)) = (t.augment, t.augment_span) {
            if input_shape.len() != 3 {
                return Err(bad(
                    "needs_image",
                    span,
                    format!(
                        "augmentation needs image inputs C×H×W, but the input is {}",
                        input_shape
                            .iter()
                            .map(|d| d.to_string())
                            .collect::<Vec<_>>()
                            .join("×")
                    ),
                    "augmentation",
                )
                .help("declare the input as an image (e.g. `input 1x28x28`) or remove `augment`"));
            }
        }
        if let Some(need) = need {
            if last_act != Some(need) {
                let span = t.loss_span.unwrap_or(last.span);
                return Err(bad(
                    "loss_activation",
                    span,
                    format!(
                        "{} needs a {} output, but the last activation is {}",
                        names::loss_name(loss),
                        names::activation_name(need),
                        last_act.map_or("linear", names::activation_name)
                    ),
                    "loss and output disagree",
                )
                .help(format!(
                    "end the network with `[{}]`, or choose another loss",
                    names::activation_name(need)
                )));
            }
        }
        let sweep_point: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(n, b)| {
                (
                    n.clone(),
                    match b {
                        Bound::Scalar(v) | Bound::Fragment(_, v) => value_text(v),
                    },
                )
            })
            .collect();
        let name = if sweep_point.is_empty() {
            spec_name.to_string()
        } else {
            let inner: Vec<String> = sweep_point
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            format!("{spec_name}[{}]", inner.join(","))
        };
        Ok(Model {
            name,
            sweep_point,
            input_shape,
            layers,
            code_layer,
            train: TrainConfig {
                dataset,
                split,
                target,
                loss,
                optimizer: t.optimizer,
                schedule: t.schedule,
                epochs: t.epochs,
                batch: t.batch,
                seed: t.seed,
                augment: t.augment,
                noise: t.noise,
                pretrain: t.pretrain,
            },
        })
    }
}

/// A declared input must be the dataset's examples: its image `C×H×W`, or flattened.
fn check_input(shape: &[usize], dataset: DatasetName, span: SourceSpan) -> R<()> {
    let image = dataset.image_shape();
    let flat = image.iter().product::<usize>();
    if shape == image || shape == [flat] {
        return Ok(());
    }
    Err(bad(
        "input_dataset",
        span,
        format!(
            "the input is {} but {} examples are {} images",
            fmt_shape(shape),
            names::dataset_name(dataset),
            fmt_shape(&image)
        ),
        "disagrees with the dataset",
    )
    .help(format!(
        "write `input {}` (or `input {flat}` for flat vectors), or remove the `input` line",
        image.map(|d| d.to_string()).join("x")
    )))
}

/// A layer's problem at the layer's span.
fn at(p: LayerProblem, span: SourceSpan) -> Problem {
    Problem::new(p.code, span, p.message, p.label).help(p.help)
}

fn canonical_key(k: &str) -> &str {
    match k {
        "k" => "kernel",
        "s" => "stride",
        "padding" => "pad",
        "activation" => "act",
        "l2" | "weight_decay" => "wd",
        "epsilon" => "eps",
        "p" => "rate",
        other => other,
    }
}
