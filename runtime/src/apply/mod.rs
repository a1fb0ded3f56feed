//! Two-phase apply: push a configuration set to the agents it affects so that every node
//! ends on the new generation or every node stays on the one it had, and an apply that dies
//! at any step leaves nothing the next one cannot finish.
//!
//! The phases, each in its own module, with the steps between them at which a process may
//! die named in [`crate::crash_point`] (a test can stop a process at each):
//!
//! 1. `read.rs` — under the state lock, ask every agent what it runs and holds staged; an
//!    agent running a generation the state does not know means the state is out of date,
//!    and the apply stops (unless told to force a new generation). *apply-read*
//! 2. `recover.rs` — resolve what an earlier apply left in doubt: commit a staged generation
//!    the recorded decision commits, and record that apply's result once every node runs
//!    it; abort any other staged generation.
//! 3. `prepare.rs` — stage the new generation on every node it changes and every node out
//!    of step with the state, built on what each was seen to run; if any refuses, times out
//!    or is unreachable, abort them all. *apply-prepared*
//! 4. `record.rs` (decide) — record the decision (the generation, its digest, the nodes and
//!    the result to record) in the state store before any commit goes out.
//!    *apply-decided*
//! 5. `commit.rs` — commit everywhere; if a commit fails, `rollback.rs` puts the committed
//!    nodes back on the generation they had and the decision is marked rolled back.
//!    *apply-committed*, *apply-rolled-back*
//! 6. `record.rs` (result) — record the result; an apply with nothing to change leaves the
//!    state as it is. *apply-saved*
//!
//! Agents write a staged generation to disk before they vote yes (*agent-prepare*,
//! *agent-voted*) and a commit before they answer it (*agent-commit*, *agent-committed*),
//! so an agent that restarts still holds what it promised, and learns what to do with it
//! from the next apply (phase 2).

mod commit;
mod error;
mod prepare;
mod read;
mod record;
mod recover;
mod rollback;

pub use error::ApplyError;
pub use recover::Resolved;

use crate::agents::Agents;
use crate::crash_point::{Step, reached};
use crate::state::{NodeGeneration, StateStore, node_documents, state_digest};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use strata_compiler::config::{ConfigSet, Summary};
use strata_compiler::plan::{Plan, diff, digest};

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
    /// What an earlier apply left in doubt, resolved before this one prepared anything.
    pub resolved: Resolved,
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
    let mut state = store.load()?;
    if let Some(expected) = &options.expected_state {
        let now = state_digest(state.as_ref());
        if &now != expected {
            return Err(ApplyError::StateMoved(format!(
                "the state has moved since the plan was made (generation {} now); run `strata plan` again",
                state.as_ref().map_or(0, |s| s.generation)
            )));
        }
    }

    // 1. What every node runs: those of the state, of the new configuration and of a
    // decision in doubt.
    let mut nodes: BTreeSet<String> = configs.nodes.keys().cloned().collect();
    if let Some(s) = &state {
        nodes.extend(s.configs.nodes.keys().cloned());
        if let Some(d) = &s.decided {
            // A node since taken out of the agents file cannot complete it.
            let known = d.nodes.iter().filter(|n| agents.agents.contains_key(*n));
            nodes.extend(known.cloned());
        }
    }
    if let Some(n) = nodes.iter().find(|n| !agents.agents.contains_key(*n)) {
        return Err(ApplyError::NoAgent(n.clone()));
    }
    let nodes: Vec<String> = nodes.into_iter().collect();
    let (mut seen, mut failures, skipped) =
        read::running(agents, &nodes, options.timeout, options.skip_unreachable).await;
    if !options.force_generation
        && let Some(stale) = read::stale(state.as_ref(), &seen)
    {
        return Err(stale);
    }
    reached(Step::ApplyRead).await;

    // 2. What an earlier apply left in doubt.
    let resolved = recover::resolve(store, &mut state, &mut seen).await?;

    // 3. The new generation: above the state's, above a decided one that may run somewhere
    // and, when forcing, above everything the agents run.
    let old_configs = state
        .as_ref()
        .map(|s| s.configs.clone())
        .unwrap_or_default();
    let plan = diff(Some(&old_configs), configs);
    let state_generation = state.as_ref().map_or(0, |s| s.generation);
    let decided = state
        .as_ref()
        .and_then(|s| s.decided.as_ref())
        .map_or(0, |d| d.generation);
    let mut last = state_generation.max(decided);
    if options.force_generation {
        last = last.max(seen.iter().map(|s| s.running.generation).max().unwrap_or(0));
    }
    let generation = last
        .checked_add(1)
        .ok_or(ApplyError::GenerationsExhausted(last))?;
    let new_digest = digest(configs);
    let expected: BTreeMap<String, NodeGeneration> =
        state.as_ref().map(|s| s.nodes.clone()).unwrap_or_default();
    let (targets, resynced) = prepare::targets(
        seen,
        &expected,
        &plan.affected_nodes,
        &node_documents(configs),
        generation,
        &new_digest,
    );
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
            resolved,
        });
    }
    let (bytes_sent, failures) = prepare::prepare_all(&targets).await;
    if !failures.is_empty() {
        prepare::abort_all(&targets, generation).await;
        return Err(ApplyError::Aborted {
            generation,
            failures,
        });
    }
    if let Some(hook) = after_prepare {
        hook();
    }
    reached(Step::ApplyPrepared).await;

    // 4. The decision, recorded before any commit goes out.
    let outcome = record::outcome(
        &expected,
        &targets,
        generation,
        &new_digest,
        network,
        configs,
        summary,
    );
    let decided = match record::decide(store, state.as_ref(), &targets, &outcome) {
        Ok(d) => d,
        Err(e) => {
            prepare::abort_all(&targets, generation).await;
            return Err(e.into());
        }
    };
    reached(Step::ApplyDecided).await;

    // 5. Commit everywhere, or put back the nodes that did.
    let (committed, failures) = commit::commit_all(&targets, generation, &new_digest).await;
    if !failures.is_empty() {
        let rollback_failures = rollback::roll_back(&targets, &committed, generation).await;
        reached(Step::ApplyRolledBack).await;
        // Not noting it only costs the next apply an attempt to commit a staged copy.
        let _ = record::rolled_back(store, decided);
        return Err(ApplyError::RolledBack {
            generation,
            failures,
            rollback_failures,
        });
    }
    reached(Step::ApplyCommitted).await;

    // 6. The result.
    record::result(store, &outcome)?;
    reached(Step::ApplySaved).await;
    Ok(ApplyReport {
        generation,
        plan,
        nodes: targets.iter().map(|t| t.node.clone()).collect(),
        resynced,
        skipped,
        bytes_sent,
        resolved,
    })
}

/// Runs futures concurrently and returns their results in order.
pub(crate) async fn futures_join<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
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
