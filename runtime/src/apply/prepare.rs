//! Phase 3 of an apply: which nodes take the new generation (those whose configuration
//! changes, and those out of step with the state), and the prepare that stages it on each:
//! every agent writes it to disk before it votes yes. One refusal, timeout or unreachable
//! agent aborts them all.

use super::futures_join;
use super::read::Seen;
use crate::pb;
use crate::pb::agent_client::AgentClient;
use crate::state::NodeGeneration;
use prost::Message;
use std::collections::BTreeMap;
use tonic::transport::Channel;

/// One node's part of an apply.
pub(super) struct Target {
    pub node: String,
    pub client: Option<AgentClient<Channel>>,
    /// What it ran before this apply: where a rollback takes it back to.
    pub previous: pb::RunningReply,
    pub request: pb::PrepareRequest,
}

/// The nodes that take `generation` (with `digest` and each node's `documents`): those the
/// plan `affected` and those that run other than `expected` says, which are also returned
/// (re-synchronised).
pub(super) fn targets(
    seen: Vec<Seen>,
    expected: &BTreeMap<String, NodeGeneration>,
    affected: &[String],
    documents: &BTreeMap<String, BTreeMap<String, String>>,
    generation: u64,
    digest: &str,
) -> (Vec<Target>, Vec<String>) {
    let mut targets = Vec::new();
    let mut resynced = Vec::new();
    for s in seen {
        let previous = s.running;
        let in_step = expected
            .get(&s.node)
            .is_some_and(|g| g.generation == previous.generation && g.digest == previous.digest)
            || (!expected.contains_key(&s.node) && previous.generation == 0);
        if !in_step {
            resynced.push(s.node.clone());
        }
        if affected.contains(&s.node) || !in_step {
            let docs = documents.get(&s.node).cloned().unwrap_or_default();
            targets.push(Target {
                request: pb::PrepareRequest {
                    generation,
                    digest: digest.to_string(),
                    node: s.node.clone(),
                    base_generation: previous.generation,
                    documents: docs.into_iter().collect(),
                },
                node: s.node,
                client: s.client,
                previous,
            });
        }
    }
    (targets, resynced)
}

/// Sends every target its prepare at once; returns the bytes sent and the nodes that did
/// not vote yes, with why.
pub(super) async fn prepare_all(targets: &[Target]) -> (usize, Vec<(String, String)>) {
    let bytes: usize = targets.iter().map(|t| t.request.encoded_len()).sum();
    let prepares = targets.iter().map(|t| {
        let req = t.request.clone();
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
    let failures = futures_join(prepares)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    (bytes, failures)
}

/// Tells every target to drop `generation`, if it holds it staged.
pub(super) async fn abort_all(targets: &[Target], generation: u64) {
    let aborts = targets
        .iter()
        .filter_map(|t| t.client.clone())
        .map(|mut c| async move {
            let _ = c.abort(pb::AbortRequest { generation }).await;
        });
    futures_join(aborts).await;
}
