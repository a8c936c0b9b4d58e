//! Sweeps: each `sweep` line binds one name (or a tuple of names) per entry; several
//! sweep lines form a grid (their Cartesian product).

use super::*;

#[derive(Clone)]
pub(super) enum Bound<'a> {
    Scalar(&'a Value),
    /// A chain fragment, with the entry's label for the model name.
    Fragment(&'a Chain, &'a Value),
}

pub(super) type Env<'a> = Vec<(String, Bound<'a>)>;

pub(super) fn value_text(v: &Value) -> String {
    match &v.node {
        ValueKind::Num(_, t) => t.clone(),
        ValueKind::Ident(s) => s.clone(),
        ValueKind::Param(p) => format!("${p}"),
        ValueKind::Dims(d) => d.iter().map(value_text).collect::<Vec<_>>().join("x"),
        ValueKind::Pair(a, b) => format!("{}/{}", value_text(a), value_text(b)),
    }
}

/// The sweep points, or every problem of the sweep lines (they stop the build: the
/// models to check are not known).
pub(super) fn sweep_points<'a>(sweeps: &[&'a Sweep]) -> Result<Vec<Env<'a>>, Vec<Problem>> {
    let mut seen: HashMap<&str, SourceSpan> = HashMap::new();
    let mut found = Vec::new();
    for sw in sweeps {
        for n in &sw.names {
            if seen.insert(&n.node, n.span).is_some() {
                found.push(
                    Problem::new(
                        "duplicate",
                        n.span,
                        format!("parameter `{}` is swept twice", n.node),
                        "again here",
                    )
                    .help("sweep each parameter once; a grid is written as two sweep lines"),
                );
            }
        }
        if sw.entries.is_empty() {
            found.push(
                Problem::new(
                    "empty_sweep",
                    sw.span,
                    "this sweep has no values, so the spec expands to no model",
                    "empty set",
                )
                .help(format!(
                    "list at least one value, e.g. `sweep {} in {{2, 8}}`",
                    sw.names[0].node
                )),
            );
        }
        for e in &sw.entries {
            if e.values.len() != sw.names.len() {
                found.push(
                    Problem::new(
                        "sweep_arity",
                        e.span,
                        format!(
                            "this entry has {} value(s) but the sweep names {} parameter(s)",
                            e.values.len(),
                            sw.names.len()
                        ),
                        "wrong number of values",
                    )
                    .help("give one value per swept name, e.g. `(3, 5)` for `sweep (k1, k2) in …`"),
                );
            }
        }
    }
    if !found.is_empty() {
        return Err(found);
    }
    let mut points: Vec<Env<'a>> = vec![Vec::new()];
    for sw in sweeps {
        let mut next = Vec::with_capacity(points.len() * sw.entries.len());
        for env in &points {
            for e in &sw.entries {
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
