//! One diagnostic type for every front-end error: a message, a labelled span in the
//! spec source, a help line, and a stable code per error kind (`archc::unknown_name`, …).
//! A spec with several independent problems gets one report that lists them all.

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

/// Several independent problems of one spec in one report: each is a related
/// diagnostic with its own span, label and help, in the order they appear in the spec.
#[derive(Debug)]
pub struct SpecErrors {
    /// How many problems the spec has; at most [`MAX_SHOWN_PROBLEMS`] are shown.
    pub total: usize,
    pub shown: Vec<SpecError>,
}

/// A report lists at most this many problems: past that, more of them help no one
/// and each would copy its part of the source.
pub const MAX_SHOWN_PROBLEMS: usize = 20;

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the spec has {} problems", self.total)?;
        if self.total > self.shown.len() {
            write!(f, " (the first {} are shown)", self.shown.len())?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

impl Diagnostic for SpecErrors {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("archc::problems"))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.shown.iter().map(|e| e as &dyn Diagnostic)))
    }
}

/// Problems in the order they appear in the spec, each once (a sweep builds the same
/// layer once per point, a default annotation applies to every layer of its letter).
pub fn in_source_order(problems: Vec<Problem>) -> Vec<Problem> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Problem> = problems
        .into_iter()
        .filter(|p| {
            seen.insert((
                p.span.offset(),
                p.span.len(),
                p.code,
                p.message.clone(),
                p.label.clone(),
            ))
        })
        .collect();
    out.sort_by_key(|p| p.span.offset());
    out
}

/// The report of a spec's problems (in source order): one problem is shown alone,
/// exactly as it always was; several are listed under one header.
pub fn report(problems: Vec<Problem>, name: &str, source: &str) -> miette::Report {
    let total = problems.len();
    let mut errors = problems
        .into_iter()
        .take(MAX_SHOWN_PROBLEMS)
        .map(|p| p.with_source(name, source));
    match (total, errors.next()) {
        (1, Some(only)) => miette::Report::new(only),
        (_, first) => miette::Report::new(SpecErrors {
            total,
            shown: first.into_iter().chain(errors).collect(),
        }),
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
        let (shown, span) = clip_long_lines(source, self.span);
        let mut label = self.label;
        if shown.len() != source.len() {
            // Columns in the cut line are not the file's: say where the span really is.
            let at = self.span.offset().min(source.len());
            let at = (0..=at)
                .rev()
                .find(|&i| source.is_char_boundary(i))
                .unwrap_or(0);
            let line = source[..at].matches('\n').count() + 1;
            let column = source[source[..at].rfind('\n').map_or(0, |n| n + 1)..at]
                .chars()
                .count()
                + 1;
            label = format!("{label} (line {line}, column {column})");
        }
        SpecError {
            code: self.code,
            message: clip_middle(self.message),
            label,
            span,
            help: self.help.map(clip_middle),
            src: NamedSource::new(name, shown),
        }
    }
}

/// Lines longer than this are cut around the span when a diagnostic shows them: a
/// 1 MB line would otherwise be echoed whole.
pub const MAX_SHOWN_LINE: usize = 160;

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A message that quotes a huge word from the spec, cut in the middle to
/// [`MAX_SHOWN_LINE`] bytes.
fn clip_middle(text: String) -> String {
    if text.len() <= MAX_SHOWN_LINE {
        return text;
    }
    let head = floor_boundary(&text, MAX_SHOWN_LINE * 2 / 3);
    let tail = floor_boundary(&text, text.len() - MAX_SHOWN_LINE / 3);
    format!("{}…{}", &text[..head], &text[tail..])
}

/// The source as a diagnostic shows it, with every line over [`MAX_SHOWN_LINE`] bytes
/// cut to a window (around the span on the span's line, the line's head elsewhere)
/// and marked by `…`; returns the span moved to the same text in the cut source.
pub fn clip_long_lines(source: &str, span: SourceSpan) -> (String, SourceSpan) {
    if source.lines().all(|l| l.len() <= MAX_SHOWN_LINE) {
        return (source.to_string(), span);
    }
    let start = span.offset().min(source.len());
    let mut out = String::new();
    let (mut new_start, mut new_len) = (None, span.len());
    let mut pos = 0;
    for line in source.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let line_start = pos;
        pos += line.len();
        let has_span = new_start.is_none() && start < pos;
        if body.len() <= MAX_SHOWN_LINE {
            if has_span {
                new_start = Some(out.len() + (start - line_start));
            }
            out.push_str(line);
            continue;
        }
        let at = (start - line_start).min(body.len());
        let a = if has_span {
            floor_boundary(body, at.saturating_sub(MAX_SHOWN_LINE / 2))
        } else {
            0
        };
        let b = floor_boundary(body, a + MAX_SHOWN_LINE);
        if a > 0 {
            out.push('…');
        }
        if has_span {
            new_start = Some(out.len() + at - a);
            new_len = new_len.min(b.saturating_sub(at));
        }
        out.push_str(&body[a..b]);
        if b < body.len() {
            out.push('…');
        }
        out.push_str(&line[body.len()..]);
    }
    let new_start = new_start.unwrap_or(out.len());
    (out, SourceSpan::new(new_start.into(), new_len))
}

/// Spec bytes → text; invalid UTF-8 is a diagnostic that names its byte position.
pub fn decode(name: &str, bytes: Vec<u8>) -> miette::Result<String> {
    let e = match String::from_utf8(bytes) {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    let at = e.utf8_error().valid_up_to();
    let byte = e.as_bytes()[at];
    // Lossy decoding keeps every byte before `at` in place and turns the bad sequence
    // into one U+FFFD, so the span can point at it.
    let shown = String::from_utf8_lossy(e.as_bytes()).into_owned();
    let line = shown[..at].matches('\n').count() + 1;
    let column = at - shown[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    Err(Problem::new(
        "encoding",
        SourceSpan::new(at.into(), '\u{FFFD}'.len_utf8()),
        format!(
            "the spec is not valid UTF-8: byte {at} (line {line}, column {column}) is {byte:#04x}"
        ),
        "not UTF-8",
    )
    .help("save the spec as UTF-8 (`×` may also be written `x`)")
    .with_source(name, &shown)
    .into())
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
