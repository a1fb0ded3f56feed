//! `strata check`: validate intent files and the inventories they use, for people and CI.

use super::{Format, FsLoader, JsonReport, intent_files, print_report};
use crate::{Outcome, render, report};
use std::path::PathBuf;
use strata_compiler::frontend::{self, Options};

/// Check intent files (.qi) and network inventories (.yaml) without compiling them.
#[derive(clap::Args)]
pub struct Args {
    /// Intent files and/or inventories to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output format: `human` (stderr), `json`, `sarif`, `junit` or `github` (stdout).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Check every intent file against this inventory instead of its `use network`.
    #[arg(long, value_name = "FILE")]
    network: Option<PathBuf>,
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let options = Options {
            network: self.network.clone(),
        };
        let mut fe = frontend::run(&self.files, &options, &FsLoader);
        render::sort(&fe.sources, &mut fe.diagnostics);
        let (errors, warnings) = (fe.error_count(), fe.warning_count());
        let ok = errors == 0 && (warnings == 0 || !self.deny_warnings);
        match self.format {
            Format::Json => JsonReport::of(&fe, self.deny_warnings).print(),
            Format::Sarif | Format::Junit | Format::Github => print_report(
                self.format,
                &fe.sources,
                &fe.diagnostics,
                &report::cases(&fe),
                &intent_files(&fe.sources),
                self.deny_warnings,
            ),
            Format::Human => {
                eprint!("{}", render::human(&fe.sources, &fe.diagnostics));
                for n in &fe.networks {
                    eprintln!(
                        "{}: {} intent file(s), {} intent(s) checked",
                        n.path.display(),
                        n.units.len(),
                        n.program.intents.len()
                    );
                }
                eprintln!("{errors} error(s), {warnings} warning(s)");
            }
        }
        Ok(if ok { Outcome::Ok } else { Outcome::Failed })
    }
}
