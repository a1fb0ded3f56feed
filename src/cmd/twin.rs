//! `strata twin`: run a digital twin of an inventory on loopback (`up`) — its agents and its
//! ETSI GS QKD 014 KMEs — and break or repair it (`fault`).

use super::FsLoader;
use crate::Outcome;
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use strata_compiler::frontend::{self, Options};
use strata_runtime::agents::Agents;
use strata_runtime::control::subscribe;
use strata_runtime::kme::{KmeOptions, save_agents_file};
use strata_runtime::metrics::{Metrics, serve};
use strata_runtime::pb;
use strata_runtime::twin::host::{Twin, TwinOptions};

/// Default agents file: where `twin up` writes the addresses and apply/run/status read them.
pub const DEFAULT_AGENTS_PATH: &str = ".strata/agents.json";

/// Run a digital twin of a network on loopback, and break or repair it.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: TwinCommand,
}

#[derive(clap::Subcommand)]
enum TwinCommand {
    /// Run an agent for every node of NETWORK on loopback until interrupted.
    Up {
        /// The inventory (network.yaml).
        network: PathBuf,
        /// Where to write the agents' addresses (also accepted as `--agents-file`).
        #[arg(long = "agents", alias = "agents-file", value_name = "FILE", default_value = DEFAULT_AGENTS_PATH)]
        agents_file: PathBuf,
        /// Simulated seconds per real second. A twin you run runs at real time, as the
        /// network it stands for would; the embedded twin of `strata apply` runs 20× so that
        /// a walkthrough ends in seconds.
        #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = super::numeric::speed)]
        speed: f64,
        /// Print every agent, KME and SAE certificate, and the KMEs' requests as they come
        /// (without it: one line; the addresses are in the agents file and the KME log in
        /// `kme.log` beside it).
        #[arg(short, long)]
        verbose: bool,
        /// Where to write the KMEs' CA and the SAEs' client certificates [default: `pki/`
        /// beside the agents file].
        #[arg(long, value_name = "DIR")]
        pki_dir: Option<PathBuf>,
        /// Run the agents only, without ETSI GS QKD 014 KMEs.
        #[arg(long)]
        no_kme: bool,
        /// Serve the twin's node and link metrics for Prometheus on http://ADDR/metrics.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<String>,
    },
    /// Break or repair something in a running twin.
    Fault {
        #[command(subcommand)]
        fault: FaultCommand,
        /// Agents file of the twin.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_AGENTS_PATH, global = true)]
        agents: PathBuf,
    },
}

#[derive(clap::Subcommand)]
enum FaultCommand {
    /// Cut a quantum link.
    Cut {
        /// The quantum link, as named in the inventory.
        link: String,
    },
    /// Repair a cut link.
    Restore {
        /// The quantum link, as named in the inventory.
        link: String,
    },
    /// Set a QKD link's QBER (0.12 is what an intercept-resend eavesdropper causes).
    Qber {
        /// The QKD link, as named in the inventory.
        link: String,
        /// The QBER: a fraction (`0.12`) or a percentage (`12%`), from 0 to 0.5.
        #[arg(value_parser = qber_value)]
        value: f64,
    },
    /// Set an entanglement link's fidelity.
    Fidelity {
        /// The entanglement link, as named in the inventory.
        link: String,
        /// The elementary pairs' fidelity: a fraction (`0.95`) or a percentage (`95%`),
        /// from 0.25 to 1.
        #[arg(value_parser = fidelity_value)]
        value: f64,
    },
    /// Stop a node: its agent stops answering and its links go down.
    Stop {
        /// The node, as named in the inventory.
        node: String,
    },
    /// Start a stopped node.
    Start {
        /// The node, as named in the inventory.
        node: String,
    },
    /// Make a node's agent refuse every prepare.
    Refuse {
        /// The node, as named in the inventory.
        node: String,
    },
    /// Let a node's agent prepare again.
    Accept {
        /// The node, as named in the inventory.
        node: String,
    },
}

/// A fraction written as `0.12` or `12%`, within `[min, max]`.
fn fraction(s: &str, min: f64, max: f64) -> Result<f64, String> {
    let t = s.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(p) => (p.trim(), 0.01),
        None => (t, 1.0),
    };
    let v = number.parse::<f64>().map(|v| v * scale).map_err(|_| {
        format!(
            "`{s}` is not a number; write a fraction such as `0.12` or a percentage such as `12%`"
        )
    })?;
    if !(min..=max).contains(&v) {
        return Err(format!("{v} is outside {min}–{max}"));
    }
    Ok(v)
}

fn qber_value(s: &str) -> Result<f64, String> {
    fraction(s, 0.0, 0.5)
}

fn fidelity_value(s: &str) -> Result<f64, String> {
    fraction(s, 0.25, 1.0)
}

impl FaultCommand {
    /// What the twin did, in an operator's words.
    fn done(&self) -> String {
        match self {
            FaultCommand::Cut { link } => format!("link {link} cut"),
            FaultCommand::Restore { link } => format!("link {link} restored"),
            FaultCommand::Qber { link, value } => {
                format!("link {link} now has a QBER of {}", percent(*value))
            }
            FaultCommand::Fidelity { link, value } => {
                format!("link {link} now delivers pairs of fidelity {value}")
            }
            FaultCommand::Stop { node } => format!("node {node} stopped"),
            FaultCommand::Start { node } => format!("node {node} started"),
            FaultCommand::Refuse { node } => format!("node {node} now refuses every prepare"),
            FaultCommand::Accept { node } => format!("node {node} accepts prepares again"),
        }
    }

    /// The node it names, if any.
    fn node(&self) -> Option<&str> {
        match self {
            FaultCommand::Stop { node }
            | FaultCommand::Start { node }
            | FaultCommand::Refuse { node }
            | FaultCommand::Accept { node } => Some(node),
            _ => None,
        }
    }
}

fn percent(v: f64) -> String {
    let s = format!("{:.2}", v * 100.0);
    format!("{} %", s.trim_end_matches('0').trim_end_matches('.'))
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        tokio::runtime::Runtime::new()?.block_on(async move {
            match self.command {
                TwinCommand::Up {
                    network,
                    agents_file,
                    speed,
                    pki_dir,
                    no_kme,
                    metrics,
                    verbose,
                } => {
                    let pki_dir = pki_dir.unwrap_or_else(|| {
                        agents_file
                            .parent()
                            .unwrap_or(std::path::Path::new("."))
                            .join("pki")
                    });
                    let kme = KmeOptions {
                        enabled: !no_kme,
                        pki_dir: Some(pki_dir),
                        ..KmeOptions::default()
                    };
                    up(network, agents_file, speed, kme, metrics, verbose).await
                }
                TwinCommand::Fault { fault, agents } => inject(fault, agents).await,
            }
        })
    }
}

async fn up(
    network: PathBuf,
    agents_file: PathBuf,
    speed: f64,
    kme: KmeOptions,
    metrics: Option<String>,
    verbose: bool,
) -> anyhow::Result<Outcome> {
    let mut fe = frontend::run(
        std::slice::from_ref(&network),
        &Options::default(),
        &FsLoader,
    );
    if fe.has_errors() {
        super::print_diagnostics(&mut fe, super::Format::Human);
        return Ok(Outcome::Failed);
    }
    let inventory = fe
        .networks
        .into_iter()
        .find_map(|n| n.inventory)
        .context("no inventory loaded")?;
    let twin = Twin::start_with(
        &inventory,
        TwinOptions {
            speed,
            ..TwinOptions::default()
        },
        kme,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    save_agents_file(&twin.agents, twin.kme.as_ref(), &agents_file).map_err(anyhow::Error::msg)?;
    if let Some(r) = &twin.restconf {
        r.save_into(&agents_file).map_err(anyhow::Error::msg)?;
    }
    let kme_log = agents_file
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("kme.log");
    if !verbose {
        outln!(
            "digital twin of `{}`: {} agents{}, {}× real time; addresses in {}{}; stop with Ctrl-C",
            inventory.name,
            twin.agents.agents.len(),
            twin.kme
                .as_ref()
                .map_or(String::new(), |k| format!(" and {} KMEs", k.kmes.len())),
            speed,
            agents_file.display(),
            if twin.kms.is_some() {
                format!(", KME log in {}", kme_log.display())
            } else {
                String::new()
            }
        );
    } else {
        outln!(
            "digital twin of `{}`: {} agents, {}× real time",
            inventory.name,
            twin.agents.agents.len(),
            speed
        );
    }
    for (node, addr) in twin.agents.agents.iter().filter(|_| verbose) {
        outln!("  {node:<24} {addr}");
    }
    if let Some(kme) = twin.kme.as_ref().filter(|_| verbose) {
        outln!(
            "ETSI GS QKD 014 KMEs, and the key relay between them (mutual TLS; certificates in {}, CA {}):",
            kme.pki_dir.display(),
            kme.ca.display()
        );
        for (node, addr) in &kme.kmes {
            match kme.relays.get(node) {
                Some(relay) => outln!("  {node:<24} https://{addr}  relay {relay}"),
                None => outln!("  {node:<24} https://{addr}"),
            }
        }
        if let Some(r) = &twin.restconf {
            outln!(
                "ETSI GS QKD 015 RESTCONF servers (controller certificate {}, key {}):",
                r.cert.display(),
                r.key.display()
            );
            for (node, url) in &r.nodes {
                outln!("  {node:<24} {url}");
            }
        }
        outln!("SAE client certificates (CN = SAE id):");
        for (sae, c) in &kme.saes {
            outln!(
                "  {sae:<24} at {:<20} --cert {} --key {}",
                c.kme,
                c.cert.display(),
                c.key.display()
            );
        }
    }
    if let Some(addr) = &metrics {
        let m = Arc::new(Metrics::new(&inventory.name));
        let (bound, _) = serve(m.clone(), addr).await.map_err(anyhow::Error::msg)?;
        let mut telemetry = subscribe(&twin.agents, Duration::from_millis(200));
        tokio::spawn(async move {
            while let Some(sample) = telemetry.recv().await {
                m.observe(&sample);
            }
        });
        outln!("Prometheus metrics of the nodes and links on http://{bound}/metrics");
    }
    // The KMEs' log (service units with their URNs, keys served, refusals) as it happens.
    if verbose {
        outln!(
            "addresses written to {}; stop with Ctrl-C",
            agents_file.display()
        );
    }
    // The KMEs' log (service units with their URNs, keys served, refusals) as it happens:
    // on stdout with `--verbose`, else in `kme.log`.
    if let Some(kms) = &twin.kms {
        let mut log = kms.follow_log();
        let mut file = if verbose {
            None
        } else {
            Some(
                std::fs::File::create(&kme_log)
                    .with_context(|| format!("cannot write {}", kme_log.display()))?,
            )
        };
        tokio::spawn(async move {
            use std::io::Write;
            while let Some(l) = log.next().await {
                let line = format!("[t={:.1}s] KME {}: {}", l.time_s, l.node, l.message);
                match &mut file {
                    Some(f) => {
                        let _ = writeln!(f, "{line}");
                    }
                    None => outln!("{line}"),
                }
            }
        });
    }
    tokio::signal::ctrl_c().await?;
    let _ = std::fs::remove_file(&agents_file);
    twin.shutdown().await;
    Ok(Outcome::Ok)
}

async fn inject(fault: FaultCommand, agents: PathBuf) -> anyhow::Result<Outcome> {
    use pb::fault_request::Fault as F;
    let done = fault.done();
    let agents_path = agents;
    let agents = Agents::load(&agents_path).map_err(anyhow::Error::msg)?;
    if let Some(node) = fault.node()
        && !agents.agents.contains_key(node)
    {
        let hint = match strata_grammar::diag::did_you_mean(
            node,
            agents.agents.keys().map(String::as_str),
        ) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("the nodes are listed in {}", agents_path.display()),
        };
        bail!("the twin has no node `{node}`; {hint}");
    }
    let f = match fault {
        FaultCommand::Cut { link } => F::CutLink(link),
        FaultCommand::Restore { link } => F::RestoreLink(link),
        FaultCommand::Qber { link, value } => F::SetQber(pb::LinkValue { link, value }),
        FaultCommand::Fidelity { link, value } => F::SetFidelity(pb::LinkValue { link, value }),
        FaultCommand::Stop { node } => F::StopNode(node),
        FaultCommand::Start { node } => F::StartNode(node),
        FaultCommand::Refuse { node } => F::RefusePrepare(node),
        FaultCommand::Accept { node } => F::AcceptPrepare(node),
    };
    if !agents.twin {
        bail!("faults can only be injected into a digital twin, and these agents are not one");
    }
    // Every twin agent shares the emulated network; the first one that answers will do.
    let mut last = String::from("no agents in the agents file");
    for addr in agents.agents.values() {
        let Ok(mut client) = agents
            .connect(addr, std::time::Duration::from_secs(2))
            .await
        else {
            continue;
        };
        match client
            .inject_fault(pb::FaultRequest {
                fault: Some(f.clone()),
            })
            .await
        {
            Ok(r) if r.get_ref().ok => {
                outln!("{done}");
                return Ok(Outcome::Ok);
            }
            Ok(r) => bail!("{}", r.into_inner().error),
            Err(e) => last = e.message().to_string(),
        }
    }
    bail!("no twin agent answered: {last}")
}
