//! Phase 5 of an apply: the commit, sent to every target at once once the decision is
//! recorded. Each commit names the generation's digest, so an agent never switches to
//! contents another apply staged under the same number.

use super::futures_join;
use super::prepare::Target;
use crate::pb;

/// Commits `generation` (with `digest`) on every target; returns the nodes that committed
/// and those that did not, with why.
pub(super) async fn commit_all(
    targets: &[Target],
    generation: u64,
    digest: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let commits = targets.iter().map(|t| {
        let mut client = t.client.clone();
        let node = t.node.clone();
        let request = pb::CommitRequest {
            generation,
            digest: digest.to_string(),
        };
        async move {
            let r = match client.as_mut() {
                Some(c) => c.commit(request).await.map(|r| r.into_inner()),
                None => Err(tonic::Status::unavailable("unreachable")),
            };
            match r {
                Ok(reply) if reply.ok => Ok(node),
                Ok(reply) => Err((node, reply.error)),
                Err(status) => Err((node, status.message().to_string())),
            }
        }
    });
    let (mut committed, mut failures) = (Vec::new(), Vec::new());
    for r in futures_join(commits).await {
        match r {
            Ok(node) => committed.push(node),
            Err(f) => failures.push(f),
        }
    }
    (committed, failures)
}
