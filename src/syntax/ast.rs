//! The syntax tree of a spec file. Every node keeps the span it came from, so that
//! every later error can point at the text that caused it.

use miette::SourceSpan;

#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: SourceSpan,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// A number with its source text (kept for model names such as `[keep=0.75]`).
    Num(f64, String),
    /// A bare word: `relu`, `same`, `hflip`, `cifar10`.
    Ident(String),
    /// `$name`, a sweep parameter (name without the `$`).
    Param(String),
    /// `3x3`, `3×32×32`: two or more scalars.
    Dims(Vec<Value>),
    /// `45000/5000`.
    Pair(Box<Value>, Box<Value>),
}

pub type Value = Spanned<ValueKind>;

/// `key=value` or a bare value (`3x3`, `relu`).
#[derive(Debug, Clone, PartialEq)]
pub struct Annot {
    pub key: Option<Spanned<String>>,
    pub value: Value,
    pub span: SourceSpan,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerAst {
    pub letter: Spanned<char>,
    /// The number right after the letter: filters, units, pool size, rate, factor.
    pub main: Option<Value>,
    /// `@3x3`.
    pub kernel: Option<Value>,
    /// `/2`.
    pub stride: Option<Value>,
    pub annots: Vec<Annot>,
    pub label: Option<Spanned<String>>,
    pub span: SourceSpan,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TermKind {
    Layer(Box<LayerAst>),
    Group(Chain),
    /// A sweep parameter bound to a chain fragment (`sweep L in {2: F1000, …}`).
    Param(String),
}

/// One element of a chain, with its repetition count (`2×(…)` or `(…)^2`).
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub kind: TermKind,
    pub repeat: Option<Value>,
    pub span: SourceSpan,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    pub terms: Vec<Term>,
    pub span: SourceSpan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetPart {
    Net,
    Encoder,
    Decoder,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NetBody {
    Chain(Chain),
    /// `mirror` or `mirror[linear]`: the decoder is the encoder reversed.
    Mirror {
        annots: Vec<Annot>,
        span: SourceSpan,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct SweepEntry {
    /// One value per swept name (a tuple for `sweep (a, b) in {(1, 2), …}`).
    pub values: Vec<Value>,
    /// `label: chain` entries bind the name to a chain fragment.
    pub fragment: Option<Chain>,
    pub span: SourceSpan,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub names: Vec<Spanned<String>>,
    pub entries: Vec<SweepEntry>,
    pub span: SourceSpan,
}

/// One line of the `train { … }` block: `optimizer sgd lr=0.01 momentum=0.9`.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Spanned<String>,
    pub items: Vec<Annot>,
    pub span: SourceSpan,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Input(Value),
    Defaults(Vec<(Spanned<char>, Vec<Annot>)>),
    Sweep(Sweep),
    Net {
        part: Spanned<NetPart>,
        body: NetBody,
        span: SourceSpan,
    },
    Train {
        entries: Vec<Entry>,
        span: SourceSpan,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub stmts: Vec<Stmt>,
}
