//! Two-phase apply: push a configuration set to the agents it affects so that every node
//! ends on the new generation or every node stays on the one it had.
//!
//! Steps: take the state lock; load the state (and refuse a saved plan made against another
//! state); ask every agent what it runs — if any runs a generation the state does not know
//! (newer than the state's, or the same number with other contents), the state is out of
//! date and the apply stops before any prepare, unless told to force a new generation past
//! everything the agents run; a node behind the state is re-synchronised as part of this
//! apply; prepare the new generation on every affected agent, built on what the agent was
//! seen to run; if any refuses, times out or is unreachable, abort them all; otherwise
//! record the decision (the generation and its digest) in the state store, then commit them
//! all — each commit names the digest, so an agent never commits another apply's staged
//! contents — and if a commit fails, roll the committed nodes back to the generation they
//! had. The state records the result only after every commit, and an apply with nothing to
//! change leaves it as it is. A node left on the decided generation (the apply died, or a
//! rollback could not reach it) is known to the next apply, which takes every node past it.

use crate::agent::channel::{ControlTls, connect};
use crate::pb;
use crate::pb::agent_client::AgentClient;
use crate::state::{
    NodeGeneration, State, StateStore, StoreError, knows, node_documents, state_digest,
};
use prost::Message;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use strata_compiler::config::{ConfigSet, Summary};
use strata_compiler::plan::{Plan, diff, digest};
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

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Bound on every call to an agent.
    pub timeout: Duration,
    /// Who holds the lock, for the message a concurrent apply gets.
    pub holder: String,
    /// Digest of the state a saved plan was made against; the apply is refused if the
    /// state has moved since.
    pub expected_state: Option<String>,
    /// Leave unreachable agents out instead of failing (the repair loop uses this for
    /// nodes that are down; they are re-synchronised when they come back).
    pub skip_unreachable: bool,
    /// Apply even when the agents run a generation the state does not know, as generation
    /// max(state, every node's running generation) + 1, overwriting what they run.
    pub force_generation: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            timeout: Duration::from_secs(5),
            holder: format!("strata apply, pid {}", std::process::id()),
            expected_state: None,
            skip_unreachable: false,
            force_generation: false,
        }
    }
}

/// Test hook: runs after every agent prepared and before any commit.
pub type Hook = Box<dyn Fn() + Send + Sync>;

#[derive(Debug, Clone, PartialEq)]
pub struct ApplyReport {
    /// The generation applied; with nothing to change, the one the state is at.
    pub generation: u64,
    pub plan: Plan,
    /// Nodes that received the new generation.
    pub nodes: Vec<String>,
    /// Nodes re-synchronised because they ran something other than the state says.
    pub resynced: Vec<String>,
    /// Unreachable nodes left out (only with `skip_unreachable`).
    pub skipped: Vec<String>,
    /// Encoded size of every request sent, bytes.
    pub bytes_sent: usize,
}

#[derive(Debug)]
pub enum ApplyError {
    Store(StoreError),
    /// The generation counter is at its largest value; nothing was prepared.
    GenerationsExhausted(u64),
    /// The saved plan was made against another state.
    StateMoved(String),
    /// A node has no agent address.
    NoAgent(String),
    /// The agents run a generation the state does not know: the state file is out of date
    /// (another state file applied since). Nothing was prepared.
    StaleState {
        /// The state file's generation.
        state_generation: u64,
        /// The highest generation a node runs.
        running_generation: u64,
        /// A node running it.
        node: String,
        /// The node runs the state's own generation number, with other contents.
        other_contents: bool,
    },
    /// Preparation failed; every agent was told to abort and runs its previous generation.
    Aborted {
        generation: u64,
        failures: Vec<(String, String)>,
    },
    /// A commit failed; the nodes that had committed were rolled back.
    RolledBack {
        generation: u64,
        failures: Vec<(String, String)>,
        rollback_failures: Vec<(String, String)>,
    },
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &[(String, String)]| {
            v.iter()
                .map(|(n, e)| format!("\n  {n}: {e}"))
                .collect::<String>()
        };
        match self {
            ApplyError::Store(e) => write!(f, "{e}"),
            ApplyError::GenerationsExhausted(g) => write!(
                f,
                "the network is at generation {g}, the largest a generation number can be, so no new generation can be applied and nothing was changed; start the agents afresh (empty state directories) and apply into a new state file"
            ),
            ApplyError::StateMoved(m) => write!(f, "{m}"),
            ApplyError::NoAgent(n) => {
                write!(f, "node `{n}` has no agent address in the agents file")
            }
            ApplyError::StaleState {
                state_generation,
                running_generation,
                node,
                other_contents,
            } => {
                if *other_contents {
                    write!(
                        f,
                        "the network runs generation {running_generation} with other contents than generation {state_generation} of the state file (node `{node}`, for one)"
                    )?;
                } else {
                    write!(
                        f,
                        "the network runs generation {running_generation} (node `{node}`, for one), newer than the state file's generation {state_generation}"
                    )?;
                }
                write!(
                    f,
                    ": the state file is out of date, and applying from it could roll the network back, so nothing was applied. Run `strata state pull --agents FILE` to adopt what the agents run into the state file, or apply with `--force-generation` to overwrite it with a new generation"
                )
            }
            ApplyError::Aborted {
                generation,
                failures,
            } => write!(
                f,
                "generation {generation} was not applied: {} agent(s) could not prepare it, so every agent aborted and keeps its previous generation:{}",
                failures.len(),
                list(failures)
            ),
            ApplyError::RolledBack {
                generation,
                failures,
                rollback_failures,
            } => {
                write!(
                    f,
                    "generation {generation} was rolled back: {} commit(s) failed:{}",
                    failures.len(),
                    list(failures)
                )?;
                if !rollback_failures.is_empty() {
                    write!(f, "\nrolling back failed on:{}", list(rollback_failures))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ApplyError {}

impl From<StoreError> for ApplyError {
    fn from(e: StoreError) -> Self {
        ApplyError::Store(e)
    }
}

/// One node's part of an apply.
struct Target {
    node: String,
    client: Option<AgentClient<Channel>>,
    previous: pb::RunningReply,
    request: pb::PrepareRequest,
}

/// Applies `configs` to the agents, or leaves every node as it was.
pub async fn apply(
    store: &dyn StateStore,
    agents: &Agents,
    configs: &ConfigSet,
    summary: Option<&Summary>,
    options: &ApplyOptions,
    after_prepare: Option<&Hook>,
) -> Result<ApplyReport, ApplyError> {
    let network = summary.map_or(agents.network.as_str(), |s| s.network.as_str());
    let _lock = store.lock(&options.holder)?;
    let state = store.load()?;
    if let Some(expected) = &options.expected_state {
        let now = state_digest(state.as_ref());
        if &now != expected {
            return Err(ApplyError::StateMoved(format!(
                "the state has moved since the plan was made (generation {} now); run `strata plan` again",
                state.as_ref().map_or(0, |s| s.generation)
            )));
        }
    }
    let old_configs = state
        .as_ref()
        .map(|s| s.configs.clone())
        .unwrap_or_default();
    let plan = diff(Some(&old_configs), configs);
    let state_generation = state.as_ref().map_or(0, |s| s.generation);
    let new_digest = digest(configs);
    let docs = node_documents(configs);
    let all_nodes: Vec<String> = old_configs
        .nodes
        .keys()
        .chain(configs.nodes.keys())
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for n in &all_nodes {
        if !agents.agents.contains_key(n) {
            return Err(ApplyError::NoAgent(n.clone()));
        }
    }

    // What every agent runs now; a node out of step with the state is pushed again.
    let expected: BTreeMap<String, NodeGeneration> =
        state.as_ref().map(|s| s.nodes.clone()).unwrap_or_default();
    let mut targets = Vec::new();
    let mut resynced = Vec::new();
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    // Ask every agent at once.
    let timeout = options.timeout;
    let probes = all_nodes.iter().map(|node| {
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
    let mut seen = Vec::new();
    for (node, probe) in all_nodes.iter().zip(probed) {
        match probe {
            Ok((c, r)) => seen.push((node.clone(), Some(c), r)),
            Err(failure) => {
                if options.skip_unreachable {
                    skipped.push(node.clone());
                    continue;
                }
                failures.push(failure);
                seen.push((node.clone(), None, pb::RunningReply::default()));
            }
        }
    }

    // Fencing: a node running a generation this state never gave it means another state
    // file applied since; pushing ours would move the network back without anyone noticing.
    let running_max = seen.iter().map(|(_, _, r)| r.generation).max().unwrap_or(0);
    // A generation decided but not recorded as applied (the apply died or rolled back) may
    // run somewhere: the new one goes above it.
    let decided = state
        .as_ref()
        .and_then(|s| s.decided.as_ref())
        .map_or(0, |d| d.generation);
    let last = if options.force_generation {
        state_generation.max(running_max).max(decided)
    } else {
        if let Some(stale) = stale(state.as_ref(), &seen) {
            return Err(stale);
        }
        state_generation.max(decided)
    };
    let generation = last
        .checked_add(1)
        .ok_or(ApplyError::GenerationsExhausted(last))?;

    // A generation left staged (by an apply that died before deciding, or by one from
    // another state file still under way, whose commit then fails and rolls back) is
    // dropped: only this apply's prepare may be committed now.
    let leftovers = seen.iter().filter_map(|(_, client, r)| {
        let mut client = client.clone()?;
        let staged = r.prepared_generation;
        (staged != 0).then_some(async move {
            let _ = client.abort(pb::AbortRequest { generation: staged }).await;
        })
    });
    futures_join(leftovers).await;

    for (node, client, previous) in seen {
        let node = &node;
        let in_step = expected
            .get(node)
            .is_some_and(|g| g.generation == previous.generation && g.digest == previous.digest)
            || (!expected.contains_key(node) && previous.generation == 0);
        let changed = plan.affected_nodes.contains(node);
        if !in_step {
            resynced.push(node.clone());
        }
        if changed || !in_step {
            let documents = docs.get(node).cloned().unwrap_or_default();
            targets.push(Target {
                node: node.clone(),
                client,
                request: pb::PrepareRequest {
                    generation,
                    digest: new_digest.clone(),
                    node: node.clone(),
                    base_generation: previous.generation,
                    documents: documents.into_iter().collect(),
                },
                previous,
            });
        }
    }
    // An unreachable node that this apply must change fails the apply before any prepare.
    failures.retain(|(n, _)| targets.iter().any(|t| &t.node == n));
    if !failures.is_empty() {
        return Err(ApplyError::Aborted {
            generation,
            failures,
        });
    }
    // Nothing to change and every node in step: no new generation, the state stays.
    if targets.is_empty() && plan.is_empty() {
        return Ok(ApplyReport {
            generation: state_generation,
            plan,
            nodes: Vec::new(),
            resynced,
            skipped,
            bytes_sent: 0,
        });
    }
    let mut bytes_sent = 0;

    // Phase 1: prepare everywhere.
    let prepares = targets.iter_mut().map(|t| {
        let req = t.request.clone();
        bytes_sent += req.encoded_len();
        let mut client = t.client.clone();
        let node = t.node.clone();
        async move {
            let r = match client.as_mut() {
                Some(c) => c.prepare(req).await.map(|r| r.into_inner()),
                None => Err(tonic::Status::unavailable("unreachable")),
            };
            match r {
                Ok(reply) if reply.ok => Ok(()),
                Ok(reply) => Err((node, reply.error)),
                Err(status) => Err((node, status.message().to_string())),
            }
        }
    });
    let results = futures_join(prepares).await;
    let failures: Vec<(String, String)> = results.into_iter().filter_map(Result::err).collect();
    if !failures.is_empty() {
        abort_all(&targets, generation).await;
        return Err(ApplyError::Aborted {
            generation,
            failures,
        });
    }
    if let Some(hook) = after_prepare {
        hook();
    }

    // The decision, recorded before any commit goes out: if this process dies from here
    // on, the next apply knows the generation the nodes may run.
    let mut decision = state.clone().unwrap_or_else(|| State {
        network: network.to_string(),
        ..State::default()
    });
    decision.decided = Some(NodeGeneration {
        generation,
        digest: new_digest.clone(),
    });
    if let Err(e) = store.save(&decision) {
        abort_all(&targets, generation).await;
        return Err(e.into());
    }

    // Phase 2: commit everywhere.
    let commits = targets.iter().map(|t| {
        let mut client = t.client.clone();
        let node = t.node.clone();
        let digest = new_digest.clone();
        async move {
            let r = match client.as_mut() {
                Some(c) => c
                    .commit(pb::CommitRequest {
                        generation,
                        digest: digest.clone(),
                    })
                    .await
                    .map(|r| r.into_inner()),
                None => Err(tonic::Status::unavailable("unreachable")),
            };
            match r {
                Ok(reply) if reply.ok => Ok(node),
                Ok(reply) => Err((node, reply.error)),
                Err(status) => Err((node, status.message().to_string())),
            }
        }
    });
    let results = futures_join(commits).await;
    let committed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    let failures: Vec<(String, String)> = results.into_iter().filter_map(Result::err).collect();
    if !failures.is_empty() {
        let rollback_failures = roll_back(&targets, &committed, generation).await;
        return Err(ApplyError::RolledBack {
            generation,
            failures,
            rollback_failures,
        });
    }

    let mut nodes_state = expected;
    for t in &targets {
        nodes_state.insert(
            t.node.clone(),
            NodeGeneration {
                generation,
                digest: new_digest.clone(),
            },
        );
    }
    nodes_state.retain(|n, _| configs.nodes.contains_key(n));
    store.save(&State {
        generation,
        config_digest: new_digest,
        network: network.to_string(),
        configs: configs.clone(),
        nodes: nodes_state,
        summary: summary.cloned(),
        decided: None,
    })?;
    Ok(ApplyReport {
        generation,
        plan,
        nodes: targets.iter().map(|t| t.node.clone()).collect(),
        resynced,
        skipped,
        bytes_sent,
    })
}

/// The refusal for agents that run a generation `state` does not know: newer than the
/// state's generation, or a generation number the state knows with other contents.
fn stale(
    state: Option<&State>,
    seen: &[(String, Option<AgentClient<Channel>>, pb::RunningReply)],
) -> Option<ApplyError> {
    let state_generation = state.map_or(0, |s| s.generation);
    let known = |node: &str, r: &pb::RunningReply| knows(state, node, r.generation, &r.digest);
    let (node, r) = seen
        .iter()
        .filter(|(node, client, r)| client.is_some() && !known(node, r))
        .map(|(node, _, r)| (node, r))
        .max_by_key(|(_, r)| r.generation)?;
    Some(ApplyError::StaleState {
        state_generation,
        running_generation: r.generation,
        node: node.clone(),
        other_contents: r.generation <= state_generation,
    })
}

/// Runs futures concurrently and returns their results in order.
async fn futures_join<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    out
}

async fn abort_all(targets: &[Target], generation: u64) {
    let aborts = targets
        .iter()
        .filter_map(|t| t.client.clone())
        .map(|mut c| async move {
            let _ = c.abort(pb::AbortRequest { generation }).await;
        });
    futures_join(aborts).await;
}

/// Puts the nodes that committed back on the generation they ran before; aborts the rest.
async fn roll_back(
    targets: &[Target],
    committed: &[String],
    generation: u64,
) -> Vec<(String, String)> {
    let work = targets.iter().map(|t| {
        let mut client = t.client.clone();
        let prev = t.previous.clone();
        let node = t.node.clone();
        let was_committed = committed.contains(&t.node);
        async move {
            let Some(c) = client.as_mut() else {
                return Ok(());
            };
            if !was_committed {
                let _ = c.abort(pb::AbortRequest { generation }).await;
                return Ok(());
            }
            // Undoing the commit: the agent accepts the generation it ran just before it,
            // built on the one it runs now.
            let req = pb::PrepareRequest {
                generation: prev.generation,
                digest: prev.digest.clone(),
                node: node.clone(),
                base_generation: generation,
                documents: prev.documents.clone(),
            };
            let prepared = c
                .prepare(req)
                .await
                .map_err(|s| (node.clone(), s.message().to_string()))?
                .into_inner();
            if !prepared.ok {
                return Err((node, prepared.error));
            }
            let done = c
                .commit(pb::CommitRequest {
                    generation: prev.generation,
                    digest: prev.digest.clone(),
                })
                .await
                .map_err(|s| (node.clone(), s.message().to_string()))?
                .into_inner();
            if done.ok {
                Ok(())
            } else {
                Err((node, done.error))
            }
        }
    });
    futures_join(work)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect()
}
