//! `archc summary` and `archc check`.
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One aligned table per model.
    Text,
    /// `{"models": [{"name", "layers": [{"layer", "output_shape", "params", …}], "total_params"}]}`.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    /// The spec file (`specs/*.arch`).
    pub spec: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The spec file (`specs/*.arch`).
    pub spec: PathBuf,
}

pub fn summary(args: SummaryArgs) -> miette::Result<()> {
    let spec = crate::ir::load(&args.spec)?;
    match args.format {
        Format::Text => {
            // Each table, then the training-memory estimate under it.
            let tables: Vec<String> = spec
                .models
                .iter()
                .map(|m| {
                    format!(
                        "{}{}\n",
                        crate::summary::table(m),
                        crate::memory::estimate(m).line()
                    )
                })
                .collect();
            print!("{}", tables.join("\n"));
        }
        Format::Json => {
            let v = crate::summary::json(&spec);
            println!(
                "{}",
                serde_json::to_string_pretty(&v).expect("JSON values always serialise")
            );
        }
    }
    Ok(())
}

pub fn check(args: CheckArgs) -> miette::Result<()> {
    let spec = crate::ir::load(&args.spec)?;
    eprintln!(
        "{}: ok, {} model{}",
        args.spec.display(),
        spec.models.len(),
        if spec.models.len() == 1 { "" } else { "s" }
    );
    Ok(())
}
