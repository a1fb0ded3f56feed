//! `strata verify`: re-check a compiled output directory against the intents and the
//! inventory, independently of the optimiser, and list every violation found.

use super::{Checked, Format, checked_network};
use crate::Outcome;
use anyhow::Context;
use std::path::{Path, PathBuf};
use strata_compiler::config::SUMMARY_FILE;
use strata_compiler::etsi015;
use strata_compiler::verify::{read_dir_documents, verify};

/// Verify compiled configuration against its intents and network (capacities, flow
/// conservation, policies, fidelity, latency, service units).
#[derive(clap::Args)]
pub struct Args {
    /// Intent files the configuration was compiled from (all for the same network).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output directory of `strata compile`.
    #[arg(long = "config", value_name = "DIR")]
    config: PathBuf,
    /// Print the violations as a JSON array on stdout.
    #[arg(long)]
    json: bool,
    /// Output format; `--json` is the same as `--format json`.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = super::PrintFormat::Human)]
    format: super::PrintFormat,
    /// Use this inventory instead of the files' `use network`.
    #[arg(long, value_name = "FILE")]
    network: Option<PathBuf>,
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
            program, inventory, ..
        }) = checked_network(&self.files, self.network.clone(), format)?
        else {
            return Ok(Outcome::Failed);
        };
        let files = read_output_dir(&self.config)?;
        let (configs, summary) = read_dir_documents(&files)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.config.display()))?;
        let mut violations = verify(&program, &inventory, &configs, &summary);
        violations.extend(etsi015::agree::check(
            &configs,
            &etsi015::documents_in(&files),
        ));
        violations.sort();
        if self.json {
            outln!("{}", serde_json::to_string_pretty(&violations)?);
        } else {
            for v in &violations {
                outln!("{v}");
            }
            if violations.is_empty() {
                outln!(
                    "verified {}: {} node(s), {} intent(s), no violation",
                    self.config.display(),
                    configs.nodes.len(),
                    program.intents.len()
                );
            } else {
                outln!(
                    "{} violation(s) in {}",
                    violations.len(),
                    self.config.display()
                );
            }
        }
        Ok(if violations.is_empty() {
            Outcome::Ok
        } else {
            Outcome::Failed
        })
    }
}

/// Reads `NODE/STRATUM.yaml` documents, `NODE/qkd_node.json` and the summary of an output directory as
/// (relative path, text) pairs.
pub(crate) fn read_output_dir(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?;
    let mut subdirs: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            subdirs.push(path);
        }
    }
    subdirs.sort();
    for sub in subdirs {
        let name = sub
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for doc in [
            "service.yaml",
            "forwarding.yaml",
            "connectivity.yaml",
            etsi015::FILE,
        ] {
            let path = sub.join(doc);
            if path.is_file() {
                let text = strata_runtime::input_file::read_to_string(&path)
                    .with_context(|| format!("cannot read `{}`", path.display()))?;
                files.push((format!("{name}/{doc}"), text));
            }
        }
    }
    let summary = dir.join(SUMMARY_FILE);
    let text = strata_runtime::input_file::read_to_string(&summary)
        .with_context(|| format!("cannot read `{}`", summary.display()))?;
    files.push((SUMMARY_FILE.to_string(), text));
    Ok(files)
}
