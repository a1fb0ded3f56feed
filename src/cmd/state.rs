//! `strata state pull`: adopt what the agents run into the state file, when the state file
//! is out of date (another state file applied since). `strata state migrate`: copy a state
//! between stores (a file and etcd).

use crate::Outcome;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Duration;
use strata_runtime::agents::Agents;
use strata_runtime::running::pull;
use strata_runtime::state::DEFAULT_STATE_PATH;

/// Work on the state file.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: StateCommand,
}

#[derive(clap::Subcommand)]
enum StateCommand {
    /// Ask every agent what it runs and write that to the state file: the highest running
    /// generation, each node's generation and the configuration it runs.
    Pull {
        /// Agents file (node → address).
        #[arg(long, value_name = "FILE", default_value = super::twin::DEFAULT_AGENTS_PATH)]
        agents: PathBuf,
        /// State to write: a file or `etcd://HOST:PORT[,HOST:PORT…]/PREFIX`.
        #[arg(long, value_name = "FILE|etcd://…", env = "STRATA_STATE", default_value = DEFAULT_STATE_PATH)]
        state: String,
        /// Overwrite a state file at a higher generation than the agents run.
        #[arg(long)]
        force: bool,
        /// Seconds to wait for any agent call.
        #[arg(long, default_value_t = 5.0, value_parser = super::numeric::timeout)]
        timeout: f64,
    },
    /// Copy the state of FROM into TO (each a file or `etcd://HOST:PORT[,…]/PREFIX`), under
    /// both stores' apply locks, e.g. from `.strata/state.json` into etcd and back.
    Migrate {
        /// The state to copy.
        #[arg(value_name = "FROM")]
        from: String,
        /// Where to write it.
        #[arg(value_name = "TO")]
        to: String,
        /// Overwrite a state TO already holds.
        #[arg(long)]
        force: bool,
    },
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let (agents, state, force, timeout) = match self.command {
            StateCommand::Pull {
                agents,
                state,
                force,
                timeout,
            } => (agents, state, force, timeout),
            StateCommand::Migrate { from, to, force } => return migrate(&from, &to, force),
        };
        let agents = Agents::load(&agents).map_err(anyhow::Error::msg)?;
        let store = strata_runtime::store::open(&state).map_err(anyhow::Error::msg)?;
        let pulled = tokio::runtime::Runtime::new()?.block_on(pull(
            store.as_ref(),
            &agents,
            Duration::from_secs_f64(timeout.max(0.1)),
            &format!("strata state pull, pid {}", std::process::id()),
            force,
        ))?;
        outln!(
            "adopted generation {} from {} agent(s) into {}:",
            pulled.generation,
            agents.agents.len(),
            state
        );
        for node in agents.agents.keys() {
            let g = pulled.node_generation(node);
            let what = if pulled.configs.nodes.contains_key(node) {
                "configured"
            } else {
                "no configuration"
            };
            outln!("  {node:<24} generation {} ({what})", g.generation);
        }
        Ok(Outcome::Ok)
    }
}

/// Copies the state of `from` into `to`, holding both stores' locks so that no apply on
/// either side interleaves.
fn migrate(from: &str, to: &str, force: bool) -> anyhow::Result<Outcome> {
    if from == to {
        anyhow::bail!("FROM and TO are the same store (`{from}`); name another store to copy into");
    }
    let holder = format!("strata state migrate, pid {}", std::process::id());
    let (source, _) = super::open_state(Some(from))?;
    let target = strata_runtime::store::open(to).map_err(anyhow::Error::msg)?;
    let _source_lock = source.lock(&holder)?;
    let state = source
        .load()?
        .with_context(|| format!("`{from}` holds no state: nothing to migrate"))?;
    let _target_lock = target.lock(&holder)?;
    if let Some(existing) = target.load()?
        && !force
    {
        anyhow::bail!(
            "`{to}` already holds a state (generation {}, network `{}`); give --force to overwrite it",
            existing.generation,
            existing.network
        );
    }
    target.save(&state)?;
    outln!(
        "copied generation {} of `{}` ({} node(s)) from {from} to {to}",
        state.generation,
        state.network,
        state.nodes.len()
    );
    Ok(Outcome::Ok)
}
