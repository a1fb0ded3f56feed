//! Phase 1 of an apply: what every agent runs and holds staged, asked of all at once, and
//! the fence that refuses an apply whose state the agents have moved past.

use super::{ApplyError, futures_join};
use crate::agent::channel::connect;
use crate::agents::Agents;
use crate::pb;
use crate::pb::agent_client::AgentClient;
use crate::state::{State, knows};
use std::time::Duration;
use tonic::transport::Channel;

/// One node as the apply found it.
pub(super) struct Seen {
    pub node: String,
    /// None when the agent did not answer.
    pub client: Option<AgentClient<Channel>>,
    /// What it runs and holds staged (empty when it did not answer).
    pub running: pb::RunningReply,
}

/// What the agents of `nodes` run, with the unreachable ones and why. An unreachable node
/// is left out when `skip_unreachable`, and otherwise kept without a client.
pub(super) async fn running(
    agents: &Agents,
    nodes: &[String],
    timeout: Duration,
    skip_unreachable: bool,
) -> (Vec<Seen>, Vec<(String, String)>, Vec<String>) {
    let probes = nodes.iter().map(|node| {
        let (node, addr, tls) = (
            node.clone(),
            agents.agents[node].clone(),
            agents.tls.clone(),
        );
        async move {
            let mut client = connect(&addr, tls.as_ref(), timeout)
                .await
                .map_err(|e| (node.clone(), e))?;
            let running = client
                .get_running(pb::RunningRequest {})
                .await
                .map_err(|e| (node.clone(), e.message().to_string()))?
                .into_inner();
            Ok::<_, (String, String)>((client, running))
        }
    });
    let probed = futures_join(probes).await;
    let (mut seen, mut failures, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for (node, probe) in nodes.iter().zip(probed) {
        match probe {
            Ok((client, running)) => seen.push(Seen {
                node: node.clone(),
                client: Some(client),
                running,
            }),
            Err(_) if skip_unreachable => skipped.push(node.clone()),
            Err(failure) => {
                failures.push(failure);
                seen.push(Seen {
                    node: node.clone(),
                    client: None,
                    running: pb::RunningReply::default(),
                });
            }
        }
    }
    (seen, failures, skipped)
}

/// The refusal for agents that run a generation `state` does not know: newer than the
/// state's generation, or a generation number the state knows with other contents.
/// Pushing this state's configuration would move the network back without anyone noticing.
pub(super) fn stale(state: Option<&State>, seen: &[Seen]) -> Option<ApplyError> {
    let state_generation = state.map_or(0, |s| s.generation);
    let s = seen
        .iter()
        .filter(|s| {
            s.client.is_some() && !knows(state, &s.node, s.running.generation, &s.running.digest)
        })
        .max_by_key(|s| s.running.generation)?;
    Some(ApplyError::StaleState {
        state_generation,
        running_generation: s.running.generation,
        node: s.node.clone(),
        other_contents: s.running.generation <= state_generation,
    })
}
