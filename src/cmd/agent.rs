//! `strata agent`: the node agent for one node, serving the gRPC protocol on an address and
//! keeping its running generation in a state directory across restarts.

use crate::Outcome;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use strata_runtime::agent::ConfigOnly;
use strata_runtime::agent::service::AgentService;

/// Run the agent of a single node.
#[derive(clap::Args)]
pub struct Args {
    /// The node this agent serves (as named in the inventory).
    #[arg(long)]
    node: String,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7400")]
    listen: String,
    /// Directory for the running generation.
    #[arg(long, value_name = "DIR", default_value = ".strata/agent")]
    state_dir: PathBuf,
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        tokio::runtime::Runtime::new()?.block_on(async move {
            std::fs::create_dir_all(&self.state_dir)
                .with_context(|| format!("cannot create `{}`", self.state_dir.display()))?;
            let path = self.state_dir.join(format!(
                "{}.json",
                strata_compiler::config::file_name(&self.node)
            ));
            let service = AgentService::new(self.node.clone(), Arc::new(ConfigOnly::new()))
                .persisted(path)
                .map_err(anyhow::Error::msg)?;
            let addr = self
                .listen
                .parse()
                .with_context(|| format!("`{}` is not an address", self.listen))?;
            outln!(
                "agent for node `{}` listening on {}",
                self.node,
                self.listen
            );
            tonic::transport::Server::builder()
                .add_service(service.into_server())
                .serve_with_shutdown(addr, async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
            Ok(Outcome::Ok)
        })
    }
}
