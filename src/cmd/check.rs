//! `strata check`: validate intent files and the inventories they use, for people and CI.

use super::{Format, FsLoader};
use crate::{Outcome, render};
use serde::Serialize;
use std::path::PathBuf;
use strata_compiler::frontend::{self, Options};

/// Check intent files (.qi) and network inventories (.yaml) without compiling them.
#[derive(clap::Args)]
pub struct Args {
    /// Intent files and/or inventories to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Check every intent file against this inventory instead of its `use network`.
    #[arg(long, value_name = "FILE")]
    network: Option<PathBuf>,
}

#[derive(Serialize)]
struct JsonReport {
    ok: bool,
    errors: usize,
    warnings: usize,
    networks: Vec<JsonNetwork>,
    diagnostics: Vec<render::JsonDiagnostic>,
}

#[derive(Serialize)]
struct JsonNetwork {
    inventory: String,
    intent_files: usize,
    checked_intents: usize,
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
            Format::Json => {
                let report = JsonReport {
                    ok,
                    errors,
                    warnings,
                    networks: fe
                        .networks
                        .iter()
                        .map(|n| JsonNetwork {
                            inventory: n.path.display().to_string(),
                            intent_files: n.units.len(),
                            checked_intents: n.program.intents.len(),
                        })
                        .collect(),
                    diagnostics: render::json(&fe.sources, &fe.diagnostics),
                };
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                );
            }
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
