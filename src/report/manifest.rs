//! The items manifest (`experiments.toml`): one entry per MISSION item with its specs,
//! command lines and result locations.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The manifest compiled into the binary, so `archc item` works from any directory.
pub const BUILTIN: &str = include_str!("../../experiments.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "item")]
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub text: String,
    /// Spec files whose source and shape tables are shown.
    #[serde(default)]
    pub specs: Vec<PathBuf>,
    /// archc command lines, in order.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Spec files whose trained runs are tabulated; `None` = the specs of the `train` commands.
    #[serde(default)]
    pub runs: Option<Vec<PathBuf>>,
    /// Analysis output folders or files.
    #[serde(default)]
    pub results: Vec<String>,
    /// Items whose outputs this one reads.
    #[serde(default)]
    pub needs: Vec<String>,
    /// Also tabulate validation/test error at this epoch.
    #[serde(default)]
    pub at_epoch: Option<usize>,
}

/// One command line split into arguments (without the leading `archc`) and an optional
/// file receiving its standard output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    pub args: Vec<String>,
    pub stdout: Option<String>,
}

impl Manifest {
    pub fn parse(text: &str) -> miette::Result<Manifest> {
        let m: Manifest = toml::from_str(text)
            .map_err(|e| miette::miette!(code = "archc::manifest", "experiments manifest: {e}"))?;
        m.validate()?;
        Ok(m)
    }

    pub fn builtin() -> miette::Result<Manifest> {
        Manifest::parse(BUILTIN)
    }

    /// The given file, or the built-in manifest.
    pub fn load(path: Option<&Path>) -> miette::Result<Manifest> {
        match path {
            None => Manifest::builtin(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    miette::miette!(
                        code = "archc::manifest",
                        "cannot read manifest {}: {e}",
                        p.display()
                    )
                })?;
                Manifest::parse(&text).map_err(|e| miette::miette!("{}: {e}", p.display()))
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    /// Unique ids, known `needs`, and command lines that split.
    fn validate(&self) -> miette::Result<()> {
        let mut seen = HashSet::new();
        for item in &self.items {
            if !seen.insert(item.id.as_str()) {
                return Err(miette::miette!(
                    code = "archc::manifest",
                    "item {} appears twice",
                    item.id
                ));
            }
        }
        for item in &self.items {
            for n in &item.needs {
                if !seen.contains(n.as_str()) {
                    return Err(miette::miette!(
                        code = "archc::manifest",
                        "item {} needs unknown item {n}",
                        item.id
                    ));
                }
            }
            for c in &item.commands {
                split_command(c).map_err(|e| miette::miette!("item {}: {e}", item.id))?;
            }
        }
        Ok(())
    }
}

impl Item {
    pub fn command_lines(&self) -> Vec<CommandLine> {
        // `validate` already split every line.
        self.commands
            .iter()
            .filter_map(|c| split_command(c).ok())
            .collect()
    }

    /// Specs trained by this item's `archc train` commands.
    pub fn trained_specs(&self) -> Vec<PathBuf> {
        self.command_lines()
            .iter()
            .filter(|c| c.args.first().map(String::as_str) == Some("train"))
            .filter_map(|c| c.args.get(1).map(PathBuf::from))
            .collect()
    }

    /// Specs whose runs the report tabulates.
    pub fn run_specs(&self) -> Vec<PathBuf> {
        self.runs.clone().unwrap_or_else(|| self.trained_specs())
    }

    /// Every spec file the item mentions: `specs`, `runs` and spec arguments of commands.
    pub fn all_specs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        let from_commands = self.command_lines().into_iter().filter_map(|c| {
            c.args
                .iter()
                .find(|a| a.ends_with(".arch"))
                .map(PathBuf::from)
        });
        for p in self
            .specs
            .iter()
            .cloned()
            .chain(self.run_specs())
            .chain(from_commands)
        {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }

    /// The command line that writes `path` (an argument or stdout file naming it).
    pub fn command_writing(&self, path: &str) -> Option<&str> {
        let p = path.trim_end_matches('/');
        self.commands.iter().map(String::as_str).find(|c| {
            split_command(c).is_ok_and(|cl| {
                cl.stdout.as_deref().is_some_and(|s| s.starts_with(p))
                    || cl.args.iter().any(|a| a.trim_end_matches('/') == p)
            })
        })
    }
}

/// Splits a command line on whitespace; double quotes group (and are removed), `> FILE`
/// redirects standard output. A leading `archc` is dropped.
pub fn split_command(line: &str) -> Result<CommandLine, String> {
    let mut words: Vec<(String, bool)> = Vec::new();
    let mut cur = String::new();
    let (mut in_quotes, mut quoted, mut started) = (false, false, false);
    for ch in line.chars() {
        match ch {
            '"' => {
                in_quotes = !in_quotes;
                quoted = true;
                started = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if started {
                    words.push((std::mem::take(&mut cur), quoted));
                }
                quoted = false;
                started = false;
            }
            c => {
                cur.push(c);
                started = true;
            }
        }
    }
    if in_quotes {
        return Err(format!("unclosed quote in `{line}`"));
    }
    if started {
        words.push((cur, quoted));
    }
    let mut args = Vec::new();
    let mut stdout = None;
    let mut it = words.into_iter();
    while let Some((w, quoted)) = it.next() {
        if w == ">" && !quoted {
            let (file, _) = it
                .next()
                .ok_or_else(|| format!("`>` without a file in `{line}`"))?;
            if it.next().is_some() {
                return Err(format!("`> FILE` must end the command: `{line}`"));
            }
            stdout = Some(file);
        } else {
            args.push(w);
        }
    }
    if args.first().map(String::as_str) == Some("archc") {
        args.remove(0);
    }
    if args.is_empty() {
        return Err(format!("empty command `{line}`"));
    }
    Ok(CommandLine { args, stdout })
}

/// Quotes an argument for display when a shell would otherwise split or expand it.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,=:@+%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("\"{}\"", arg.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

impl CommandLine {
    /// `archc …` as a shell would accept it.
    pub fn display(&self) -> String {
        let mut s = String::from("archc");
        for a in &self.args {
            s.push(' ');
            s.push_str(&shell_quote(a));
        }
        if let Some(f) = &self.stdout {
            s.push_str(" > ");
            s.push_str(&shell_quote(f));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quotes_and_redirects() {
        let c = split_command(
            "archc knn --codes \"runs/ae[d'=32]/codes.safetensors\" --out a > runs/x.json",
        )
        .unwrap();
        assert_eq!(
            c.args,
            [
                "knn",
                "--codes",
                "runs/ae[d'=32]/codes.safetensors",
                "--out",
                "a"
            ]
        );
        assert_eq!(c.stdout.as_deref(), Some("runs/x.json"));
        assert!(split_command("archc train \"x").is_err());
        assert!(split_command("archc data info >").is_err());
        // Display quotes what a shell would mangle and round-trips.
        let again = split_command(&c.display()).unwrap();
        assert_eq!(again, c);
    }
}
