//! Syntax tree → IR: expands sweeps, repetitions and mirrored decoders, interprets
//! annotations (with defaults), infers shapes and validates the result.

use super::layers::{self, Annotations, Bare, Main, Mirror, Pad};
use super::names;
use super::shape::{elements, fmt_shape, LayerProblem};
use super::*;
use crate::syntax::ast::*;
use crate::syntax::diag::{suggest, Problem};
use crate::syntax::parse;
use miette::SourceSpan;
use std::collections::HashMap;
use std::path::Path;

type R<T> = Result<T, Problem>;

/// Parse, expand sweeps, build and validate the IR of one spec.
pub fn compile(name: &str, source: &str) -> miette::Result<Spec> {
    compile_named(name, name, source)
}

/// Read a spec file and compile it; the spec is named after the file stem.
pub fn load(path: &Path) -> miette::Result<Spec> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        miette::miette!(
            code = "archc::read",
            help = "give the path of a `.arch` file, e.g. specs/cifar_base.arch",
            "cannot read spec {}: {e}",
            path.display()
        )
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "spec".into());
    compile_named(&path.display().to_string(), &stem, &source)
}

fn compile_named(display: &str, name: &str, source: &str) -> miette::Result<Spec> {
    build(name, source).map_err(|p| miette::Report::new(p.with_source(display, source)))
}

/// Build without attaching the source (tests and tools that want the plain problem).
pub fn build(name: &str, source: &str) -> R<Spec> {
    let file = parse(source)?;
    let parts = Parts::collect(&file)?;
    let points = sweep_points(&parts.sweeps)?;
    let mut models = Vec::with_capacity(points.len());
    for env in &points {
        let cx = Cx {
            env,
            defaults: &parts.defaults,
        };
        models.push(cx.model(name, &parts)?);
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
    fn collect(file: &'a File) -> R<Self> {
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
                    if p.input.replace(v).is_some() {
                        return Err(twice(v.span, "input"));
                    }
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
                    (NetPart::Net | NetPart::Encoder, NetBody::Mirror { span, .. }) => {
                        return Err(Problem::new(
                            "mirror_misplaced",
                            *span,
                            "only a decoder can be a mirror",
                            "mirror of what?",
                        )
                        .help("write `encoder = …` and then `decoder = mirror`"))
                    }
                    (NetPart::Net, _) => return Err(twice(*span, "net")),
                    (NetPart::Encoder, _) => return Err(twice(*span, "encoder")),
                    (NetPart::Decoder, _) => return Err(twice(*span, "decoder")),
                },
                Stmt::Train { entries, span } => {
                    if p.train.replace((entries, *span)).is_some() {
                        return Err(twice(*span, "train"));
                    }
                }
            }
        }
        match (&p.net, &p.encoder, &p.decoder) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (Some((_, s)), _, _) => {
                return Err(Problem::new(
                    "net_shape",
                    *s,
                    "a spec has either `net = …` or `encoder = …` with `decoder = …`, not both",
                    "here",
                )
                .help("put the whole autoencoder in `net` (mark the code with `as code`), or split it into encoder and decoder"))
            }
            (None, Some((_, s)), None) => {
                return Err(Problem::new("net_shape", *s, "an encoder needs a decoder", "no decoder")
                    .help("add `decoder = mirror` or `decoder = F…`"))
            }
            (None, None, Some((_, s))) => {
                return Err(Problem::new("net_shape", *s, "a decoder needs an encoder", "no encoder")
                    .help("add `encoder = F…` before the decoder"))
            }
            (None, None, None) => {
                return Err(Problem::new(
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
// Sweeps: each `sweep` line binds one name (or a tuple of names) per entry; several
// sweep lines form a grid (their Cartesian product).

#[derive(Clone)]
enum Bound<'a> {
    Scalar(&'a Value),
    /// A chain fragment, with the entry's label for the model name.
    Fragment(&'a Chain, &'a Value),
}

type Env<'a> = Vec<(String, Bound<'a>)>;

fn value_text(v: &Value) -> String {
    match &v.node {
        ValueKind::Num(_, t) => t.clone(),
        ValueKind::Ident(s) => s.clone(),
        ValueKind::Param(p) => format!("${p}"),
        ValueKind::Dims(d) => d.iter().map(value_text).collect::<Vec<_>>().join("x"),
        ValueKind::Pair(a, b) => format!("{}/{}", value_text(a), value_text(b)),
    }
}

fn sweep_points<'a>(sweeps: &[&'a Sweep]) -> R<Vec<Env<'a>>> {
    let mut seen: HashMap<&str, SourceSpan> = HashMap::new();
    let mut points: Vec<Env<'a>> = vec![Vec::new()];
    for sw in sweeps {
        for n in &sw.names {
            if seen.insert(&n.node, n.span).is_some() {
                return Err(Problem::new(
                    "duplicate",
                    n.span,
                    format!("parameter `{}` is swept twice", n.node),
                    "again here",
                )
                .help("sweep each parameter once; a grid is written as two sweep lines"));
            }
        }
        if sw.entries.is_empty() {
            return Err(Problem::new(
                "empty_sweep",
                sw.span,
                "this sweep has no values, so the spec expands to no model",
                "empty set",
            )
            .help(format!(
                "list at least one value, e.g. `sweep {} in {{2, 8}}`",
                sw.names[0].node
            )));
        }
        let mut next = Vec::with_capacity(points.len() * sw.entries.len());
        for env in &points {
            for e in &sw.entries {
                if e.values.len() != sw.names.len() {
                    return Err(Problem::new(
                        "sweep_arity",
                        e.span,
                        format!(
                            "this entry has {} value(s) but the sweep names {} parameter(s)",
                            e.values.len(),
                            sw.names.len()
                        ),
                        "wrong number of values",
                    )
                    .help(
                        "give one value per swept name, e.g. `(3, 5)` for `sweep (k1, k2) in …`",
                    ));
                }
                let mut env = env.clone();
                for (n, v) in sw.names.iter().zip(&e.values) {
                    let b = match &e.fragment {
                        Some(c) => Bound::Fragment(c, v),
                        None => Bound::Scalar(v),
                    };
                    env.push((n.node.clone(), b));
                }
                next.push(env);
            }
        }
        points = next;
    }
    Ok(points)
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
}

fn bad(code: &'static str, span: SourceSpan, msg: impl Into<String>, label: &str) -> Problem {
    Problem::new(code, span, msg, label)
}

impl<'a> Cx<'a, '_> {
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

    /// Fold the defaults for `letter` and then the layer's own annotations together.
    fn opts(&self, row: &layers::Letter, annots: &[&Annot]) -> R<Annotations> {
        let (letter, keys, words) = (row.letter, row.keys, row.words);
        let mut o = Annotations::default();
        for a in annots {
            match &a.key {
                None => {
                    let v = self.resolve(&a.value)?;
                    match &v.node {
                        ValueKind::Ident(w) => {
                            if !words.contains(&w.as_str()) {
                                return Err(self.unknown_annotation(letter, w, v.span));
                            }
                            if let Some(act) = names::activation(w) {
                                o.act = Some(act);
                            } else if let Some(i) = names::init(w) {
                                o.init = Some(i);
                            } else if let Some(p) = names::lookup(names::POOLS, w) {
                                o.pool = Some(p);
                            } else {
                                match w.as_str() {
                                    "same" | "valid" => o.pad = Some(self.pad(&v)?),
                                    "clip" => o.clip = true,
                                    other => o.noise = Some(other.to_string()),
                                }
                            }
                        }
                        _ if matches!(row.bare, Bare::Pair(_)) => {
                            let Bare::Pair(what) = row.bare else {
                                unreachable!()
                            };
                            o.kernel = Some(self.pair2(&v, what)?)
                        }
                        _ if row.bare == Bare::Rate => {
                            o.rate = Some(self.fraction(&v, "dropout rate", false)?)
                        }
                        _ => {
                            return Err(bad(
                                "unknown_annotation",
                                v.span,
                                format!("a number means nothing here for {letter}"),
                                "unexpected value",
                            )
                            .help(format!(
                                "{letter} takes: {}",
                                keys.iter()
                                    .map(|k| format!("{k}=…"))
                                    .chain(words.iter().map(|w| w.to_string()))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )))
                        }
                    }
                }
                Some(k) => {
                    let key = canonical_key(&k.node);
                    if !keys.contains(&key) {
                        return Err(bad(
                            "unknown_annotation",
                            k.span,
                            format!("unknown annotation `{}` for {letter}", k.node),
                            "unknown name",
                        )
                        .help(suggest(&k.node, keys)));
                    }
                    let v = &a.value;
                    match key {
                        "kernel" | "size" | "factor" => o.kernel = Some(self.pair2(v, key)?),
                        "stride" => o.stride = Some(self.pair2(v, "stride")?),
                        "pad" => o.pad = Some(self.pad(v)?),
                        "act" => {
                            let (w, span) = self.word(v, "activation")?;
                            o.act = Some(
                                names::activation(&w)
                                    .ok_or_else(|| self.unknown_annotation('A', &w, span))?,
                            )
                        }
                        "init" => {
                            let (w, span) = self.word(v, "initialisation")?;
                            o.init = Some(names::init(&w).ok_or_else(|| {
                                bad(
                                    "unknown_annotation",
                                    span,
                                    format!("unknown initialisation `{w}`"),
                                    "unknown name",
                                )
                                .help(suggest(&w, &names::all(names::INITS)))
                            })?)
                        }
                        "filters" | "units" => o.size = Some(self.count(v, key)?),
                        "wd" => o.wd = Some(self.nonneg(v, "weight decay")?),
                        "dropout" => o.dropout = Some(self.fraction(v, "dropout rate", false)?),
                        "rate" => o.rate = Some(self.fraction(v, "dropout rate", false)?),
                        "keep" => o.keep = Some(self.fraction(v, "keep probability", true)?),
                        "sigma" => o.sigma = Some(self.nonneg(v, "sigma")?),
                        "momentum" => o.momentum = Some(self.fraction(v, "momentum", false)?),
                        "eps" => o.eps = Some(self.nonneg(v, "epsilon")?),
                        _ => unreachable!("key list and match agree"),
                    }
                }
            }
        }
        Ok(o)
    }

    fn unknown_annotation(&self, letter: char, w: &str, span: SourceSpan) -> Problem {
        let words = layers::letter(letter).map_or(&[][..], |r| r.words);
        bad(
            "unknown_annotation",
            span,
            format!("unknown annotation `{w}` for {letter}"),
            "unknown name",
        )
        .help(suggest(w, words))
    }

    /// Flatten a chain into its layers, expanding repetitions and fragment parameters.
    fn expand(&self, chain: &'a Chain, out: &mut Vec<&'a LayerAst>, depth: usize) -> R<()> {
        if depth > 16 {
            return Err(bad(
                "recursion",
                chain.span,
                "layer chains nest too deeply",
                "here",
            )
            .help("a sweep fragment may not refer to itself"));
        }
        for t in &chain.terms {
            let n = match &t.repeat {
                Some(v) => self.count(v, "repetition count")?,
                None => 1,
            };
            if n > 1000 {
                return Err(
                    bad("too_many", t.span, "more than 1000 repetitions", "here")
                        .help("use a smaller repetition count"),
                );
            }
            for _ in 0..n {
                match &t.kind {
                    TermKind::Layer(l) => out.push(l),
                    TermKind::Group(c) => self.expand(c, out, depth + 1)?,
                    TermKind::Param(name) => {
                        match self.env.iter().rev().find(|(n, _)| n == name) {
                            Some((_, Bound::Fragment(c, _))) => self.expand(c, out, depth + 1)?,
                            Some((_, Bound::Scalar(_))) => {
                                return Err(bad(
                                    "param_kind",
                                    t.span,
                                    format!("`${name}` is a value, not a layer chain"),
                                    "used as layers",
                                )
                                .help(format!("use it inside a layer, e.g. `F${name}`, or sweep over chains: `sweep {name} in {{a: F100, b: F200}}`")))
                            }
                            None => return Err(self.unknown_param(name, t.span)),
                        }
                    }
                }
                if out.len() > 10_000 {
                    return Err(bad(
                        "too_many",
                        t.span,
                        "the network has more than 10000 layers",
                        "here",
                    )
                    .help("use smaller repetition counts"));
                }
            }
        }
        Ok(())
    }

    /// One written layer → its IR layers (a trailing `dropout=` adds a Dropout layer).
    fn layers_of(&self, l: &LayerAst, input: &[usize]) -> R<Vec<Layer>> {
        let letter = l.letter.node;
        let row = layers::letter(letter).ok_or_else(|| {
            bad(
                "unknown_letter",
                l.letter.span,
                format!("unknown layer letter `{letter}`"),
                "unknown layer",
            )
            .help(layers::letter_help())
        })?;
        let mut annots: Vec<&Annot> = self.defaults.get(&letter).cloned().unwrap_or_default();
        annots.extend(l.annots.iter());
        let mut o = self.opts(row, &annots)?;
        if let Some(k) = &l.kernel {
            if !row.window {
                return Err(bad(
                    "unknown_annotation",
                    k.span,
                    format!("{letter} has no kernel"),
                    "not allowed",
                )
                .help("`@k×k` is for C and P"));
            }
            o.kernel = Some(self.pair2(k, "kernel size")?);
        }
        if let Some(s) = &l.stride {
            if !row.window {
                return Err(bad(
                    "unknown_annotation",
                    s.span,
                    format!("{letter} has no stride"),
                    "not allowed",
                )
                .help("`/s` is for C and P"));
            }
            o.stride = Some(self.pair2(s, "stride")?);
        }
        match (row.main, &l.main) {
            (_, None) => {}
            (Main::Count(what), Some(v)) => o.count = Some(self.count(v, what)?),
            (Main::Rate, Some(v)) => o.rate = Some(self.fraction(v, "dropout rate", false)?),
            (Main::None, Some(v)) => {
                return Err(bad(
                    "unknown_annotation",
                    v.span,
                    format!("{letter} takes no number"),
                    "unexpected",
                )
                .help(format!("write `{letter}` alone, options go in `[…]`")))
            }
        }
        let (kind, notation) = (row.construct)(&o, input).map_err(|p| at(p, l.span))?;
        let mut out = vec![self.layer(kind, notation, l, input)?];
        if let Some(rate) = o.dropout {
            let shape = out[0].output_shape.clone();
            let (kind, notation) = layers::dropout(rate);
            let mut d = self.layer(kind, notation, l, &shape)?;
            d.label = None;
            out.push(d);
        }
        Ok(out)
    }

    fn layer(&self, kind: LayerKind, notation: String, l: &LayerAst, input: &[usize]) -> R<Layer> {
        let label = l.label.as_ref().map(|s| s.node.clone());
        Layer::new(kind, notation, l.span, label, input).map_err(|p| at(p, l.span))
    }

    fn chain_layers(&self, chain: &'a Chain, input: &[usize], layers: &mut Vec<Layer>) -> R<()> {
        let mut written = Vec::new();
        self.expand(chain, &mut written, 0)?;
        for l in written {
            let shape = layers
                .last()
                .map(|x| x.output_shape.clone())
                .unwrap_or_else(|| input.to_vec());
            layers.extend(self.layers_of(l, &shape)?);
        }
        Ok(())
    }

    /// The decoder of a dense encoder, reversed: hidden widths in reverse order with the
    /// encoder's activations, ending in the input size with `out` (sigmoid by default).
    fn mirror(
        &self,
        enc: &[Layer],
        input: &[usize],
        annots: &[Annot],
        span: SourceSpan,
    ) -> R<Vec<Layer>> {
        let refs: Vec<&Annot> = annots.iter().collect();
        let o = self.opts(layers::letter('A').expect("A is a letter"), &refs)?;
        let out_act = o.act.unwrap_or(Activation::Sigmoid);
        let mut dense = Vec::new();
        for l in enc {
            match layers::mirror(&l.kind) {
                Mirror::Dense {
                    units,
                    activation,
                    init,
                    weight_decay,
                } => dense.push((units, activation, init, weight_decay)),
                Mirror::Skip => {}
                Mirror::Reject => {
                    return Err(bad(
                        "mirror_conv",
                        span,
                        "`mirror` can only reverse a dense encoder",
                        "cannot mirror",
                    )
                    .help(format!(
                        "the encoder has `{}`; write the decoder out, e.g. with U layers",
                        l.notation
                    )))
                }
            }
        }
        if dense.is_empty() {
            return Err(bad(
                "mirror_conv",
                span,
                "the encoder has no dense layer to mirror",
                "nothing to mirror",
            )
            .help("write `encoder = F…` with at least one F layer"));
        }
        let d_in = elements(input).unwrap_or(usize::MAX);
        let mut plan: Vec<(usize, Activation, Init, f32)> = Vec::new();
        for i in (0..dense.len() - 1).rev() {
            plan.push(dense[i]);
        }
        plan.push((d_in, out_act, Init::GlorotUniform, 0.0));
        let mut shape = enc
            .last()
            .map(|l| l.output_shape.clone())
            .unwrap_or_else(|| input.to_vec());
        let mut out = Vec::new();
        for (units, activation, init, weight_decay) in plan {
            let kind = layers::dense(units, activation, init, weight_decay);
            // The mirrored notation names the activation only.
            let notation = format!("F{units} {}", names::activation_name(activation));
            let layer = Layer::new(kind, notation, span, None, &shape)
                .map_err(|p| Problem::new(p.code, span, p.message, "mirror").help(p.help))?;
            shape = layer.output_shape.clone();
            out.push(layer);
        }
        Ok(out)
    }

    fn model(&self, spec_name: &str, parts: &Parts<'a>) -> R<Model> {
        let (entries, train_span) = parts.train.ok_or_else(|| {
            bad(
                "missing_train",
                SourceSpan::new(0.into(), 0),
                "the spec has no training section",
                "expected `train { … }`",
            )
            .help("add `train { dataset mnist }` (with loss, optimizer, epochs, … as needed)")
        })?;
        let t = self.train(entries, train_span)?;
        let input_shape = match parts.input {
            Some(v) => {
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
                check_input(&shape, t.dataset, v.span)?;
                shape
            }
            None => t.dataset.default_input(),
        };
        let mut layers = Vec::new();
        let mut code_layer = None;
        if let Some((c, _)) = parts.net {
            self.chain_layers(c, &input_shape, &mut layers)?;
        } else if let (Some((enc, enc_span)), Some((dec, _))) = (parts.encoder, parts.decoder) {
            self.chain_layers(enc, &input_shape, &mut layers)?;
            if layers.is_empty() {
                return Err(bad("net_shape", enc_span, "empty encoder", "here")
                    .help("give the encoder at least one layer"));
            }
            code_layer = Some(layers.len() - 1);
            match dec {
                NetBody::Chain(c) => self.chain_layers(c, &input_shape, &mut layers)?,
                NetBody::Mirror { annots, span } => {
                    let dec = self.mirror(&layers, &input_shape, annots, *span)?;
                    layers.extend(dec);
                }
            }
        }
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
                let classes = t.dataset.classes();
                if last.output_shape != [classes] {
                    return Err(bad("output_size", last.span, format!("the network outputs {} values but {} has {classes} classes", fmt_shape(&last.output_shape), names::dataset_name(t.dataset)), "last layer")
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
                dataset: t.dataset,
                split: t.split,
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

// ---------------------------------------------------------------------------
// The training section.

struct Train {
    dataset: DatasetName,
    split: Split,
    target: Option<Target>,
    loss: Option<Loss>,
    loss_span: Option<SourceSpan>,
    optimizer: Optimizer,
    schedule: Schedule,
    epochs: usize,
    batch: usize,
    seed: u64,
    augment: Option<Augment>,
    augment_span: Option<SourceSpan>,
    noise: Option<Noise>,
    pretrain: Option<Pretrain>,
}

const TRAIN_KEYS: &[&str] = &[
    "dataset",
    "split",
    "target",
    "loss",
    "optimizer",
    "schedule",
    "epochs",
    "batch",
    "seed",
    "augment",
    "noise",
    "pretrain",
];

/// `key=value` options of one entry, checked against the names it accepts.
struct Options<'v> {
    flags: Vec<(String, SourceSpan)>,
    kv: Vec<(String, &'v Value, SourceSpan)>,
}

impl<'a> Cx<'a, '_> {
    fn options<'v>(
        &self,
        items: &'v [Annot],
        keys: &[&str],
        flags: &[&str],
        what: &str,
    ) -> R<Options<'v>> {
        let mut o = Options {
            flags: Vec::new(),
            kv: Vec::new(),
        };
        for a in items {
            match &a.key {
                Some(k) => {
                    let key = canonical_key(&k.node).to_string();
                    let key = if key == "eps" {
                        "epsilon".to_string()
                    } else {
                        key
                    };
                    if !keys.contains(&key.as_str()) {
                        return Err(bad(
                            "unknown_option",
                            k.span,
                            format!("unknown option `{}` for {what}", k.node),
                            "unknown name",
                        )
                        .help(suggest(&k.node, keys)));
                    }
                    if o.kv.iter().any(|(n, ..)| *n == key) {
                        return Err(twice(k.span, &key));
                    }
                    o.kv.push((key, &a.value, a.span));
                }
                None => {
                    let (w, span) = match self.word(&a.value, what) {
                        Ok(x) => x,
                        Err(_) => {
                            return Err(bad(
                                "unknown_option",
                                a.span,
                                format!("unexpected value for {what}"),
                                "what is this?",
                            )
                            .help(format!(
                                "options of {what}: {}",
                                keys.iter()
                                    .map(|k| format!("{k}=…"))
                                    .chain(flags.iter().map(|f| f.to_string()))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )))
                        }
                    };
                    if !flags.contains(&w.as_str()) {
                        let all: Vec<&str> = flags.iter().chain(keys.iter()).copied().collect();
                        return Err(bad(
                            "unknown_option",
                            span,
                            format!("unknown option `{w}` for {what}"),
                            "unknown name",
                        )
                        .help(suggest(&w, &all)));
                    }
                    o.flags.push((w, span));
                }
            }
        }
        Ok(o)
    }

    fn train(&self, entries: &[Entry], span: SourceSpan) -> R<Train> {
        let mut seen: HashMap<&str, SourceSpan> = HashMap::new();
        let find = |k: &str| entries.iter().find(|e| e.key.node == k);
        for e in entries {
            if !TRAIN_KEYS.contains(&e.key.node.as_str()) {
                return Err(bad(
                    "unknown_option",
                    e.key.span,
                    format!("unknown training setting `{}`", e.key.node),
                    "unknown name",
                )
                .help(suggest(&e.key.node, TRAIN_KEYS)));
            }
            if seen.insert(&e.key.node, e.key.span).is_some() {
                return Err(twice(e.key.span, &e.key.node));
            }
        }
        let e = find("dataset").ok_or_else(|| {
            bad(
                "missing_annotation",
                span,
                "the training section names no dataset",
                "no dataset",
            )
            .help("add `dataset mnist`, `dataset cifar10` or `dataset svhn`")
        })?;
        let (v, rest) = head(e)?;
        let (w, wspan) = self.word(v, "dataset")?;
        let dataset = names::dataset(&w).ok_or_else(|| {
            bad(
                "unknown_option",
                wspan,
                format!("unknown dataset `{w}`"),
                "unknown name",
            )
            .help(suggest(&w, &names::all(names::DATASETS)))
        })?;
        // The validation split is the end of the training file.
        let mut split = dataset.default_split();
        let o = self.options(rest, &["split"], &[], "dataset")?;
        let split_v = o.kv.first().map(|(_, v, _)| *v).or_else(|| {
            find("split")
                .and_then(|e| e.items.first())
                .map(|a| &a.value)
        });
        if let Some(v) = split_v {
            let r = self.resolve(v)?;
            match &r.node {
                ValueKind::Pair(a, b) => {
                    split = Split {
                        train: self.count(a, "training examples")?,
                        validation: self.count(b, "validation examples")?,
                    };
                    let total = dataset.training_file_len();
                    if split.train + split.validation > total {
                        return Err(bad("bad_split", r.span, format!("{} + {} examples, but the {} training file has {total}", split.train, split.validation, names::dataset_name(dataset)), "too many")
                            .help("the validation examples come from the end of the training file; shrink one of the two"));
                    }
                }
                _ => {
                    return Err(bad(
                        "bad_split",
                        r.span,
                        "split must be `train/validation`",
                        "bad split",
                    )
                    .help("e.g. `split=45000/5000`"))
                }
            }
        }
        let mut t = Train {
            dataset,
            split,
            target: None,
            loss: None,
            loss_span: None,
            optimizer: Optimizer::Sgd {
                lr: 0.01,
                momentum: 0.0,
                nesterov: false,
            },
            schedule: Schedule::Constant,
            epochs: 10,
            batch: 32,
            seed: 0,
            augment: None,
            augment_span: None,
            noise: None,
            pretrain: None,
        };
        for e in entries {
            match e.key.node.as_str() {
                "dataset" | "split" => {}
                "target" => {
                    let (v, rest) = head(e)?;
                    self.options(rest, &[], &[], "target")?;
                    let (w, s) = self.word(v, "target")?;
                    t.target = Some(names::lookup(names::TARGETS, &w).ok_or_else(|| {
                        bad(
                            "unknown_option",
                            s,
                            format!("unknown target `{w}`"),
                            "unknown name",
                        )
                        .help(suggest(&w, &names::all(names::TARGETS)))
                    })?);
                }
                "loss" => {
                    let (v, rest) = head(e)?;
                    self.options(rest, &[], &[], "loss")?;
                    t.loss = Some(self.loss(v)?);
                    t.loss_span = Some(e.span);
                }
                "optimizer" => t.optimizer = self.optimizer(head(e)?)?,
                "schedule" => t.schedule = self.schedule(head(e)?)?,
                "epochs" => t.epochs = self.count(head(e)?.0, "epochs")?,
                "batch" => t.batch = self.count(head(e)?.0, "batch size")?,
                "seed" => {
                    let v = head(e)?.0;
                    let x = self.num(v, "seed")?;
                    if !(x >= 0.0 && x.fract() == 0.0 && x < 9e15) {
                        return Err(bad(
                            "out_of_range",
                            v.span,
                            format!("seed must be a whole number ≥ 0, got {x}"),
                            "bad seed",
                        )
                        .help("e.g. `seed 1`"));
                    }
                    t.seed = x as u64;
                }
                "augment" => {
                    let o = self.options(
                        &e.items,
                        &["shift", "rotate"],
                        &["hflip", "vflip"],
                        "augment",
                    )?;
                    let mut a = Augment {
                        shift: 0.0,
                        hflip: false,
                        vflip: false,
                        rotate: 0.0,
                    };
                    for (k, v, _) in &o.kv {
                        match k.as_str() {
                            "shift" => a.shift = self.fraction(v, "shift", false)?,
                            _ => a.rotate = self.nonneg(v, "rotation")?,
                        }
                    }
                    for (f, _) in &o.flags {
                        match f.as_str() {
                            "hflip" => a.hflip = true,
                            _ => a.vflip = true,
                        }
                    }
                    t.augment = Some(a);
                    t.augment_span = Some(e.span);
                }
                "noise" => {
                    let (v, rest) = head(e)?;
                    t.noise = Some(self.noise(v, rest, "noise")?);
                }
                "pretrain" => {
                    let o = self.options(
                        &e.items,
                        &["epochs", "loss", "noise", "keep", "sigma"],
                        &["clip"],
                        "pretrain",
                    )?;
                    let mut p = Pretrain {
                        epochs: 10,
                        noise: None,
                        loss: Loss::BinaryCrossEntropy,
                    };
                    let mut noise_v = None;
                    let mut rest: Vec<Annot> = Vec::new();
                    for (k, v, s) in &o.kv {
                        match k.as_str() {
                            "epochs" => p.epochs = self.count(v, "pre-training epochs")?,
                            "loss" => p.loss = self.loss(v)?,
                            "noise" => noise_v = Some(*v),
                            _ => rest.push(Annot {
                                key: Some(Spanned {
                                    node: k.clone(),
                                    span: *s,
                                }),
                                value: (*v).clone(),
                                span: *s,
                            }),
                        }
                    }
                    for (f, s) in &o.flags {
                        rest.push(Annot {
                            key: None,
                            value: Spanned {
                                node: ValueKind::Ident(f.clone()),
                                span: *s,
                            },
                            span: *s,
                        });
                    }
                    match noise_v {
                        Some(v) => p.noise = Some(self.noise(v, &rest, "pretrain noise")?),
                        None => {
                            if let Some(a) = rest.first() {
                                return Err(bad(
                                    "unknown_option",
                                    a.span,
                                    "noise options without `noise=`",
                                    "which noise?",
                                )
                                .help(
                                    "write `noise=mask keep=0.75` or `noise=gaussian sigma=0.3`",
                                ));
                            }
                        }
                    }
                    t.pretrain = Some(p);
                }
                _ => unreachable!("keys checked above"),
            }
        }
        Ok(t)
    }

    fn loss(&self, v: &Value) -> R<Loss> {
        let (w, s) = self.word(v, "loss")?;
        names::loss(&w).ok_or_else(|| {
            bad(
                "unknown_option",
                s,
                format!("unknown loss `{w}`"),
                "unknown name",
            )
            .help(suggest(&w, &names::all(names::LOSSES)))
        })
    }

    fn noise(&self, v: &Value, rest: &[Annot], what: &str) -> R<Noise> {
        let (w, s) = self.word(v, what)?;
        match w.as_str() {
            "mask" => {
                let o = self.options(rest, &["keep"], &[], "masking noise")?;
                let (_, kv, _) = o.kv.first().ok_or_else(|| {
                    bad(
                        "missing_annotation",
                        s,
                        "masking noise needs `keep`, the probability that a pixel is kept",
                        "no keep",
                    )
                    .help("e.g. `mask keep=0.75` zeroes about 25% of the pixels")
                })?;
                Ok(Noise::Mask {
                    keep: self.fraction(kv, "keep probability", true)?,
                })
            }
            "gaussian" => {
                let o = self.options(rest, &["sigma"], &["clip"], "gaussian noise")?;
                let (_, sv, _) = o.kv.first().ok_or_else(|| {
                    bad(
                        "missing_annotation",
                        s,
                        "gaussian noise needs `sigma`",
                        "no sigma",
                    )
                    .help("e.g. `gaussian sigma=0.3`")
                })?;
                Ok(Noise::Gaussian {
                    sigma: self.nonneg(sv, "sigma")?,
                    clip: !o.flags.is_empty(),
                })
            }
            _ => Err(bad(
                "unknown_option",
                s,
                format!("unknown noise `{w}`"),
                "unknown name",
            )
            .help(suggest(&w, names::NOISES))),
        }
    }

    fn optimizer(&self, (v, rest): (&Value, &[Annot])) -> R<Optimizer> {
        let (w, s) = self.word(v, "optimizer")?;
        let opt = match w.as_str() {
            "sgd" => {
                let o = self.options(rest, &["lr", "momentum"], &["nesterov"], "sgd")?;
                let (mut lr, mut momentum) = (0.01, 0.0);
                for (k, v, _) in &o.kv {
                    match k.as_str() {
                        "lr" => lr = self.positive(v, "learning rate")?,
                        _ => momentum = self.fraction(v, "momentum", false)?,
                    }
                }
                Optimizer::Sgd {
                    lr,
                    momentum,
                    nesterov: !o.flags.is_empty(),
                }
            }
            "rmsprop" => {
                let o = self.options(rest, &["lr", "rho", "epsilon", "decay"], &[], "rmsprop")?;
                let (mut lr, mut rho, mut epsilon, mut decay) = (0.001, 0.9, 1e-7, 0.0);
                for (k, v, _) in &o.kv {
                    match k.as_str() {
                        "lr" => lr = self.positive(v, "learning rate")?,
                        "rho" => rho = self.fraction(v, "rho", false)?,
                        "epsilon" => epsilon = self.nonneg(v, "epsilon")?,
                        _ => decay = self.nonneg(v, "decay")?,
                    }
                }
                Optimizer::RmsProp {
                    lr,
                    rho,
                    epsilon,
                    decay,
                }
            }
            "adagrad" => {
                let o = self.options(rest, &["lr", "epsilon"], &[], "adagrad")?;
                let (mut lr, mut epsilon) = (0.01, 1e-7);
                for (k, v, _) in &o.kv {
                    match k.as_str() {
                        "lr" => lr = self.positive(v, "learning rate")?,
                        _ => epsilon = self.nonneg(v, "epsilon")?,
                    }
                }
                Optimizer::Adagrad { lr, epsilon }
            }
            "adadelta" => {
                let o = self.options(rest, &["lr", "rho", "epsilon"], &[], "adadelta")?;
                let (mut lr, mut rho, mut epsilon) = (1.0, 0.95, 1e-7);
                for (k, v, _) in &o.kv {
                    match k.as_str() {
                        "lr" => lr = self.positive(v, "learning rate")?,
                        "rho" => rho = self.fraction(v, "rho", false)?,
                        _ => epsilon = self.nonneg(v, "epsilon")?,
                    }
                }
                Optimizer::Adadelta { lr, rho, epsilon }
            }
            "adam" => {
                let o = self.options(rest, &["lr", "beta1", "beta2", "epsilon"], &[], "adam")?;
                let (mut lr, mut beta1, mut beta2, mut epsilon) = (0.001, 0.9, 0.999, 1e-7);
                for (k, v, _) in &o.kv {
                    match k.as_str() {
                        "lr" => lr = self.positive(v, "learning rate")?,
                        "beta1" => beta1 = self.fraction(v, "beta1", false)?,
                        "beta2" => beta2 = self.fraction(v, "beta2", false)?,
                        _ => epsilon = self.nonneg(v, "epsilon")?,
                    }
                }
                Optimizer::Adam {
                    lr,
                    beta1,
                    beta2,
                    epsilon,
                }
            }
            _ => {
                return Err(bad(
                    "unknown_option",
                    s,
                    format!("unknown optimizer `{w}`"),
                    "unknown name",
                )
                .help(suggest(&w, names::OPTIMIZERS)))
            }
        };
        Ok(opt)
    }

    fn positive(&self, v: &Value, what: &str) -> R<f32> {
        let x = self.num(v, what)?;
        if x > 0.0 {
            Ok(x as f32)
        } else {
            Err(bad(
                "out_of_range",
                v.span,
                format!("{what} must be > 0, got {x}"),
                "not positive",
            )
            .help(format!("give a positive {what}")))
        }
    }

    fn schedule(&self, (v, rest): (&Value, &[Annot])) -> R<Schedule> {
        let (w, s) = self.word(v, "schedule")?;
        Ok(match w.as_str() {
            "constant" => {
                self.options(rest, &[], &[], "constant schedule")?;
                Schedule::Constant
            }
            "step" => {
                let o = self.options(rest, &["factor", "every", "floor"], &[], "step schedule")?;
                let (mut factor, mut every, mut floor) = (0.5, 10, 1e-5);
                for (k, v, _) in &o.kv {
                    match k.as_str() {
                        "factor" => factor = self.positive(v, "factor")?,
                        "every" => every = self.count(v, "every")?,
                        _ => floor = self.nonneg(v, "floor")?,
                    }
                }
                Schedule::Step {
                    factor,
                    every,
                    floor,
                }
            }
            "cosine" => {
                let o = self.options(rest, &["min"], &[], "cosine schedule")?;
                let min = match o.kv.first() {
                    Some((_, v, _)) => self.nonneg(v, "min")?,
                    None => 0.0,
                };
                Schedule::Cosine { min }
            }
            _ => {
                return Err(bad(
                    "unknown_option",
                    s,
                    format!("unknown schedule `{w}`"),
                    "unknown name",
                )
                .help(suggest(&w, names::SCHEDULES)))
            }
        })
    }
}

/// The first item of an entry is its main value (`epochs 25`, `optimizer sgd`).
fn head(e: &Entry) -> R<(&Value, &[Annot])> {
    match e.items.first() {
        Some(a) if a.key.is_none() => Ok((&a.value, &e.items[1..])),
        _ => Err(bad(
            "missing_annotation",
            e.span,
            format!("`{}` needs a value", e.key.node),
            "no value",
        )
        .help(format!("e.g. `{}`", example(&e.key.node)))),
    }
}

fn example(key: &str) -> &'static str {
    match key {
        "dataset" => "dataset cifar10 split=45000/5000",
        "target" => "target input",
        "loss" => "loss cross_entropy",
        "optimizer" => "optimizer sgd lr=0.01",
        "schedule" => "schedule step factor=0.5 every=10 floor=1e-5",
        "epochs" => "epochs 25",
        "batch" => "batch 32",
        "seed" => "seed 1",
        "noise" => "noise mask keep=0.75",
        _ => "split 45000/5000",
    }
}
