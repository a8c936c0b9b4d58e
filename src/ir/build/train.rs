//! The `train { … }` block: dataset and split, target, loss, optimizer, schedule, and
//! the rest of the training setup.

use super::*;

pub(super) struct Train {
    /// The dataset and its split; `None` when they have a problem (noted).
    pub(super) data: Option<(DatasetName, Split)>,
    pub(super) target: Option<Target>,
    pub(super) loss: Option<Loss>,
    pub(super) loss_span: Option<SourceSpan>,
    pub(super) optimizer: Optimizer,
    pub(super) schedule: Schedule,
    pub(super) epochs: usize,
    pub(super) batch: usize,
    pub(super) seed: u64,
    pub(super) augment: Option<Augment>,
    pub(super) augment_span: Option<SourceSpan>,
    pub(super) noise: Option<Noise>,
    pub(super) pretrain: Option<Pretrain>,
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

    /// The training section; each entry with a problem is noted and left at its default.
    pub(super) fn train(&self, entries: &[Entry], span: SourceSpan) -> Train {
        let mut seen: HashMap<&str, SourceSpan> = HashMap::new();
        let find = |k: &str| entries.iter().find(|e| e.key.node == k);
        for e in entries {
            if !TRAIN_KEYS.contains(&e.key.node.as_str()) {
                self.note(
                    bad(
                        "unknown_option",
                        e.key.span,
                        format!("unknown training setting `{}`", e.key.node),
                        "unknown name",
                    )
                    .help(suggest(&e.key.node, TRAIN_KEYS)),
                );
            } else if seen.insert(&e.key.node, e.key.span).is_some() {
                self.note(twice(e.key.span, &e.key.node));
            }
        }
        let data = match find("dataset") {
            Some(e) => self.keep(self.dataset(e, find("split"))),
            None => {
                self.note(
                    bad(
                        "missing_annotation",
                        span,
                        "the training section names no dataset",
                        "no dataset",
                    )
                    .help("add `dataset mnist`, `dataset cifar10` or `dataset svhn`"),
                );
                None
            }
        };
        let mut t = Train {
            data,
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
            if let Err(p) = self.entry(&mut t, e) {
                self.note(p);
            }
        }
        t
    }

    /// `dataset NAME [split=T/V]` (or a separate `split T/V` entry).
    fn dataset(&self, e: &Entry, split_entry: Option<&Entry>) -> R<(DatasetName, Split)> {
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
        let split_v =
            o.kv.first()
                .map(|(_, v, _)| *v)
                .or_else(|| split_entry.and_then(|e| e.items.first()).map(|a| &a.value));
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
        Ok((dataset, split))
    }

    /// One entry of the training section into `t` (`dataset` and `split` are read
    /// by [`Self::dataset`], unknown keys are noted by [`Self::train`]).
    fn entry(&self, t: &mut Train, e: &Entry) -> R<()> {
        match e.key.node.as_str() {
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
                            .help("write `noise=mask keep=0.75` or `noise=gaussian sigma=0.3`"));
                        }
                    }
                }
                t.pretrain = Some(p);
            }
            // `dataset` and `split` are read by `dataset`; unknown keys are noted.
            _ => {}
        }
        Ok(())
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
