//! `strata twin`: run a digital twin of an inventory on loopback (`up`) — its agents and its
//! ETSI GS QKD 014 KMEs — and break or repair it (`fault`).

use super::FsLoader;
use crate::Outcome;
use anyhow::{Context, bail};
use std::path::PathBuf;
use strata_compiler::frontend::{self, Options};
use strata_runtime::apply::Agents;
use strata_runtime::kme::{KmeOptions, save_agents_file};
use strata_runtime::pb;
use strata_runtime::twin::host::{Twin, TwinOptions};

/// Default agents file: where `twin up` writes the addresses and apply/run/status read them.
pub const DEFAULT_AGENTS_PATH: &str = ".strata/agents.json";

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
        /// Where to write the agents' addresses.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_AGENTS_PATH)]
        agents_file: PathBuf,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 1.0, value_parser = super::numeric::speed)]
        speed: f64,
        /// Where to write the KMEs' CA and the SAEs' client certificates [default: `pki/`
        /// beside the agents file].
        #[arg(long, value_name = "DIR")]
        pki_dir: Option<PathBuf>,
        /// Run the agents only, without ETSI GS QKD 014 KMEs.
        #[arg(long)]
        no_kme: bool,
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
    Cut { link: String },
    /// Repair a cut link.
    Restore { link: String },
    /// Set a QKD link's QBER (0.12 is what an intercept-resend eavesdropper causes).
    Qber { link: String, value: f64 },
    /// Set an entanglement link's fidelity.
    Fidelity { link: String, value: f64 },
    /// Stop a node: its agent stops answering and its links go down.
    Stop { node: String },
    /// Start a stopped node.
    Start { node: String },
    /// Make a node's agent refuse every prepare.
    Refuse { node: String },
    /// Let a node's agent prepare again.
    Accept { node: String },
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
                    up(network, agents_file, speed, kme).await
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
    outln!(
        "digital twin of `{}`: {} agents, {}× real time",
        inventory.name,
        twin.agents.agents.len(),
        speed
    );
    for (node, addr) in &twin.agents.agents {
        outln!("  {node:<24} {addr}");
    }
    if let Some(kme) = &twin.kme {
        outln!(
            "ETSI GS QKD 014 KMEs (mutual TLS; certificates in {}, CA {}):",
            kme.pki_dir.display(),
            kme.ca.display()
        );
        for (node, addr) in &kme.kmes {
            outln!("  {node:<24} https://{addr}");
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
    outln!(
        "addresses written to {}; stop with Ctrl-C",
        agents_file.display()
    );
    // The KMEs' log (service units with their URNs, keys served, refusals) as it happens.
    if let Some(kms) = &twin.kms {
        let mut log = kms.follow_log();
        tokio::spawn(async move {
            while let Some(l) = log.next().await {
                outln!("[t={:.1}s] KME {}: {}", l.time_s, l.node, l.message);
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
    let agents = Agents::load(&agents).map_err(anyhow::Error::msg)?;
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
                outln!("fault injected");
                return Ok(Outcome::Ok);
            }
            Ok(r) => bail!("{}", r.into_inner().error),
            Err(e) => last = e.message().to_string(),
        }
    }
    bail!("no twin agent answered: {last}")
}
