//! `strata fmt`: rewrite intent files in the one canonical layout, or (`--check`) say which
//! files would change. Files with syntax errors are reported and left untouched.

use super::{Format, FsLoader};
use crate::{Outcome, render};
use anyhow::Context;
use std::path::PathBuf;
use strata_compiler::frontend::SourceLoader;
use strata_grammar::{Sources, format::format, parse};

/// Format intent files in the canonical layout (comments are kept).
#[derive(clap::Args)]
pub struct Args {
    /// Intent files to format in place.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Change nothing; exit 1 and list the files that are not formatted.
    #[arg(long)]
    check: bool,
    /// Output format of diagnostics.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let mut sources = Sources::new();
        let mut diags = Vec::new();
        let mut unformatted = Vec::new();
        let mut cases = Vec::new();
        for path in &self.files {
            let bytes = FsLoader
                .read(path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            let Ok(text) = String::from_utf8(bytes) else {
                anyhow::bail!("`{}` is not UTF-8 text", path.display());
            };
            let file = sources.add(path.display().to_string(), text.clone());
            let (unit, errors) = parse(file, &text);
            for item in &unit.items {
                if let strata_grammar::ast::Item::Intent(i) = item {
                    cases.push(crate::report::Case {
                        file,
                        name: i.name.text.clone(),
                        span: i.span,
                    });
                }
            }
            if !errors.is_empty() {
                diags.extend(errors);
                continue;
            }
            let formatted = format(&unit, &text);
            if formatted == text {
                continue;
            }
            if self.check {
                unformatted.push(path.display().to_string());
            } else {
                std::fs::write(path, formatted)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                eprintln!("formatted {}", path.display());
            }
        }
        render::sort(&sources, &mut diags);
        match self.format {
            Format::Human => eprint!("{}", render::human(&sources, &diags)),
            Format::Json => outln!(
                "{}",
                serde_json::json!({
                    "unformatted": unformatted,
                    "diagnostics": render::json(&sources, &diags),
                })
            ),
            Format::Sarif | Format::Junit | Format::Github => {
                // Syntax errors as the report; files that only need formatting on stderr.
                let files = super::intent_files(&sources);
                super::print_report(self.format, &sources, &diags, &cases, &files, false);
                for f in &unformatted {
                    eprintln!("would reformat {f}");
                }
            }
        }
        if self.format == Format::Human {
            for f in &unformatted {
                outln!("would reformat {f}");
            }
        }
        Ok(if diags.is_empty() && unformatted.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Failed
        })
    }
}
