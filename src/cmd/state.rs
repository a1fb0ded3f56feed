//! `strata state pull`: adopt what the agents run into the state file, when the state file
//! is out of date (another state file applied since).

use crate::Outcome;
use std::path::PathBuf;
use std::time::Duration;
use strata_runtime::apply::Agents;
use strata_runtime::running::pull;
use strata_runtime::state::{DEFAULT_STATE_PATH, FileStore};

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
        /// State file to write.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_STATE_PATH)]
        state: PathBuf,
        /// Overwrite a state file at a higher generation than the agents run.
        #[arg(long)]
        force: bool,
        /// Seconds to wait for any agent call.
        #[arg(long, default_value_t = 5.0, value_parser = super::numeric::timeout)]
        timeout: f64,
    },
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let StateCommand::Pull {
            agents,
            state,
            force,
            timeout,
        } = self.command;
        let agents = Agents::load(&agents).map_err(anyhow::Error::msg)?;
        let store = FileStore::new(&state);
        let pulled = tokio::runtime::Runtime::new()?.block_on(pull(
            &store,
            &agents,
            Duration::from_secs_f64(timeout.max(0.1)),
            &format!("strata state pull, pid {}", std::process::id()),
            force,
        ))?;
        outln!(
            "adopted generation {} from {} agent(s) into {}:",
            pulled.generation,
            agents.agents.len(),
            state.display()
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
