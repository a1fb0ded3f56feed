//! The apply part: first, no-op and 5 %-dropped applies to an in-process twin, and the GetRunning probe.

use super::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use strata_compiler::compile::{CompileOptions, compile};
use strata_compiler::frontend::{self};
use strata_compiler::synth::Scenario;
use strata_runtime::agent::channel::connect;
use strata_runtime::agent::service::AgentService;
use strata_runtime::agents::Agents;
use strata_runtime::apply::{ApplyOptions, apply};
use strata_runtime::pb;
use strata_runtime::state::MemoryStore;
use strata_runtime::twin::host::{Twin, TwinOptions};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------
// Part 1: apply of a 100-node network
// ---------------------------------------------------------------------------------------

const APPLY_NODES: usize = 100;
const APPLY_INTENTS: usize = 300;
const APPLY_SEED: u64 = 1;

pub(crate) struct ApplyRun {
    first: Duration,
    first_nodes: usize,
    first_bytes: usize,
    noop: Duration,
    noop_nodes: usize,
    scan_empty: Duration,
    second: Duration,
    second_nodes: usize,
    second_affected: usize,
    second_bytes: usize,
    scan: Duration,
}

pub(crate) fn bench_apply(rows: &mut Rows) {
    let part = "apply";
    let scenario = Scenario::generate(APPLY_NODES, APPLY_INTENTS, APPLY_SEED);
    let t = Instant::now();
    let mut fe = frontend::run(
        &[std::path::PathBuf::from(
            strata_compiler::synth::INTENTS_PATH,
        )],
        &frontend::Options::default(),
        &scenario.loader(),
    );
    let frontend_time = t.elapsed();
    if fe.has_errors() || fe.networks.is_empty() {
        eprintln!(
            "the synthetic scenario does not check: {:#?}",
            fe.diagnostics
        );
        row(
            rows,
            part,
            "error",
            "synthetic scenario has errors; skipped",
        );
        return;
    }
    let net = fe.networks.remove(0);
    let (program, inventory) = (net.program, net.inventory.expect("inventory"));

    let t = Instant::now();
    let full = compile(&program, &inventory, &CompileOptions::default());
    let compile_full = t.elapsed();
    // ~5 % fewer intents: drop every 20th.
    let mut smaller = program.clone();
    let before = smaller.intents.len();
    let mut k = 0;
    smaller.intents.retain(|_| {
        k += 1;
        k % 20 != 0
    });
    let dropped = before - smaller.intents.len();
    let t = Instant::now();
    let reduced = compile(&smaller, &inventory, &CompileOptions::default());
    let compile_reduced = t.elapsed();
    let docs_bytes: usize = full
        .configs
        .nodes
        .values()
        .map(|n| serde_yaml::to_string(n).map_or(0, |s| s.len()))
        .sum();

    row(
        rows,
        part,
        "scenario",
        format!(
            "{} nodes, {} links, {} intents (synth seed {APPLY_SEED}); {} nodes configured; {} admitted, {} partial, {} rejected",
            scenario.network.nodes.len(),
            scenario.network.links.len(),
            program.intents.len(),
            full.configs.nodes.len(),
            full.summary.admitted,
            full.summary.partial,
            full.summary.rejected
        ),
    );
    row(rows, part, "front end (parse + check)", ms(frontend_time));
    row(
        rows,
        part,
        "compile (all intents / 5 % dropped)",
        format!("{} / {}", ms(compile_full), ms(compile_reduced)),
    );

    let repeat: usize = env_num("STRATA_RUNTIME_BENCH_REPEAT", 3).max(1);
    let rt = runtime();
    let mut runs = Vec::new();
    for r in 0..repeat {
        let run = rt.block_on(async {
            let twin = Twin::start(&inventory, TwinOptions::default())
                .await
                .map_err(|e| format!("twin: {e}"))?;
            let store = MemoryStore::default();
            let options = ApplyOptions::default();
            let scan_empty = scan(&twin.agents).await?;
            let t = Instant::now();
            let first = apply(
                &store,
                &twin.agents,
                &full.configs,
                Some(&full.summary),
                &options,
                None,
            )
            .await
            .map_err(|e| format!("first apply: {e}"))?;
            let first_t = t.elapsed();
            let t = Instant::now();
            let noop = apply(
                &store,
                &twin.agents,
                &full.configs,
                Some(&full.summary),
                &options,
                None,
            )
            .await
            .map_err(|e| format!("no-op apply: {e}"))?;
            let noop_t = t.elapsed();
            let t = Instant::now();
            let second = apply(
                &store,
                &twin.agents,
                &reduced.configs,
                Some(&reduced.summary),
                &options,
                None,
            )
            .await
            .map_err(|e| format!("second apply: {e}"))?;
            let second_t = t.elapsed();
            let scan = scan(&twin.agents).await?;
            twin.shutdown().await;
            Ok::<_, String>(ApplyRun {
                first: first_t,
                first_nodes: first.nodes.len(),
                first_bytes: first.bytes_sent,
                noop: noop_t,
                noop_nodes: noop.nodes.len(),
                scan_empty,
                second: second_t,
                second_nodes: second.nodes.len(),
                second_affected: second.plan.affected_nodes.len(),
                second_bytes: second.bytes_sent,
                scan,
            })
        });
        match run {
            Ok(run) => {
                eprintln!(
                    "  run {}: first {:.0} ms, no-op {:.0} ms, second {:.0} ms",
                    r + 1,
                    run.first.as_secs_f64() * 1e3,
                    run.noop.as_secs_f64() * 1e3,
                    run.second.as_secs_f64() * 1e3
                );
                runs.push(run);
            }
            Err(e) => {
                eprintln!("  run {}: {e}", r + 1);
                row(rows, part, format!("run {}", r + 1), format!("failed: {e}"));
            }
        }
    }
    let probe = rt.block_on(nagle_probe(&full.configs));
    rt.shutdown_timeout(Duration::from_secs(2));
    match probe {
        Ok(p) => {
            for (what, v) in p {
                row(rows, part, what, v);
            }
        }
        Err(e) => row(rows, part, "GetRunning probe", format!("failed: {e}")),
    }
    if runs.is_empty() {
        return;
    }
    let stat = |f: &dyn Fn(&ApplyRun) -> Duration| {
        let v: Vec<f64> = runs.iter().map(|r| f(r).as_secs_f64() * 1e3).collect();
        format!(
            "{:.1} ms (min {:.1}, max {:.1}; n={})",
            median(&v),
            min(&v),
            max(&v),
            v.len()
        )
    };
    let r0 = &runs[0];
    row(rows, part, "first apply: wall time", stat(&|r| r.first));
    row(
        rows,
        part,
        "first apply: nodes pushed / bytes sent",
        format!(
            "{} / {} (prepare requests; {} of YAML documents)",
            r0.first_nodes,
            kib(r0.first_bytes as f64),
            kib(docs_bytes as f64)
        ),
    );
    row(
        rows,
        part,
        "no-op apply (same configs): wall time",
        stat(&|r| r.noop),
    );
    row(
        rows,
        part,
        "no-op apply: nodes pushed",
        r0.noop_nodes.to_string(),
    );
    row(
        rows,
        part,
        "sequential connect + GetRunning to every agent: before first apply / after",
        format!("{} / {}", stat(&|r| r.scan_empty), stat(&|r| r.scan)),
    );
    row(
        rows,
        part,
        format!("second apply ({dropped} of {before} intents dropped): wall time"),
        stat(&|r| r.second),
    );
    row(
        rows,
        part,
        "second apply: nodes pushed (plan's affected nodes) / bytes sent",
        format!(
            "{} ({}) / {}",
            r0.second_nodes,
            r0.second_affected,
            kib(r0.second_bytes as f64)
        ),
    );
}

/// What apply's first loop does: connect + GetRunning, one agent after another.
pub(crate) async fn scan(agents: &Agents) -> Result<Duration, String> {
    let t = Instant::now();
    for addr in agents.agents.values() {
        let mut c = agents.connect(addr, Duration::from_secs(5)).await?;
        c.get_running(pb::RunningRequest {})
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(t.elapsed())
}

/// One agent holding the largest node's documents, served like the twin serves it (the
/// accepted sockets keep Nagle's algorithm on) and with `TCP_NODELAY` on accepted sockets:
/// the median of 20 GetRunning calls on a warm channel, before and after it holds them.
pub(crate) async fn nagle_probe(
    configs: &strata_compiler::config::ConfigSet,
) -> Result<Vec<(String, String)>, String> {
    use tokio_stream::StreamExt;
    let docs = strata_runtime::state::node_documents(configs);
    let (node, documents) = docs
        .iter()
        .max_by_key(|(_, d)| d.values().map(String::len).sum::<usize>())
        .ok_or("no documents")?;
    let size: usize = documents.values().map(String::len).sum();
    let mut out = Vec::new();
    for nodelay in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .to_string();
        let service = AgentService::new(
            node.clone(),
            Arc::new(strata_runtime::agent::ConfigOnly::new()),
        )
        .into_server();
        let server = tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(move |s| {
                if let Ok(s) = &s {
                    let _ = s.set_nodelay(nodelay);
                }
                s
            });
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
        let mut c = connect(&addr, None, Duration::from_secs(5)).await?;
        let time_calls = async |c: &mut strata_runtime::pb::agent_client::AgentClient<_>| {
            let mut v = Vec::new();
            for _ in 0..20 {
                let t = Instant::now();
                c.get_running(pb::RunningRequest {})
                    .await
                    .map_err(|e| e.to_string())?;
                v.push(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok::<f64, String>(median(&v))
        };
        let empty = time_calls(&mut c).await?;
        let mut fresh = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let mut c = connect(&addr, None, Duration::from_secs(5)).await?;
            c.get_running(pb::RunningRequest {})
                .await
                .map_err(|e| e.to_string())?;
            fresh.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let fresh = (
            median(&fresh),
            fresh.iter().sum::<f64>() / fresh.len() as f64,
        );
        let req = pb::PrepareRequest {
            generation: 1,
            digest: "probe".into(),
            node: node.clone(),
            base_generation: 0,
            documents: documents.clone().into_iter().collect(),
        };
        let ok = c
            .prepare(req)
            .await
            .map_err(|e| e.to_string())?
            .into_inner();
        if !ok.ok {
            return Err(ok.error);
        }
        c.commit(pb::CommitRequest {
            generation: 1,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
        let full = time_calls(&mut c).await?;
        server.abort();
        out.push((
            format!(
                "GetRunning, accepted socket {}: new connection + call, empty agent (median of 20) / warm channel, empty (median of 20) / warm channel, holding {node}'s {}",
                if nodelay { "with TCP_NODELAY" } else { "as the twin serves it (Nagle on)" },
                kib(size as f64)
            ),
            format!("{:.2} ms (mean {:.2}) / {empty:.2} ms / {full:.2} ms", fresh.0, fresh.1),
        ));
    }
    Ok(out)
}
