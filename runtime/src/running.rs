//! What the agents run, set against the state: asking every agent at once, finding the
//! nodes that run something the state does not say they run, and adopting what the agents
//! run as the state (`strata state pull`) when the state file is out of date.

use crate::agents::Agents;
use crate::pb;
use crate::state::{NodeGeneration, State, StateStore, StoreError, knows};
use std::collections::BTreeMap;
use std::time::Duration;
use strata_compiler::config::ConfigSet;

/// Asks every agent what it runs, all at once: node → its reply, or why it did not answer.
pub async fn probe(
    agents: &Agents,
    timeout: Duration,
) -> BTreeMap<String, Result<pb::RunningReply, String>> {
    let calls: Vec<_> = agents
        .agents
        .iter()
        .map(|(node, addr)| {
            let (addr, agents) = (addr.clone(), agents.clone());
            let call = tokio::spawn(async move {
                let mut client = agents.connect(&addr, timeout).await?;
                client
                    .get_running(pb::RunningRequest {})
                    .await
                    .map(|r| r.into_inner())
                    .map_err(|e| e.message().to_string())
            });
            (node.clone(), call)
        })
        .collect();
    let mut out = BTreeMap::new();
    for (node, call) in calls {
        let reply = call.await.unwrap_or_else(|e| Err(e.to_string()));
        out.insert(node, reply);
    }
    out
}

/// A node that runs another generation (or other contents) than the state says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    pub node: String,
    /// The state file's generation.
    pub state_generation: u64,
    /// What the state says the node runs.
    pub expected: NodeGeneration,
    /// What the node runs.
    pub running: NodeGeneration,
    /// True when the node runs something the state never gave it (another state file
    /// applied since); false when it is only behind, which the next apply repairs.
    pub foreign: bool,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Disagreement {
            node,
            state_generation,
            expected,
            running,
            foreign,
        } = self;
        let contents = if running.generation == expected.generation {
            " with other contents"
        } else {
            ""
        };
        write!(
            f,
            "node `{node}` runs generation {}{contents}, but the state file (generation {state_generation}) says it runs generation {}",
            running.generation, expected.generation
        )?;
        if *foreign {
            write!(
                f,
                "; the state file is out of date: run `strata state pull --agents FILE` to adopt what the agents run, or `strata apply --force-generation` to overwrite it"
            )
        } else {
            write!(f, "; the next `strata apply` brings it up to date")
        }
    }
}

/// The nodes whose running generation or digest differs from what `state` says; nodes
/// that did not answer are left out.
pub fn disagreements(
    state: &State,
    running: &BTreeMap<String, Result<pb::RunningReply, String>>,
) -> Vec<Disagreement> {
    running
        .iter()
        .filter_map(|(node, r)| r.as_ref().ok().map(|r| (node, r)))
        .filter_map(|(node, r)| {
            let expected = state.node_generation(node);
            if expected.generation == r.generation && expected.digest == r.digest {
                return None;
            }
            Some(Disagreement {
                node: node.clone(),
                state_generation: state.generation,
                expected,
                running: NodeGeneration {
                    generation: r.generation,
                    digest: r.digest.clone(),
                },
                foreign: !knows(Some(state), node, r.generation, &r.digest),
            })
        })
        .collect()
}

#[derive(Debug)]
pub enum PullError {
    /// Agents that did not answer: node and reason.
    Unreachable(Vec<(String, String)>),
    /// An agent runs documents that do not parse.
    BadDocuments(String, String),
    /// The state file is at a higher generation than the agents run.
    WouldGoBack {
        state: u64,
        pulled: u64,
    },
    Store(StoreError),
}

impl std::fmt::Display for PullError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PullError::Unreachable(nodes) => {
                write!(
                    f,
                    "{} agent(s) did not answer, so what the network runs is not known; nothing was written:",
                    nodes.len()
                )?;
                for (n, e) in nodes {
                    write!(f, "\n  {n}: {e}")?;
                }
                Ok(())
            }
            PullError::BadDocuments(n, e) => {
                write!(f, "node `{n}` runs documents that do not parse: {e}")
            }
            PullError::WouldGoBack { state, pulled } => write!(
                f,
                "the state file is at generation {state}, higher than the generation {pulled} the agents run; nothing was written (use `--force` to overwrite it)"
            ),
            PullError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PullError {}

impl From<StoreError> for PullError {
    fn from(e: StoreError) -> Self {
        PullError::Store(e)
    }
}

/// The state that says what the agents run: the highest running generation, each node's
/// generation and digest, and the configuration parsed from the documents each runs. No
/// compile summary (the next apply records one).
pub fn adopt(
    network: &str,
    running: &BTreeMap<String, pb::RunningReply>,
) -> Result<State, PullError> {
    let mut configs = ConfigSet::default();
    let mut nodes = BTreeMap::new();
    for (node, r) in running {
        if r.generation > 0 {
            nodes.insert(
                node.clone(),
                NodeGeneration {
                    generation: r.generation,
                    digest: r.digest.clone(),
                },
            );
        }
        // No documents: the node has no configuration (it is in no configuration set).
        if !r.documents.is_empty() {
            let documents = r.documents.clone().into_iter().collect();
            let config = crate::agent::core::parse_documents(node, &documents)
                .map_err(|e| PullError::BadDocuments(node.clone(), e))?;
            configs.nodes.insert(node.clone(), config);
        }
    }
    Ok(State {
        generation: running.values().map(|r| r.generation).max().unwrap_or(0),
        config_digest: strata_compiler::plan::digest(&configs),
        network: network.to_string(),
        configs,
        nodes,
        summary: None,
        decided: None,
    })
}

/// Asks every agent what it runs and writes that to `store` as the state; refuses to
/// replace a state at a higher generation unless `force`. Every agent must answer.
pub async fn pull(
    store: &dyn StateStore,
    agents: &Agents,
    timeout: Duration,
    holder: &str,
    force: bool,
) -> Result<State, PullError> {
    let _lock = store.lock(holder)?;
    let mut running = BTreeMap::new();
    let mut unreachable = Vec::new();
    for (node, r) in probe(agents, timeout).await {
        match r {
            Ok(r) => {
                running.insert(node, r);
            }
            Err(e) => unreachable.push((node, e)),
        }
    }
    if !unreachable.is_empty() {
        return Err(PullError::Unreachable(unreachable));
    }
    let state = adopt(&agents.network, &running)?;
    if !force
        && let Some(old) = store.load()?
        && old.generation > state.generation
    {
        return Err(PullError::WouldGoBack {
            state: old.generation,
            pulled: state.generation,
        });
    }
    store.save(&state)?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(generation: u64, digest: &str) -> Result<pb::RunningReply, String> {
        Ok(pb::RunningReply {
            generation,
            digest: digest.into(),
            ..pb::RunningReply::default()
        })
    }

    #[test]
    fn a_node_on_the_right_generation_with_another_digest_disagrees() {
        let at = |generation, digest: &str| NodeGeneration {
            generation,
            digest: digest.into(),
        };
        let state = State {
            generation: 2,
            config_digest: "d2".into(),
            nodes: BTreeMap::from([("A".into(), at(2, "d2")), ("B".into(), at(2, "d2"))]),
            ..State::default()
        };
        let running = BTreeMap::from([
            ("A".to_string(), reply(2, "d2")),
            ("B".to_string(), reply(2, "other")),
            ("C".to_string(), Err("down".to_string())),
        ]);
        let found = disagreements(&state, &running);
        assert_eq!(found.len(), 1, "{found:?}");
        let d = &found[0];
        assert_eq!((d.node.as_str(), d.running.digest.as_str()), ("B", "other"));
        // The same number with other contents is another state file's work.
        assert!(d.foreign);
        assert!(d.to_string().contains("with other contents"), "{d}");
    }
}
