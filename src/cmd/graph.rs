//! `strata graph`: a picture of the network with every intent's paths, as Graphviz DOT or,
//! through Graphviz's `dot`, as SVG; with `--agents`, the paths the network runs (from the
//! state) and what its agents report down.

use super::{Checked, checked_network, print_diagnostics};
use crate::Outcome;
use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use strata_compiler::graph::{Live, dot};
use strata_runtime::agents::Agents;
use strata_runtime::control::subscribe;
use strata_runtime::monitor::Monitor;

/// Draw the network and the paths of its intents (DOT, or SVG through Graphviz).
#[derive(clap::Args)]
pub struct Args {
    /// Intent files (all for the same network).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Where to write the picture [default: standard output].
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// `dot` (Graphviz source) or `svg` (needs Graphviz's `dot` program) [default: from
    /// the extension of `--out`, else dot].
    #[arg(long, value_enum)]
    format: Option<GraphFormat>,
    /// Draw the network as it runs: the paths of the applied generation (from the state)
    /// and the links and nodes its agents report down.
    #[arg(long, value_name = "FILE")]
    agents: Option<PathBuf>,
    /// State of the last apply, with `--agents` [default: .strata/state.json].
    /// `etcd://HOST:PORT[,HOST:PORT…]/PREFIX` keeps it in etcd instead.
    #[arg(long, value_name = "FILE|etcd://…", env = "STRATA_STATE")]
    state: Option<String>,
    /// Seconds to listen to the agents' telemetry at most, with `--agents`.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    wait: f64,
    /// Use this inventory instead of the files' `use network`.
    #[arg(long, value_name = "FILE")]
    network: Option<PathBuf>,
    /// What each priority class maximises (as for `compile`).
    #[arg(long, value_enum, default_value_t = super::ObjectiveArg::Throughput)]
    objective: super::ObjectiveArg,
    /// Draw as if this link or node were down (repeatable).
    #[arg(long, value_name = "ELEMENT")]
    fail: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    Dot,
    Svg,
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let format = match (self.format, &self.out) {
            (Some(f), _) => f,
            (None, Some(out)) if out.extension().is_some_and(|e| e == "svg") => GraphFormat::Svg,
            (None, _) => GraphFormat::Dot,
        };
        let Some(Checked {
            mut fe,
            program,
            inventory,
        }) = checked_network(&self.files, self.network.clone(), super::Format::Human)?
        else {
            return Ok(Outcome::Failed);
        };
        let compiled = super::compile_what_if(&program, &inventory, &self.fail, self.objective)?;
        fe.diagnostics.extend(compiled.diagnostics.clone());
        print_diagnostics(&mut fe, super::Format::Human);
        let text = match &self.agents {
            None => dot(&inventory, &compiled.configs, &compiled.summary, None),
            Some(agents) => {
                let agents = Agents::load(agents).map_err(anyhow::Error::msg)?;
                let (store, state_name) = super::open_state(self.state.as_deref())?;
                let state = store.load()?;
                let (configs, summary) = match state {
                    Some(s) if s.summary.is_some() => {
                        let summary = s.summary.clone().unwrap_or(compiled.summary.clone());
                        (s.configs, summary)
                    }
                    _ => {
                        eprintln!(
                            "warning: no applied state in `{}`; drawing the compiled paths",
                            state_name
                        );
                        (compiled.configs.clone(), compiled.summary.clone())
                    }
                };
                let live = tokio::runtime::Runtime::new()?.block_on(listen(
                    &agents,
                    summary.clone(),
                    Duration::from_secs_f64(self.wait.max(0.1)),
                ))?;
                dot(&inventory, &configs, &summary, Some(&live))
            }
        };
        let bytes = match format {
            GraphFormat::Dot => text.into_bytes(),
            GraphFormat::Svg => svg(&text)?,
        };
        match &self.out {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create `{}`", dir.display()))?;
                }
                std::fs::write(path, &bytes)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                eprintln!(
                    "drew `{}` with {} intent(s) to {}",
                    inventory.name,
                    compiled.summary.intents.len(),
                    path.display()
                );
            }
            None => out!("{}", String::from_utf8_lossy(&bytes)),
        }
        Ok(Outcome::Ok)
    }
}

/// One round of telemetry from every agent (or what came within `wait`): what is down.
async fn listen(
    agents: &Agents,
    summary: strata_compiler::config::Summary,
    wait: Duration,
) -> anyhow::Result<Live> {
    let mut monitor = Monitor::new(summary);
    let mut rx = subscribe(agents, Duration::from_millis(200));
    let mut heard = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + wait;
    while heard.len() < agents.agents.len() {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(s)) => {
                heard.insert(s.node.clone());
                monitor.observe(&s);
            }
            _ => break,
        }
    }
    if heard.is_empty() {
        bail!(
            "no agent of `{}` answered within {} s: is the network (or `strata twin up`) running?",
            agents.network,
            wait.as_secs_f64()
        );
    }
    Ok(Live {
        down_links: monitor.down_links,
        quarantined: monitor.quarantined,
        down_nodes: monitor.down_nodes,
    })
}

/// Renders DOT as SVG with Graphviz's `dot` (which honours the graph's own `layout`).
fn svg(dot_text: &str) -> anyhow::Result<Vec<u8>> {
    let program = Path::new("dot");
    let mut child = match Command::new(program)
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "SVG needs Graphviz's `dot` program, which is not installed (Debian/Ubuntu: `apt-get install graphviz`; macOS: `brew install graphviz`); or write DOT with `--format dot` and render it elsewhere"
        ),
        Err(e) => bail!("cannot run Graphviz's `dot`: {e}"),
    };
    let mut stdin = child.stdin.take().context("dot's standard input")?;
    let input = dot_text.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .context("running Graphviz's `dot`")?;
    let _ = writer.join();
    if !output.status.success() {
        bail!(
            "Graphviz's `dot` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}
