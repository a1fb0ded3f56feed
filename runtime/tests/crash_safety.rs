//! A controller that dies at any step of an apply leaves nothing the next apply cannot
//! finish: the test plays a dying apply up to each step — prepare sent to some agents,
//! every agent voted, decision recorded, commit sent to some, every commit done but the
//! result not recorded — then runs a real apply, and checks that every node runs exactly
//! what the state says it runs, nothing is left staged, and the apply after it has nothing
//! to change. A decision recorded with the result to record is completed (the decided
//! generation is committed where it is staged, and recorded); one without it, as an older
//! strata wrote it, is passed with a new generation.

use std::collections::BTreeMap;
use std::time::Duration;
use strata_compiler::compile::{CompileOptions, Compiled, compile};
use strata_runtime::apply::{ApplyOptions, apply};
use strata_runtime::pb;
use strata_runtime::state::{
    Decision, MemoryStore, NodeGeneration, State, StateStore, node_documents,
};
use strata_runtime::twin::host::Twin;

mod common;

use common::{load, twin_options};

#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
/// Where the controller dies: after this much of the apply was done.
enum Death {
    SomePrepared,
    EveryVoted,
    Decided,
    SomeCommitted,
    EveryCommitted,
}

async fn run(twin: &Twin, store: &MemoryStore, compiled: &Compiled) -> u64 {
    apply(
        store,
        &twin.agents,
        &compiled.configs,
        Some(&compiled.summary),
        &ApplyOptions::default(),
        None,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .generation
}

async fn running(twin: &Twin) -> BTreeMap<String, pb::RunningReply> {
    let mut out = BTreeMap::new();
    for (node, addr) in &twin.agents.agents {
        let mut c = twin
            .agents
            .connect(addr, Duration::from_secs(5))
            .await
            .unwrap();
        let r = c
            .get_running(pb::RunningRequest {})
            .await
            .unwrap()
            .into_inner();
        out.insert(node.clone(), r);
    }
    out
}

/// What a controller that dies at `death` leaves behind, applying `next` (generation
/// `generation`) on top of what runs; its decision holds the result to record when `full`.
async fn die(
    twin: &Twin,
    store: &MemoryStore,
    next: &Compiled,
    generation: u64,
    death: Death,
    full: bool,
) {
    let docs = node_documents(&next.configs);
    let digest = strata_compiler::plan::digest(&next.configs);
    let before = running(twin).await;
    let nodes: Vec<&String> = before.keys().collect();
    let half = nodes.len() / 2;
    let mut clients = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        if death == Death::SomePrepared && i >= half {
            break;
        }
        let mut c = twin
            .agents
            .connect(&twin.agents.agents[*node], Duration::from_secs(5))
            .await
            .unwrap();
        let reply = c
            .prepare(pb::PrepareRequest {
                generation,
                digest: digest.clone(),
                node: (*node).clone(),
                documents: docs
                    .get(*node)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
                base_generation: before[*node].generation,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(reply.ok, "{node}: {}", reply.error);
        clients.insert((*node).clone(), c);
    }
    if death < Death::Decided {
        return;
    }
    let mut decided = store.load().unwrap().unwrap();
    let on_new = NodeGeneration {
        generation,
        digest: digest.clone(),
    };
    let outcome = State {
        generation,
        config_digest: digest.clone(),
        network: decided.network.clone(),
        configs: next.configs.clone(),
        nodes: clients
            .keys()
            .filter(|n| next.configs.nodes.contains_key(*n))
            .map(|n| (n.clone(), on_new.clone()))
            .collect(),
        summary: Some(next.summary.clone()),
        decided: None,
    };
    decided.decided = Some(Decision {
        generation,
        digest: digest.clone(),
        nodes: if full {
            clients.keys().cloned().collect()
        } else {
            Vec::new()
        },
        outcome: full.then(|| Box::new(outcome)),
        rolled_back: false,
    });
    store.save(&decided).unwrap();
    for (i, (node, c)) in clients.iter_mut().enumerate() {
        if death == Death::Decided || (death == Death::SomeCommitted && i >= half) {
            break;
        }
        let reply = c
            .commit(pb::CommitRequest {
                generation,
                digest: digest.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(reply.ok, "{node}: {}", reply.error);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_killed_at_any_step_is_finished_by_the_next_one() {
    let (program, inv) = load("intents/metro.qi");
    let first = compile(&program, &inv, &CompileOptions::default());
    let mut smaller = program.clone();
    smaller.intents.retain(|i| i.name != "vpn-core");
    let second = compile(&smaller, &inv, &CompileOptions::default());
    for (death, full) in [
        (Death::SomePrepared, true),
        (Death::EveryVoted, true),
        (Death::Decided, true),
        (Death::Decided, false),
        (Death::SomeCommitted, true),
        (Death::SomeCommitted, false),
        (Death::EveryCommitted, true),
        (Death::EveryCommitted, false),
    ] {
        let twin = Twin::start(&inv, twin_options(20.0)).await.unwrap();
        let store = MemoryStore::default();
        let g1 = run(&twin, &store, &first).await;
        die(&twin, &store, &second, g1 + 1, death, full).await;

        // The next apply goes through, whatever the dead one left: it finishes the dead
        // one's generation when it can, and passes it otherwise.
        let g = run(&twin, &store, &second).await;
        let passed = death >= Death::Decided && !full;
        assert_eq!(g, g1 + 1 + u64::from(passed), "{death:?}, full {full}");
        let state = store.load().unwrap().unwrap();
        assert_eq!(state.decided, None, "{death:?}");
        assert_eq!(
            state.config_digest,
            strata_compiler::plan::digest(&second.configs)
        );
        for (node, r) in running(&twin).await {
            let expected = state.node_generation(&node);
            assert_eq!(
                (r.generation, r.digest.as_str()),
                (expected.generation, expected.digest.as_str()),
                "{death:?}: {node} runs other than the state says"
            );
            assert_eq!(r.prepared_generation, 0, "{death:?}: {node} left staged");
        }
        // And nothing is left to do.
        let again = run(&twin, &store, &second).await;
        assert_eq!(again, g, "{death:?}");
        twin.shutdown().await;
    }
}
