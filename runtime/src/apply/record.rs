//! Phases 4 and 6 of an apply: what it writes to the state store. The decision — the
//! generation, its digest, the nodes that voted for it and the state to record once they
//! run it — goes in before any commit, so an apply that dies from then on leaves the next
//! one all it needs to finish it (see `recover.rs`). The result replaces the state once
//! every commit is done; a rollback is noted on the decision, so that a node still holding
//! the generation staged is told to abort it.

use super::prepare::Target;
use crate::state::{Decision, NodeGeneration, State, StateStore, StoreError};
use std::collections::BTreeMap;
use strata_compiler::config::{ConfigSet, Summary};

/// What an apply of `generation` records once every target runs it: `before`'s nodes,
/// the targets on the new generation, and nodes without configuration dropped.
pub(super) fn outcome(
    before: &BTreeMap<String, NodeGeneration>,
    targets: &[Target],
    generation: u64,
    digest: &str,
    network: &str,
    configs: &ConfigSet,
    summary: Option<&Summary>,
) -> State {
    let mut nodes = before.clone();
    for t in targets {
        nodes.insert(
            t.node.clone(),
            NodeGeneration {
                generation,
                digest: digest.to_string(),
            },
        );
    }
    nodes.retain(|n, _| configs.nodes.contains_key(n));
    State {
        generation,
        config_digest: digest.to_string(),
        network: network.to_string(),
        configs: configs.clone(),
        nodes,
        summary: summary.cloned(),
        decided: None,
    }
}

/// Records the decision to commit `outcome` on `targets`, on top of `state`; returns the
/// state as recorded.
pub(super) fn decide(
    store: &dyn StateStore,
    state: Option<&State>,
    targets: &[Target],
    outcome: &State,
) -> Result<State, StoreError> {
    let mut decision = state.cloned().unwrap_or_else(|| State {
        network: outcome.network.clone(),
        ..State::default()
    });
    decision.decided = Some(Decision {
        generation: outcome.generation,
        digest: outcome.config_digest.clone(),
        nodes: targets.iter().map(|t| t.node.clone()).collect(),
        outcome: Some(Box::new(outcome.clone())),
        rolled_back: false,
    });
    store.save(&decision)?;
    Ok(decision)
}

/// Notes on the recorded decision (`decided`, as [`decide`] returned it) that it was
/// rolled back. The decision stays, so that its generation number is never used again for
/// other contents.
pub(super) fn rolled_back(store: &dyn StateStore, mut state: State) -> Result<(), StoreError> {
    if let Some(d) = state.decided.as_mut() {
        d.rolled_back = true;
        d.outcome = None;
    }
    store.save(&state)
}

/// Records the result: `outcome` becomes the state, and the decision is gone with it.
pub(super) fn result(store: &dyn StateStore, outcome: &State) -> Result<(), StoreError> {
    store.save(outcome)
}
