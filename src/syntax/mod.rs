//! Text → syntax tree. The grammar is `grammar/arch.pest`; this module turns pest's
//! pairs into the plain [`ast`] types (with spans) and pest's errors into diagnostics.

pub mod ast;
pub mod diag;

use ast::*;
use diag::Problem;
use miette::SourceSpan;
use pest::iterators::Pair;
use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/arch.pest"]
struct ArchParser;

fn span_of(p: &Pair<Rule>) -> SourceSpan {
    let s = p.as_span();
    SourceSpan::new(s.start().into(), s.end() - s.start())
}

/// The deepest nesting of `(…)` groups a spec may use. pest recurses once per level
/// (several frames each), so thousands of levels would overflow the stack before any
/// check on the tree could run: the raw text is checked first.
pub const MAX_GROUP_DEPTH: usize = 16;

/// Rejects group nesting deeper than [`MAX_GROUP_DEPTH`], counted on the raw text
/// (comments skipped) so that pest never sees it.
fn check_group_depth(source: &str) -> Result<(), Problem> {
    let (mut depth, mut in_comment, mut prev) = (0usize, false, '\0');
    for (i, c) in source.char_indices() {
        if in_comment {
            in_comment = c != '\n';
        } else {
            match c {
                '#' => in_comment = true,
                '/' if prev == '/' => in_comment = true,
                '(' => {
                    depth += 1;
                    if depth > MAX_GROUP_DEPTH {
                        return Err(Problem::new(
                            "nesting",
                            SourceSpan::new(i.into(), 1),
                            format!("groups nest more than {MAX_GROUP_DEPTH} deep"),
                            format!("group at depth {depth}"),
                        )
                        .help(format!(
                            "at most {MAX_GROUP_DEPTH} levels of `(…)` are allowed: repeat with `n×(…)` or `(…)^n` instead of nesting"
                        )));
                    }
                }
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        prev = c;
    }
    Ok(())
}

/// Parse a spec into its syntax tree.
pub fn parse(source: &str) -> Result<File, Problem> {
    check_group_depth(source)?;
    // Track literal tokens too, so errors can say "expected `}`" (a global pest switch).
    pest::set_error_detail(true);
    let mut pairs = ArchParser::parse(Rule::file, source).map_err(|e| syntax_error(source, e))?;
    let file = pairs.next().expect("file rule always yields one pair");
    let mut stmts = Vec::new();
    for p in file.into_inner() {
        match p.as_rule() {
            Rule::input_stmt => {
                let dims = p.into_inner().next().expect("input has dims");
                stmts.push(Stmt::Input(value(dims)));
            }
            Rule::defaults_stmt => {
                let items = p
                    .into_inner()
                    .map(|d| {
                        let mut it = d.into_inner();
                        let l = it.next().expect("default has a letter");
                        (letter(&l), annots(it.next().expect("default has annots")))
                    })
                    .collect();
                stmts.push(Stmt::Defaults(items));
            }
            Rule::sweep_stmt => stmts.push(Stmt::Sweep(sweep(p))),
            Rule::net_stmt => {
                let span = span_of(&p);
                let mut it = p.into_inner();
                let kw = it.next().expect("net keyword");
                let part = match kw.as_str() {
                    "encoder" => NetPart::Encoder,
                    "decoder" => NetPart::Decoder,
                    _ => NetPart::Net,
                };
                let body = it.next().expect("net body");
                let body = match body.as_rule() {
                    Rule::mirror => NetBody::Mirror {
                        span: span_of(&body),
                        annots: body.into_inner().next().map(annots).unwrap_or_default(),
                    },
                    _ => NetBody::Chain(chain(body)),
                };
                stmts.push(Stmt::Net {
                    part: Spanned {
                        node: part,
                        span: span_of(&kw),
                    },
                    body,
                    span,
                });
            }
            Rule::train_block => {
                let span = span_of(&p);
                let entries = p.into_inner().map(entry).collect();
                stmts.push(Stmt::Train { entries, span });
            }
            Rule::EOI => {}
            r => unreachable!("unexpected rule {r:?} at top level"),
        }
    }
    Ok(File { stmts })
}

fn syntax_error(source: &str, e: pest::error::Error<Rule>) -> Problem {
    use pest::error::{ErrorVariant, InputLocation};
    let (mut start, end) = match e.location {
        InputLocation::Pos(p) => (p, p),
        InputLocation::Span((a, b)) => (a, b),
    };
    let mut expected: Vec<String> = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            positives.iter().filter_map(|r| rule_name(*r)).collect()
        }
        ErrorVariant::CustomError { message } => vec![message.clone()],
    };
    // The detailed attempts know the farthest position reached and the literal tokens
    // (`{`, `]`, `=`, …) that would have continued there.
    if let Some(att) = e.parse_attempts() {
        if att.max_position >= start && att.max_position <= source.len() {
            if att.max_position > start {
                expected.clear();
            }
            start = att.max_position;
            for t in att.expected_tokens() {
                // Literal tokens only; character ranges and built-ins are covered by rule names.
                let token = t.to_string();
                // Comment and continuation starters are always possible: not worth listing.
                let noise = ["#", "//", "\\", "-", "_", "$", "BUILTIN_RULE"];
                if !token.trim().is_empty()
                    && !token.contains("..")
                    && !noise.contains(&token.trim())
                {
                    expected.push(format!("`{}`", token.trim()));
                }
            }
            for cs in att.call_stacks() {
                match cs.deepest.get_rule() {
                    // Whole statements are named only at the start of a line (positives).
                    Some(
                        Rule::input_stmt
                        | Rule::defaults_stmt
                        | Rule::sweep_stmt
                        | Rule::net_stmt
                        | Rule::train_block,
                    )
                    | None => {}
                    Some(r) => expected.extend(rule_name(*r)),
                }
            }
        }
    }
    expected.sort();
    expected.dedup();
    let end = end.max(start);
    // Point at the offending character (or the end of the text), never at nothing.
    let len = if end > start {
        end - start
    } else {
        source[start..].chars().next().map_or(0, char::len_utf8)
    };
    let next = source[start..].chars().next();
    let found = match next {
        None => "end of file".to_string(),
        Some(c) if c == '\n' || c == '\r' => "end of line".to_string(),
        Some(c) => format!("`{c}`"),
    };
    let mut help = if expected.is_empty() {
        "see the README section 'The notation'".to_string()
    } else {
        format!("expected {} here", expected.join(", "))
    };
    if next.is_some_and(|c| c.is_ascii_lowercase()) && expected.iter().any(|x| x.contains("layer"))
    {
        help += "; layer letters are capitals: C, P, F, U, D, B, A, N";
    }
    if next.is_none() {
        help += "; is a closing `}`, `]` or `)` missing?";
    }
    Problem::new(
        "syntax",
        SourceSpan::new(start.into(), len),
        format!("syntax error: unexpected {found}"),
        "not understood",
    )
    .help(help)
}

/// Human names for the grammar rules that show up in "expected …" hints.
fn rule_name(r: Rule) -> Option<String> {
    let s = match r {
        Rule::number => "a number",
        Rule::ident => "a name",
        Rule::param => "a `$parameter`",
        Rule::letter | Rule::layer => "a layer letter (C, P, F, …)",
        Rule::chain | Rule::term => "a layer",
        Rule::annots => "`[annotations]`",
        Rule::annot => "an annotation",
        Rule::kernel => "`@kernel`",
        Rule::stride => "`/stride`",
        Rule::dims | Rule::value => "a value",
        Rule::group => "`(`",
        Rule::label => "`as name`",
        Rule::power => "`^count`",
        Rule::net_kw => "`net`/`encoder`/`decoder`",
        Rule::input_stmt => "`input`",
        Rule::defaults_stmt => "`defaults`",
        Rule::sweep_stmt => "`sweep`",
        Rule::net_stmt => "`net = …`",
        Rule::train_block => "`train { … }`",
        Rule::entry => "a training entry",
        Rule::sweep_entry | Rule::sweep_value | Rule::tuple => "a sweep value",
        Rule::sweep_names => "a parameter name",
        Rule::EOI => "end of file",
        Rule::mirror => "`mirror`",
        _ => return None,
    };
    Some(s.to_string())
}

fn letter(p: &Pair<Rule>) -> Spanned<char> {
    Spanned {
        node: p.as_str().chars().next().expect("letter is one char"),
        span: span_of(p),
    }
}

fn value(p: Pair<Rule>) -> Value {
    let span = span_of(&p);
    let node = match p.as_rule() {
        Rule::number => ValueKind::Num(p.as_str().parse().unwrap_or(f64::NAN), p.as_str().into()),
        Rule::ident | Rule::sweep_value => {
            let inner = p.clone().into_inner().next();
            match inner {
                Some(i) => return value(i),
                None => ValueKind::Ident(p.as_str().to_string()),
            }
        }
        Rule::param => ValueKind::Param(p.as_str()[1..].to_string()),
        Rule::dims => {
            let mut parts: Vec<Value> = p.into_inner().map(value).collect();
            if parts.len() == 1 {
                return parts.pop().expect("one element");
            }
            ValueKind::Dims(parts)
        }
        Rule::pair => {
            let mut it = p.into_inner().map(value);
            let a = it.next().expect("pair has two sides");
            let b = it.next().expect("pair has two sides");
            ValueKind::Pair(Box::new(a), Box::new(b))
        }
        r => unreachable!("not a value: {r:?}"),
    };
    Spanned { node, span }
}

fn annot(p: Pair<Rule>) -> Annot {
    let span = span_of(&p);
    let mut it = p.into_inner().collect::<Vec<_>>();
    if it.len() == 2 {
        let v = it.pop().expect("two");
        let k = it.pop().expect("two");
        Annot {
            key: Some(Spanned {
                node: k.as_str().to_string(),
                span: span_of(&k),
            }),
            value: value(v),
            span,
        }
    } else {
        Annot {
            key: None,
            value: value(it.pop().expect("annotation has a value")),
            span,
        }
    }
}

fn annots(p: Pair<Rule>) -> Vec<Annot> {
    p.into_inner().map(annot).collect()
}

fn layer(p: Pair<Rule>) -> LayerAst {
    let span = span_of(&p);
    let mut it = p.into_inner();
    let l = letter(&it.next().expect("layer has a letter"));
    let mut out = LayerAst {
        letter: l,
        main: None,
        kernel: None,
        stride: None,
        annots: Vec::new(),
        label: None,
        span,
    };
    for q in it {
        match q.as_rule() {
            Rule::number | Rule::param => out.main = Some(value(q)),
            Rule::kernel => out.kernel = Some(value(q.into_inner().next().expect("dims"))),
            Rule::stride => out.stride = Some(value(q.into_inner().next().expect("scalar"))),
            Rule::annots => out.annots = annots(q),
            Rule::label => {
                let id = q.into_inner().next().expect("label name");
                out.label = Some(Spanned {
                    node: id.as_str().to_string(),
                    span: span_of(&id),
                });
            }
            r => unreachable!("unexpected in layer: {r:?}"),
        }
    }
    out
}

fn term(p: Pair<Rule>) -> Term {
    let span = span_of(&p);
    let mut repeat = None;
    let mut kind = None;
    for q in p.into_inner() {
        match q.as_rule() {
            Rule::prefix | Rule::power => {
                repeat = Some(value(q.into_inner().next().expect("count")));
            }
            Rule::layer => kind = Some(TermKind::Layer(Box::new(layer(q)))),
            Rule::group => {
                kind = Some(TermKind::Group(chain(
                    q.into_inner().next().expect("group has a chain"),
                )))
            }
            Rule::param => kind = Some(TermKind::Param(q.as_str()[1..].to_string())),
            r => unreachable!("unexpected in term: {r:?}"),
        }
    }
    Term {
        kind: kind.expect("term has an atom"),
        repeat,
        span,
    }
}

fn chain(p: Pair<Rule>) -> Chain {
    let span = span_of(&p);
    Chain {
        terms: p.into_inner().map(term).collect(),
        span,
    }
}

fn sweep(p: Pair<Rule>) -> Sweep {
    let span = span_of(&p);
    let mut it = p.into_inner();
    let names = it
        .next()
        .expect("sweep names")
        .into_inner()
        .map(|n| Spanned {
            node: n.as_str().to_string(),
            span: span_of(&n),
        })
        .collect();
    let entries = it
        .map(|e| {
            let span = span_of(&e);
            let mut values = Vec::new();
            let mut fragment = None;
            for q in e.into_inner() {
                match q.as_rule() {
                    Rule::tuple => values.extend(q.into_inner().map(value)),
                    Rule::sweep_value => values.push(value(q)),
                    Rule::chain => fragment = Some(chain(q)),
                    r => unreachable!("unexpected in sweep entry: {r:?}"),
                }
            }
            SweepEntry {
                values,
                fragment,
                span,
            }
        })
        .collect();
    Sweep {
        names,
        entries,
        span,
    }
}

fn entry(p: Pair<Rule>) -> Entry {
    let span = span_of(&p);
    let mut it = p.into_inner();
    let k = it.next().expect("entry key");
    Entry {
        key: Spanned {
            node: k.as_str().to_string(),
            span: span_of(&k),
        },
        items: it.map(annot).collect(),
        span,
    }
}
