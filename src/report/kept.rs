//! Results kept from the previous report. Run folders are not committed (checkpoints are
//! large), so a machine without an item's runs — a fresh clone, another machine of a sweep —
//! would otherwise regenerate the report with that item "not run yet" and lose its numbers.
//! When the runs folder holds fewer of an item's result files than the previous report
//! showed (none, on a fresh clone), the report keeps the item's results and observations as
//! the previous `README.md` had them (its figures stay in `figures/`) and says so; the
//! item's text and specs are regenerated. As complete or more complete here: regenerated.

use std::collections::BTreeMap;
use std::path::Path;

/// What the previous report said about each item, by anchor (`item-3-1a`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Previous {
    /// From the item's first results heading (`### Trained runs`, `### Results` or
    /// `### Observations`) to the end of its section.
    pub results: BTreeMap<String, String>,
    /// The item's "outputs" cell of the contents table (`4/6`).
    pub status: BTreeMap<String, String>,
}

/// Headings that start the part of a section made from result files.
const RESULT_HEADINGS: [&str; 3] = [
    "\n### Trained runs\n",
    "\n### Results\n",
    "\n### Observations\n",
];

const ANCHOR_START: &str = "<a id=\"";

/// Appended to a kept item's contents cell.
pub const KEPT_MARK: &str = "(kept)";

impl Previous {
    /// Reads `README.md` of a previous report; an absent or unreadable file keeps nothing.
    pub fn read(path: &Path) -> Previous {
        std::fs::read_to_string(path)
            .map(|s| Previous::parse(&s))
            .unwrap_or_default()
    }

    pub fn parse(md: &str) -> Previous {
        let mut prev = Previous::default();
        for line in md.lines() {
            // Contents rows: `| [3.1a](#item-3-1a) | title | 4/6 |`.
            let Some(rest) = line.strip_prefix("| [") else {
                continue;
            };
            let Some(anchor) = rest
                .split_once("](#")
                .and_then(|(_, r)| r.split_once(')'))
                .map(|(a, _)| a)
            else {
                continue;
            };
            let cells: Vec<&str> = line.trim_end_matches('|').split('|').collect();
            if let Some(status) = cells.last() {
                let status = status.trim().trim_end_matches(KEPT_MARK).trim_end();
                prev.status.insert(anchor.to_string(), status.to_string());
            }
        }
        let starts: Vec<usize> = md
            .match_indices(&format!("{ANCHOR_START}item-"))
            .map(|(i, _)| i)
            .collect();
        for (k, &start) in starts.iter().enumerate() {
            let end = starts.get(k + 1).copied().unwrap_or(md.len());
            let section = &md[start..end];
            let Some(anchor) = section[ANCHOR_START.len()..].split('"').next() else {
                continue;
            };
            let Some(from) = RESULT_HEADINGS.iter().filter_map(|h| section.find(h)).min() else {
                continue;
            };
            prev.results
                .insert(anchor.to_string(), section[from..].trim_end().to_string());
        }
        prev
    }

    /// The results part of an item's previous section with how complete it was: the
    /// outputs it found (`3` of a `3/6` contents cell) or, for items that only show runs
    /// other items train (no outputs of their own), the finished runs it tabulated.
    pub fn results_of(&self, anchor: &str) -> Option<(&str, Completeness)> {
        let text = self.results.get(anchor)?;
        let status = self.status.get(anchor).map_or("", String::as_str);
        let found = match status.split_once('/') {
            Some((present, _)) => Completeness::Outputs(present.trim().parse().ok()?),
            // The report writes a `#### `model`` heading for each finished run only.
            None => Completeness::Runs(text.matches("\n#### `").count()),
        };
        Some((text.as_str(), found))
    }
}

/// How much of an item a report showed: result files of its own, or finished runs for
/// items without outputs of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completeness {
    Outputs(usize),
    Runs(usize),
}

impl Completeness {
    pub fn count(self) -> usize {
        match self {
            Completeness::Outputs(n) | Completeness::Runs(n) => n,
        }
    }
}

/// Figure links (`figures/…`) of a Markdown text whose files are not in `out`.
pub fn missing_figures(text: &str, out: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    for (i, _) in text.match_indices("](figures/") {
        let link = &text[i + 2..];
        let Some(end) = link.find(')') else {
            continue;
        };
        let link = &link[..end];
        if !out.join(link).is_file() && !missing.iter().any(|m| m == link) {
            missing.push(link.to_string());
        }
    }
    missing
}
