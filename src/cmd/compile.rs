//! `strata compile`: optimise intents and write one YAML document per node and stratum,
//! plus `summary.json`; print what was admitted.

use super::{Checked, Format, checked_network, print_diagnostics};
use crate::Outcome;
use anyhow::Context;
use std::path::{Path, PathBuf};
use strata_compiler::config::{Admission, SUMMARY_FILE, Summary};

/// Compile intents into per-node, per-stratum configuration.
#[derive(clap::Args)]
pub struct Args {
    /// Intent files (all for the same network).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output directory.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    out: PathBuf,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Output format; `--json` is the same as `--format json`.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = super::PrintFormat::Human)]
    format: super::PrintFormat,
    /// Fail (exit 1) when an intent is not fully met, or on any other warning.
    #[arg(long)]
    deny_warnings: bool,
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
        let mut docs = compiled.configs.render();
        docs.extend(strata_compiler::etsi015::render(&compiled.configs));
        write_out(&self.out, &docs, &compiled.summary)?;
        fe.diagnostics.extend(compiled.diagnostics);
        let warnings = fe.warning_count();
        print_diagnostics(&mut fe, format);
        if self.json {
            out!("{}", compiled.summary.to_json());
        } else {
            out!("{}", table(&compiled.summary));
            outln!(
                "wrote {} node configuration(s) to {}",
                compiled.configs.nodes.len(),
                self.out.display()
            );
        }
        Ok(if self.deny_warnings && warnings > 0 {
            Outcome::Failed
        } else {
            Outcome::Ok
        })
    }
}

/// Writes the documents, first removing documents a previous compile left in `dir`.
pub fn write_out(dir: &Path, docs: &[(String, String)], summary: &Summary) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            for doc in [
                "service.yaml",
                "forwarding.yaml",
                "connectivity.yaml",
                strata_compiler::etsi015::FILE,
            ] {
                let f = path.join(doc);
                if f.is_file() {
                    std::fs::remove_file(&f)?;
                }
            }
            let _ = std::fs::remove_dir(&path);
        }
    }
    for (rel, text) in docs {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    std::fs::write(dir.join(SUMMARY_FILE), summary.to_json())?;
    Ok(())
}

/// The summary as a terminal table.
pub fn table(s: &Summary) -> String {
    let mut rows = vec![[
        "intent".to_string(),
        "kind".into(),
        "requested/s".into(),
        "admitted/s".into(),
        "status".into(),
        "fidelity".into(),
        "latency ms".into(),
        "paths".into(),
    ]];
    for i in &s.intents {
        rows.push([
            i.name.clone(),
            match i.kind {
                strata_compiler::config::UnitKind::Keys => "keys".into(),
                strata_compiler::config::UnitKind::EntangledPairs => "pairs".into(),
            },
            format!("{}", i.requested_rate),
            format!("{}", i.admitted_rate),
            match i.admission {
                Admission::Met => "met".into(),
                Admission::Partial => "partial".into(),
                Admission::Rejected => "rejected".into(),
            },
            i.fidelity.map_or("-".into(), |f| format!("{f:.4}")),
            i.latency_ms.map_or("-".into(), |l| format!("{l:.2}")),
            i.paths
                .iter()
                .map(|p| p.nodes.join("→"))
                .collect::<Vec<_>>()
                .join(" | "),
        ]);
    }
    let rows: Vec<Vec<String>> = rows.into_iter().map(Vec::from).collect();
    let mut out = crate::render::columns(&rows);
    out.push_str(&format!(
        "{} met, {} partly met, {} rejected of {} intent(s)\n",
        s.admitted,
        s.partial,
        s.rejected,
        s.intents.len()
    ));
    out
}
