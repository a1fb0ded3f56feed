//! The agents file: where each node's agent listens and the controller's credentials for
//! them, as `strata twin up` writes it and apply, status and the loop read it.
//!
//! It sits just above the agent's channel ([`crate::agent::channel`]) and below everything
//! that reads or writes the file — apply, the control loop, the KMEs (which add their
//! directory to it) and the twin — so none of those has to reach into another for it.

use crate::agent::channel::{ControlTls, connect};
use crate::pb::agent_client::AgentClient;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tonic::transport::Channel;

/// Where each node's agent listens: the file `strata twin up` writes and apply reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Agents {
    pub network: String,
    /// True when the agents are a digital twin (faults can be injected).
    #[serde(default)]
    pub twin: bool,
    /// Node name → `host:port`.
    pub agents: BTreeMap<String, String>,
    /// The controller's credentials for the agents' mutual TLS (paths relative to the
    /// agents file); without them the agents are reached in plaintext, which only an agent
    /// started with `--insecure-dev` serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ControlTls>,
}

impl Agents {
    pub fn load(path: &Path) -> Result<Agents, String> {
        let bytes = crate::input_file::read(path)
            .map_err(|e| format!("cannot read the agents file `{}`: {e}", path.display()))?;
        let mut agents: Agents = serde_json::from_slice(&bytes)
            .map_err(|e| format!("`{}` is not an agents file: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new(""));
        agents.tls = agents.tls.map(|t| t.relative_to(dir));
        Ok(agents)
    }

    /// Connects to the agent at `addr` (one of [`Agents::agents`]) with a bounded wait, with
    /// the controller's credentials when the file names them.
    pub async fn connect(
        &self,
        addr: &str,
        timeout: Duration,
    ) -> Result<AgentClient<Channel>, String> {
        connect(addr, self.tls.as_ref(), timeout).await
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(path, bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    }
}
