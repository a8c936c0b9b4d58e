//! One written layer → IR layers: annotations folded with the defaults, repetitions
//! and sweep fragments expanded, mirrored decoders. What each letter accepts and means
//! is `ir::layers`.

use super::*;

impl<'a> Cx<'a, '_> {
    /// Fold the defaults for `letter` and then the layer's own annotations together;
    /// each annotation with a problem is noted and left out.
    pub(super) fn opts(&self, row: &layers::Letter, annots: &[&Annot]) -> Annotations {
        let mut o = Annotations::default();
        for a in annots {
            if let Err(p) = self.annotation(row, a, &mut o) {
                self.note(p);
            }
        }
        o
    }

    /// One annotation into `o`.
    fn annotation(&self, row: &layers::Letter, a: &Annot, o: &mut Annotations) -> R<()> {
        let (letter, keys, words) = (row.letter, row.syntax.keys, row.syntax.words());
        {
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
                        _ if matches!(row.syntax.bare, Bare::Pair(_)) => {
                            let Bare::Pair(what) = row.syntax.bare else {
                                unreachable!()
                            };
                            o.kernel = Some(self.pair2(&v, what)?)
                        }
                        _ if row.syntax.bare == Bare::Rate => {
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
        Ok(())
    }

    fn unknown_annotation(&self, letter: char, w: &str, span: SourceSpan) -> Problem {
        let words = layers::letter(letter).map_or(Vec::new(), |r| r.syntax.words());
        bad(
            "unknown_annotation",
            span,
            format!("unknown annotation `{w}` for {letter}"),
            "unknown name",
        )
        .help(suggest(w, &words))
    }

    /// Flatten a chain into its layers, expanding repetitions and fragment parameters.
    /// `fragments` are the sweep fragments being expanded around `chain` (outermost first);
    /// `depth` counts the groups and fragments around it.
    fn expand(
        &self,
        chain: &'a Chain,
        out: &mut Vec<&'a LayerAst>,
        fragments: &mut Vec<&'a str>,
        depth: usize,
    ) -> R<()> {
        let max = crate::syntax::MAX_GROUP_DEPTH;
        if depth > max {
            // The raw-text check bounds `(…)` alone; here sweep fragments add levels too.
            return Err(bad(
                "nesting",
                chain.span,
                format!("layer chains nest more than {max} deep (groups and sweep fragments together)"),
                &format!("level {depth}"),
            )
            .help(format!(
                "at most {max} levels of `(…)` and `$fragment`s inside one another: write the innermost \
                 fragment out in place, or repeat with `n×(…)` instead of nesting"
            )));
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
                    TermKind::Group(c) => self.expand(c, out, fragments, depth + 1)?,
                    TermKind::Param(name) => {
                        match self.env.iter().rev().find(|(n, _)| n == name) {
                            Some((_, Bound::Fragment(c, _))) => {
                                if let Some(first) = fragments.iter().position(|f| f == name) {
                                    let cycle: Vec<String> = fragments[first..]
                                        .iter()
                                        .chain([&name.as_str()])
                                        .map(|f| format!("${f}"))
                                        .collect();
                                    return Err(bad(
                                        "recursion",
                                        t.span,
                                        format!(
                                            "sweep fragment `${name}` refers to itself ({})",
                                            cycle.join(" → ")
                                        ),
                                        "used inside its own definition",
                                    )
                                    .help("a sweep fragment may not refer to itself: write the repeated layers out, or repeat them with `n×(…)`"));
                                }
                                fragments.push(name.as_str());
                                self.expand(c, out, fragments, depth + 1)?;
                                fragments.pop();
                            }
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
    /// Its written values are always checked; its shapes only when its input shape is
    /// known and its values are sound (`Ok(None)` otherwise).
    fn layers_of(&self, l: &LayerAst, input: Option<&[usize]>) -> R<Option<Vec<Layer>>> {
        let mark = self.mark();
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
        let mut o = self.opts(row, &annots);
        if let Some(k) = &l.kernel {
            if !row.syntax.window {
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
            if !row.syntax.window {
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
        match (row.syntax.main, &l.main) {
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
        let Some(input) = input.filter(|_| self.clean_since(mark)) else {
            return Ok(None);
        };
        let (kind, notation) = (row.construct)(&o, input).map_err(|p| at(p, l.span))?;
        let mut out = vec![self.layer(kind, notation, l, input)?];
        if let Some(rate) = o.dropout {
            let shape = out[0].output_shape.clone();
            let (kind, notation) = layers::dropout(rate);
            let mut d = self.layer(kind, notation, l, &shape)?;
            d.label = None;
            out.push(d);
        }
        Ok(Some(out))
    }

    fn layer(&self, kind: LayerKind, notation: String, l: &LayerAst, input: &[usize]) -> R<Layer> {
        let label = l.label.as_ref().map(|s| s.node.clone());
        Layer::new(kind, notation, l.span, label, input).map_err(|p| at(p, l.span))
    }

    /// A chain's layers appended to `layers`, the first taking `input`. Each layer's
    /// problems are noted; past the first layer with a problem (or from the start when
    /// `input` is unknown) only written values are checked, as the shapes are unknown.
    /// True when every layer was built.
    pub(super) fn chain_layers(
        &self,
        chain: &'a Chain,
        input: Option<Vec<usize>>,
        layers: &mut Vec<Layer>,
    ) -> bool {
        let mut written = Vec::new();
        if let Err(p) = self.expand(chain, &mut written, &mut Vec::new(), 0) {
            self.note(p);
            return false;
        }
        let mut shape = input;
        for l in written {
            match self.layers_of(l, shape.as_deref()) {
                Ok(Some(built)) => {
                    if let Some(last) = built.last() {
                        shape = Some(last.output_shape.clone());
                    }
                    layers.extend(built);
                }
                Ok(None) => shape = None,
                Err(p) => {
                    self.note(p);
                    shape = None;
                }
            }
        }
        shape.is_some()
    }

    /// The decoder of a dense encoder, reversed: hidden widths in reverse order with the
    /// encoder's activations, ending in the input size with `out` (sigmoid by default).
    pub(super) fn mirror(
        &self,
        enc: &[Layer],
        input: &[usize],
        annots: &[Annot],
        span: SourceSpan,
    ) -> R<Vec<Layer>> {
        let refs: Vec<&Annot> = annots.iter().collect();
        let mark = self.mark();
        let o = self.opts(layers::letter('A').expect("A is a letter"), &refs);
        if !self.clean_since(mark) {
            // Problems noted; the caller sees no decoder and no new problem.
            return Ok(Vec::new());
        }
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
}
