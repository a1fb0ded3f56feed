//! One module per subcommand; each has an `Args` struct with a `run` method.

pub mod agent;
pub mod apply;
pub mod check;
pub mod compile;
pub mod diff;
pub mod fmt;
pub mod graph;
pub mod kme;
pub mod numeric;
pub mod plan;
pub mod state;
pub mod status;
pub mod twin;
pub mod verify;

use crate::Outcome;
use std::path::Path;
use strata_compiler::frontend::SourceLoader;

/// Reads source files from disk for the compiler's front end.
pub struct FsLoader;

impl SourceLoader for FsLoader {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        strata_runtime::input_file::read(path)
    }
}

/// How diagnostics and reports are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Annotated source snippets on stderr.
    #[default]
    Human,
    /// One JSON document on stdout.
    Json,
    /// SARIF 2.1.0 on stdout (code scanning).
    Sarif,
    /// JUnit XML on stdout (test reports).
    Junit,
    /// GitHub Actions workflow commands on stdout (inline annotations).
    Github,
}

/// What a command that prints results prints them as (`--format`); `--json` is the same
/// as `--format json`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PrintFormat {
    /// Text for a terminal.
    #[default]
    Human,
    /// One JSON document on stdout.
    Json,
}

/// One network's intents, checked clean, with everything the front end read (for
/// rendering later diagnostics against the same sources).
pub struct Checked {
    pub fe: strata_compiler::frontend::Frontend,
    pub program: strata_compiler::check::Program,
    pub inventory: strata_compiler::inventory::Inventory,
}

impl Format {
    pub fn json_if(json: bool) -> Format {
        if json { Format::Json } else { Format::Human }
    }
}

/// Runs the front end on `files` and returns the one network they use when everything
/// checks clean; otherwise prints the diagnostics and returns `None`.
pub fn checked_network(
    files: &[std::path::PathBuf],
    network: Option<std::path::PathBuf>,
    format: Format,
) -> anyhow::Result<Option<Checked>> {
    let options = strata_compiler::frontend::Options { network };
    let mut fe = strata_compiler::frontend::run(files, &options, &FsLoader);
    if fe.has_errors() {
        if format == Format::Json {
            crate::render::sort(&fe.sources, &mut fe.diagnostics);
            JsonReport::of(&fe, false).print();
        } else {
            print_diagnostics(&mut fe, format);
        }
        return Ok(None);
    }
    let with_intents: Vec<usize> = (0..fe.networks.len())
        .filter(|&i| !fe.networks[i].units.is_empty())
        .collect();
    let idx = match with_intents.as_slice() {
        [one] => *one,
        [] => anyhow::bail!("no intent files given"),
        _ => anyhow::bail!(
            "these intent files use {} different networks; give the files of one network at a time",
            with_intents.len()
        ),
    };
    let net = fe.networks.remove(idx);
    let inventory = net
        .inventory
        .ok_or_else(|| anyhow::anyhow!("inventory missing after a clean check"))?;
    Ok(Some(Checked {
        fe,
        program: net.program,
        inventory,
    }))
}

/// Prints diagnostics sorted: to stderr for people, as JSON lines on stderr for machines
/// (stdout carries the command's own JSON), or as a CI report on stdout.
pub fn print_diagnostics(fe: &mut strata_compiler::frontend::Frontend, format: Format) {
    crate::render::sort(&fe.sources, &mut fe.diagnostics);
    match format {
        Format::Human => eprint!("{}", crate::render::human(&fe.sources, &fe.diagnostics)),
        Format::Json => {
            for d in crate::render::json(&fe.sources, &fe.diagnostics) {
                eprintln!("{}", serde_json::to_string(&d).unwrap_or_default());
            }
        }
        Format::Sarif | Format::Junit | Format::Github => {
            let cases = crate::report::cases(fe);
            let files = intent_files(&fe.sources);
            print_report(format, &fe.sources, &fe.diagnostics, &cases, &files, false);
        }
    }
}

/// The files of `sources` that are intent files (not inventories).
pub fn intent_files(sources: &strata_grammar::Sources) -> Vec<strata_grammar::FileId> {
    sources
        .iter()
        .filter(|(_, f)| !(f.name.ends_with(".yaml") || f.name.ends_with(".yml")))
        .map(|(id, _)| id)
        .collect()
}

/// Prints `diags` (sorted) as a SARIF log, a JUnit report or workflow commands on stdout;
/// does nothing for the other formats.
pub fn print_report(
    format: Format,
    sources: &strata_grammar::Sources,
    diags: &[strata_grammar::Diagnostic],
    cases: &[crate::report::Case],
    files: &[strata_grammar::FileId],
    deny_warnings: bool,
) {
    let paths = crate::report::Paths::new();
    match format {
        Format::Sarif => outln!(
            "{}",
            serde_json::to_string_pretty(&crate::report::sarif::render(sources, diags, &paths))
                .expect("SARIF serialises")
        ),
        Format::Junit => out!(
            "{}",
            crate::report::junit::render(sources, diags, cases, files, deny_warnings, &paths)
        ),
        Format::Github => out!("{}", crate::report::github::render(sources, diags, &paths)),
        Format::Human | Format::Json => {}
    }
}

/// What `check --format json` prints, and what `compile`, `plan` and `verify` print with
/// `--json` when they stop before their own output.
#[derive(serde::Serialize)]
pub struct JsonReport {
    pub ok: bool,
    pub errors: usize,
    pub warnings: usize,
    pub networks: Vec<JsonNetwork>,
    pub diagnostics: Vec<crate::render::JsonDiagnostic>,
    /// An error that is not a diagnostic (a file that cannot be written, a missing state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `check --failures`: the failure analysis per network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailureReport>,
}

#[derive(serde::Serialize)]
pub struct JsonNetwork {
    pub inventory: String,
    pub intent_files: usize,
    pub checked_intents: usize,
}

impl JsonReport {
    /// The report of a front-end run whose diagnostics are sorted.
    pub fn of(fe: &strata_compiler::frontend::Frontend, deny_warnings: bool) -> Self {
        let (errors, warnings) = (fe.error_count(), fe.warning_count());
        JsonReport {
            ok: errors == 0 && (warnings == 0 || !deny_warnings),
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
            diagnostics: crate::render::json(&fe.sources, &fe.diagnostics),
            error: None,
            failures: Vec::new(),
        }
    }

    /// A failure that happened outside the diagnostics.
    pub fn error(message: String) -> Self {
        JsonReport {
            ok: false,
            errors: 1,
            warnings: 0,
            networks: Vec::new(),
            diagnostics: Vec::new(),
            error: Some(message),
            failures: Vec::new(),
        }
    }

    pub fn print(&self) {
        outln!(
            "{}",
            serde_json::to_string_pretty(self).expect("report serialises")
        );
    }
}

/// For commands whose `--json` promises one document on stdout: an error before that
/// document becomes a failed report (and the error still goes to stderr).
pub fn json_or_error(json: bool, result: anyhow::Result<Outcome>) -> anyhow::Result<Outcome> {
    match result {
        Err(err) if json => {
            eprintln!("error: {err:#}");
            JsonReport::error(format!("{err:#}")).print();
            Ok(Outcome::Failed)
        }
        other => other,
    }
}

/// A `--state` value: given explicitly, the file must exist (except at the default
/// path, where a missing file means nothing was applied yet).
pub fn state_path(given: Option<std::path::PathBuf>) -> anyhow::Result<std::path::PathBuf> {
    let default = std::path::PathBuf::from(strata_runtime::state::DEFAULT_STATE_PATH);
    match given {
        Some(p) if p != default && !p.exists() => anyhow::bail!(
            "state file `{}` does not exist (give the state file of the last apply, or leave out --state for the default `{}`)",
            p.display(),
            default.display()
        ),
        Some(p) => Ok(p),
        None => Ok(default),
    }
}

/// Opens the store a `--state` value names (`etcd://HOST:PORT[,…]/PREFIX` or a file; the
/// default file when none is given). An explicit file must exist, as for [`state_path`].
/// Returns the store and how to name it to the operator.
pub fn open_state(
    given: Option<&str>,
) -> anyhow::Result<(
    Box<dyn strata_runtime::state::StateStore + Send + Sync>,
    String,
)> {
    match given {
        Some(spec) if strata_runtime::etcd::EtcdLocation::is_etcd(spec) => Ok((
            strata_runtime::store::open(spec).map_err(anyhow::Error::msg)?,
            spec.to_string(),
        )),
        _ => {
            let path = state_path(given.map(std::path::PathBuf::from))?;
            let name = path.display().to_string();
            Ok((Box::new(strata_runtime::state::FileStore::new(path)), name))
        }
    }
}

/// What each priority class maximises (`--objective`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectiveArg {
    /// Max-min fair shares of requested rate (water-filling), then the total.
    #[default]
    Fair,
    /// The total admitted share alone.
    Throughput,
}

impl From<ObjectiveArg> for strata_compiler::compile::optimise::Objective {
    fn from(o: ObjectiveArg) -> Self {
        match o {
            ObjectiveArg::Fair => Self::Fair,
            ObjectiveArg::Throughput => Self::Throughput,
        }
    }
}

/// Which elements a failure analysis takes down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FailureKind {
    Links,
    Nodes,
    Both,
}

impl From<FailureKind> for strata_compiler::check::Elements {
    fn from(k: FailureKind) -> Self {
        match k {
            FailureKind::Links => strata_compiler::check::Elements::Links,
            FailureKind::Nodes => strata_compiler::check::Elements::Nodes,
            FailureKind::Both => strata_compiler::check::Elements::Both,
        }
    }
}

/// One network's failure analysis, as `check --failures` prints it.
#[derive(serde::Serialize)]
pub struct FailureReport {
    pub inventory: String,
    pub failures: u32,
    pub scenarios: usize,
    pub intents: Vec<strata_compiler::assess::Risk>,
}

impl std::fmt::Display for FailureReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} scenario(s) of up to {} simultaneous failure(s) that touch a path in use",
            self.inventory, self.scenarios, self.failures
        )?;
        if self.intents.is_empty() {
            return writeln!(
                f,
                "  every intent keeps its admitted rate in every one of them"
            );
        }
        for r in &self.intents {
            writeln!(
                f,
                "  {:<20} worst {} of {}/s after {} ({} scenario(s) cost it rate)",
                r.intent,
                strata_compiler::compile::round3(r.worst),
                strata_compiler::compile::round3(r.admitted),
                r.worst_scenarios.first().map_or("", String::as_str),
                r.losing_scenarios
            )?;
        }
        Ok(())
    }
}

/// Runs the optimiser, the assertions and (with `failures`) the failure analysis on every
/// network the front end checked, adding their diagnostics; `fail` names links or nodes to
/// compile as if they were down.
pub fn assess_networks(
    fe: &mut strata_compiler::frontend::Frontend,
    fail: &[String],
    failures: Option<(u32, strata_compiler::check::Elements)>,
    objective: ObjectiveArg,
) -> anyhow::Result<Vec<FailureReport>> {
    let mut reports = Vec::new();
    for net in &fe.networks {
        let Some(inv) = &net.inventory else { continue };
        if net.program.intents.is_empty() && net.program.assertions.is_empty() {
            continue;
        }
        let options = strata_compiler::assess::Options {
            fail: failed_elements(inv, fail)?,
            failures,
            objective: objective.into(),
        };
        let a = strata_compiler::assess::assess(&net.program, inv, &options);
        fe.diagnostics.extend(a.diagnostics);
        if let (Some(risks), Some((n, _))) = (a.risks, failures) {
            reports.push(FailureReport {
                inventory: net.path.display().to_string(),
                failures: n,
                scenarios: a.scenarios,
                intents: risks,
            });
        }
    }
    Ok(reports)
}

/// `--fail` names resolved against an inventory: a quantum link, a classical link (which
/// takes down the quantum links whose channel it carries) or a node.
pub fn failed_elements(
    inv: &strata_compiler::inventory::Inventory,
    names: &[String],
) -> anyhow::Result<strata_compiler::compile::repair::Failed> {
    let mut failed = strata_compiler::compile::repair::Failed::default();
    for name in names {
        if inv.quantum_link_names().any(|l| l == name) {
            failed.links.insert(name.clone());
        } else if inv.classical_links.iter().any(|c| c.name.value == *name) {
            // A cut classical link takes down every quantum link whose channel it carries.
            failed
                .links
                .extend(inv.quantum_links_over(name).into_iter().map(str::to_string));
        } else if inv.node(name).is_some() {
            failed.nodes.insert(name.clone());
        } else {
            let known = inv
                .link_names()
                .chain(inv.nodes.iter().map(|n| n.name.value.as_str()));
            let hint = match strata_grammar::diag::did_you_mean(name, known) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => String::new(),
            };
            anyhow::bail!(
                "--fail {name}: network `{}` has no link or node named `{name}`{hint}",
                inv.name
            );
        }
    }
    Ok(failed)
}

/// Compiles as `compile` and `plan` do: with the `--fail` elements down and the
/// `--objective` asked for.
pub fn compile_what_if(
    program: &strata_compiler::check::Program,
    inventory: &strata_compiler::inventory::Inventory,
    fail: &[String],
    objective: ObjectiveArg,
) -> anyhow::Result<strata_compiler::compile::Compiled> {
    let inventory = failed_elements(inventory, fail)?.overlay(inventory);
    Ok(strata_compiler::compile::compile(
        program,
        &inventory,
        &strata_compiler::compile::CompileOptions {
            objective: objective.into(),
            ..strata_compiler::compile::CompileOptions::default()
        },
    ))
}
