//! `strata plan`: what an apply would change, object by object, against the last applied
//! state; optionally saved to a file bound to that state.

use super::{Checked, Format, checked_network, print_diagnostics};
use crate::Outcome;
use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;
use strata_compiler::plan::{Plan, diff};
use strata_runtime::saved_plan::SavedPlan;

/// Show what applying the intents would change.
#[derive(clap::Args)]
pub struct Args {
    /// Intent files (all for the same network).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// State file of the last apply [default: .strata/state.json]; given explicitly, it
    /// must exist.
    /// `etcd://HOST:PORT[,HOST:PORT…]/PREFIX` keeps it in etcd instead.
    #[arg(long, value_name = "FILE|etcd://…", env = "STRATA_STATE")]
    state: Option<String>,
    /// Print the plan as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Output format; `--json` is the same as `--format json`.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = super::PrintFormat::Human)]
    format: super::PrintFormat,
    /// Exit 0 when nothing changes, 1 on error, 2 when there are changes.
    #[arg(long)]
    detailed_exitcode: bool,
    /// Save the plan to FILE (also accepted as `-out FILE`); apply it later with the same state.
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// Use this inventory instead of the files' `use network`.
    #[arg(long, value_name = "FILE")]
    network: Option<PathBuf>,
    /// What each priority class maximises: `fair` (default) raises every intent of a class
    /// to the largest equal share of its request it can have (water-filling), then the most
    /// in total; `throughput` the most in total, whichever intent starves. A policy's
    /// `objective throughput` applies to the intents it selects.
    #[arg(long, value_enum, default_value_t = super::ObjectiveArg::Fair)]
    objective: super::ObjectiveArg,
    /// Compile as if this link or node were down (repeatable); intents that name it stay
    /// valid.
    #[arg(long, value_name = "ELEMENT")]
    fail: Vec<String>,
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    generation: u64,
    plan: &'a Plan,
}

impl Args {
    pub fn run(mut self) -> anyhow::Result<Outcome> {
        self.json |= self.format == super::PrintFormat::Json;
        let json = self.json;
        super::json_or_error(json, self.run_inner())
    }

    fn run_inner(self) -> anyhow::Result<Outcome> {
        let format = Format::json_if(self.json);
        let Some(Checked {
            mut fe,
            program,
            inventory,
        }) = checked_network(&self.files, self.network.clone(), format)?
        else {
            return Ok(Outcome::Failed);
        };
        let compiled = super::compile_what_if(&program, &inventory, &self.fail, self.objective)?;
        let (store, _) = super::open_state(self.state.as_deref())?;
        let state = store.load()?;
        let plan = diff(state.as_ref().map(|s| &s.configs), &compiled.configs);
        // Saved before anything is printed, so that `--json` prints one document whatever
        // happens.
        if let Some(out) = &self.out {
            let saved = SavedPlan::new(
                state.as_ref(),
                &compiled.summary.network,
                compiled.configs.clone(),
                plan.clone(),
            );
            std::fs::write(out, serde_json::to_vec_pretty(&saved)?)
                .with_context(|| format!("cannot write `{}`", out.display()))?;
        }
        let changed = !plan.is_empty();
        fe.diagnostics.extend(compiled.diagnostics);
        print_diagnostics(&mut fe, format);
        let generation = state.as_ref().map_or(0, |s| s.generation);
        if self.json {
            outln!(
                "{}",
                serde_json::to_string_pretty(&JsonPlan {
                    generation,
                    plan: &plan
                })?
            );
        } else {
            for c in &plan.changes {
                outln!("{c}");
            }
            if plan.is_empty() {
                outln!(
                    "No changes: the network already runs this configuration (generation {generation})."
                );
            } else {
                outln!(
                    "Plan: {} to add, {} to change, {} to remove, on {} node(s).",
                    plan.counts.add,
                    plan.counts.change,
                    plan.counts.remove,
                    plan.affected_nodes.len()
                );
            }
        }
        if let (Some(out), false) = (&self.out, self.json) {
            outln!(
                "Saved the plan to {}; it applies only while the state stays at generation {generation}.",
                out.display()
            );
        }
        Ok(if self.detailed_exitcode && changed {
            Outcome::Changes
        } else {
            Outcome::Ok
        })
    }
}
