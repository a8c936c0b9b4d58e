//! One diagnostic type for every front-end error: a message, a labelled span in the
//! spec source, a help line, and a stable code per error kind (`archc::unknown_name`, …).

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};
use std::fmt;

#[derive(Debug)]
pub struct SpecError {
    /// Error kind, shown as the diagnostic code, e.g. `archc::kernel_too_large`.
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub span: SourceSpan,
    pub help: Option<String>,
    pub src: NamedSource<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpecError {}

impl Diagnostic for SpecError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!("archc::{}", self.code)))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some(self.label.clone()),
            self.span,
        ))))
    }
}

/// An error before the source is attached: builders return this, `ir::compile` wraps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub span: SourceSpan,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(
        code: &'static str,
        span: SourceSpan,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Problem {
            code,
            message: message.into(),
            label: label.into(),
            span,
            help: None,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_source(self, name: &str, source: &str) -> SpecError {
        SpecError {
            code: self.code,
            message: self.message,
            label: self.label,
            span: self.span,
            help: self.help,
            src: NamedSource::new(name, source.to_string()),
        }
    }
}

/// The closest of `candidates` to `word` (Jaro-Winkler ≥ 0.7), for "did you mean" hints.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(&word.to_lowercase(), c), *c))
        .filter(|(score, _)| *score >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Help text for an unknown name: "did you mean `x`?" or the list of valid names.
pub fn suggest(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates) {
        Some(c) => format!("did you mean `{c}`? (valid: {})", candidates.join(", ")),
        None => format!("valid names: {}", candidates.join(", ")),
    }
}
