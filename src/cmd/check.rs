//! `strata check`: validate intent files and the inventories they use, for people and CI:
//! the front end's checks, then — unless `--no-compile` — the optimiser (intents that
//! cannot be fully met), the `assert` items and, with `--failures N`, what every
//! combination of up to N failures would cost each intent after the runtime's repair.

use super::{Format, FsLoader, JsonReport, intent_files, print_report};
use crate::{Outcome, render, report};
use std::path::PathBuf;
use strata_compiler::frontend::{self, Options};

/// Check intent files (.qi) and network inventories (.yaml): names, units, policies, what
/// the optimiser can admit, assertions, and failures.
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
    /// What each priority class maximises: `fair` (default) raises every intent of a class
    /// to the largest equal share of its request it can have (water-filling), then the most
    /// in total; `throughput` the most in total, whichever intent starves. A policy's
    /// `objective throughput` applies to the intents it selects.
    #[arg(long, value_enum, default_value_t = super::ObjectiveArg::Fair)]
    objective: super::ObjectiveArg,
    /// Only the front end's checks: do not run the optimiser or evaluate assertions.
    #[arg(long)]
    no_compile: bool,
    /// Compile as if this link or node were down (repeatable).
    #[arg(long, value_name = "ELEMENT", conflicts_with = "no_compile")]
    fail: Vec<String>,
    /// Analyse every combination of up to N simultaneous failures (1 or 2) and warn about
    /// each intent that some combination costs rate after the repair.
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..=2),
        conflicts_with = "no_compile"
    )]
    failures: Option<u32>,
    /// Which elements `--failures` takes down.
    #[arg(long, value_enum, default_value_t = super::FailureKind::Both, value_name = "KIND")]
    failure_kind: super::FailureKind,
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let options = Options {
            network: self.network.clone(),
        };
        let mut fe = frontend::run(&self.files, &options, &FsLoader);
        let failures = if self.no_compile {
            Vec::new()
        } else {
            super::assess_networks(
                &mut fe,
                &self.fail,
                self.failures.map(|n| (n, self.failure_kind.into())),
                self.objective,
            )?
        };
        render::sort(&fe.sources, &mut fe.diagnostics);
        let (errors, warnings) = (fe.error_count(), fe.warning_count());
        let ok = errors == 0 && (warnings == 0 || !self.deny_warnings);
        match self.format {
            Format::Json => {
                let mut report = JsonReport::of(&fe, self.deny_warnings);
                report.failures = failures;
                report.print()
            }
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
                for f in &failures {
                    out!("{f}");
                }
                eprintln!("{errors} error(s), {warnings} warning(s)");
            }
        }
        Ok(if ok { Outcome::Ok } else { Outcome::Failed })
    }
}
