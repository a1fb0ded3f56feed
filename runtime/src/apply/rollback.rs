//! Phase 5b of an apply, when a commit failed: the nodes that committed are put back on the
//! generation they ran before (the one exception to "generations only go up" that an agent
//! takes: undoing its last commit), and the others drop what they staged.

use super::futures_join;
use super::prepare::Target;
use crate::pb;

/// Puts the nodes that `committed` back on the generation they ran before; aborts the rest.
/// Returns the nodes that could not be put back, with why.
pub(super) async fn roll_back(
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
