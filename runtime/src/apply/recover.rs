//! Phase 2 of an apply: resolve what an apply that died (or a node that restarted) left in
//! doubt, before anything new is prepared. The controller is the only writer of the state
//! and the only one that tells agents what to do; an agent that restarts holding a staged
//! generation keeps it until the controller's next apply tells it the decision:
//!
//! - a staged generation that the state's decision record commits (the decision was
//!   recorded, and not rolled back) is committed — the dead apply's commit, delivered late;
//!   once every node the decision names runs it, the result the dead apply would have
//!   recorded (kept in the decision) is recorded, and this apply builds on it;
//! - any other staged generation is aborted: without a recorded decision to commit, a
//!   two-phase commit's answer is abort.
//!
//! A decision that cannot be completed (it was rolled back, it comes from an older strata
//! without the result to record, or a node lost what it staged) stays in the state, and
//! the apply takes every node past it with a new generation.

use super::read::Seen;
use super::{ApplyError, futures_join};
use crate::pb;
use crate::state::{Decision, State, StateStore, node_documents};

/// What the apply found left in doubt, and what it did about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// The generation an earlier apply decided, completed now: every node it names runs
    /// it and the state records it.
    pub completed: Option<u64>,
    /// Nodes that committed the decided generation they held staged.
    pub committed: Vec<String>,
    /// Nodes that dropped a staged generation no decision commits: node and generation.
    pub aborted: Vec<(String, u64)>,
}

impl Resolved {
    pub fn is_empty(&self) -> bool {
        self.completed.is_none() && self.committed.is_empty() && self.aborted.is_empty()
    }
}

/// Resolves every staged generation among `seen` and, when the state's decision can be
/// completed, records its result in `store` and in `state`. `seen` is brought up to date
/// with what each node runs afterwards.
pub(super) async fn resolve(
    store: &dyn StateStore,
    state: &mut Option<State>,
    seen: &mut [Seen],
) -> Result<Resolved, ApplyError> {
    let mut resolved = Resolved::default();
    let decision = state
        .as_ref()
        .and_then(|s| s.decided.clone())
        .filter(|d| !d.rolled_back);
    if let Some(d) = &decision {
        resolved.committed = commit_decided(d, seen).await;
        if let Some(outcome) = d.outcome.as_deref().filter(|_| complete(d, seen)) {
            let mut done = outcome.clone();
            done.decided = None;
            store.save(&done)?;
            *state = Some(done);
            resolved.completed = Some(d.generation);
        }
    }
    resolved.aborted = abort_staged(seen).await;
    Ok(resolved)
}

/// Commits `d` on every node it names that holds it staged; returns those that did.
async fn commit_decided(d: &Decision, seen: &mut [Seen]) -> Vec<String> {
    let documents = d
        .outcome
        .as_ref()
        .map(|o| node_documents(&o.configs))
        .unwrap_or_default();
    let commits = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            d.nodes.contains(&s.node)
                && d.is(s.running.prepared_generation, &s.running.prepared_digest)
        })
        .filter_map(|(i, s)| Some((i, s.client.clone()?)))
        .map(|(i, mut client)| {
            let request = pb::CommitRequest {
                generation: d.generation,
                digest: d.digest.clone(),
            };
            async move {
                let ok = client
                    .commit(request)
                    .await
                    .is_ok_and(|r| r.into_inner().ok);
                (i, ok)
            }
        });
    let mut committed = Vec::new();
    for (i, ok) in futures_join(commits).await {
        if !ok {
            continue;
        }
        let s = &mut seen[i];
        s.running = pb::RunningReply {
            node: s.node.clone(),
            generation: d.generation,
            digest: d.digest.clone(),
            documents: documents
                .get(&s.node)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            prepared_generation: 0,
            prepared_digest: String::new(),
        };
        committed.push(s.node.clone());
    }
    committed
}

/// Whether every node `d` names runs it.
fn complete(d: &Decision, seen: &[Seen]) -> bool {
    d.nodes.iter().all(|node| {
        seen.iter()
            .any(|s| &s.node == node && d.is(s.running.generation, &s.running.digest))
    })
}

/// Aborts every generation still staged; returns the nodes told to, with the generation.
async fn abort_staged(seen: &mut [Seen]) -> Vec<(String, u64)> {
    let aborts = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.running.prepared_generation != 0)
        .filter_map(|(i, s)| Some((i, s.client.clone()?, s.running.prepared_generation)))
        .map(|(i, mut client, generation)| async move {
            let ok = client.abort(pb::AbortRequest { generation }).await.is_ok();
            (i, generation, ok)
        });
    let mut aborted = Vec::new();
    for (i, generation, ok) in futures_join(aborts).await {
        let s = &mut seen[i];
        if ok {
            s.running.prepared_generation = 0;
            s.running.prepared_digest.clear();
        }
        aborted.push((s.node.clone(), generation));
    }
    aborted
}
