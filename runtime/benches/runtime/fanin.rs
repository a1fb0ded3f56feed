//! The fan-in part: telemetry from many agents into one controller.

use super::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strata_runtime::agent::Backend;
use strata_runtime::agent::service::AgentService;
use strata_runtime::agents::Agents;
use strata_runtime::control::subscribe;
use strata_runtime::pb;
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------
// Part 2: telemetry fan-in
// ---------------------------------------------------------------------------------------

/// An agent backend whose telemetry is a fixed realistic sample: 4 QKD links and 4 service
/// units, stamped with the wall-clock time it was made.
pub(crate) struct FixedBackend {
    period: Duration,
    template: pb::TelemetrySample,
}

impl FixedBackend {
    fn new(node: &str, period: Duration) -> FixedBackend {
        let links = (0..4)
            .map(|i| pb::LinkSample {
                link: format!("q-{node}-peer{i}"),
                peer: format!("peer{i}"),
                kind: "qkd".into(),
                up: true,
                skr: 250_000.0 + 1_000.0 * i as f64,
                eskr: 240_000.0,
                qber: 0.021,
                pool: 1.5e6,
                fidelity: 0.979,
            })
            .collect();
        let units = (0..4)
            .map(|i| pb::UnitSample {
                service_unit: format!("key-{node}-{i:03}"),
                role: if i % 2 == 0 {
                    "master".into()
                } else {
                    "slave".into()
                },
                delivered_rate: 25.0,
                target_rate: 25.0,
                fidelity: 0.979,
                delivered_total: 123_456,
            })
            .collect();
        FixedBackend {
            period,
            template: pb::TelemetrySample {
                node: node.into(),
                generation: 0,
                time_s: 0.0,
                up: true,
                links,
                units,
            },
        }
    }
}

pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Backend for FixedBackend {
    fn install(&self, _node: &str, _config: &strata_compiler::config::NodeConfig) {}

    fn sample(&self, _node: &str, generation: u64) -> pb::TelemetrySample {
        let mut s = self.template.clone();
        s.generation = generation;
        s.time_s = unix_now();
        s
    }

    fn fault(&self, _fault: &pb::FaultRequest) -> Result<(), String> {
        Err("no faults here".into())
    }

    fn telemetry_period(&self) -> Duration {
        self.period
    }
}

pub(crate) struct FaninRun {
    agents: usize,
    period_ms: f64,
    connected: usize,
    setup: Duration,
    window: Duration,
    samples: usize,
    down: usize,
    nodes_seen: usize,
    lag_p50: f64,
    lag_p99: f64,
    lag_max: f64,
    cpu: Duration,
    fds: usize,
    sample_bytes: usize,
    /// Share of all CPUs busy (any process) during the window.
    machine_busy: f64,
}

pub(crate) fn bench_fanin(rows: &mut Rows) {
    let part = "fanin";
    let wanted: usize = env_num("STRATA_RUNTIME_BENCH_AGENTS", 1000).max(1);
    // Each agent costs 3 descriptors: its listener, the accepted connection and the
    // subscriber's connection. Keep 256 spare.
    let limit = nofile_limit().map_or(1024, |(s, _)| s);
    let fit = (limit.saturating_sub(256) / 3) as usize;
    let agents = wanted.min(fit.max(1));
    if agents < wanted {
        row(
            rows,
            part,
            "agents lowered",
            format!("{wanted} wanted, {agents} fit in `ulimit -n` = {limit}"),
        );
    }
    let window_s: f64 = env_num("STRATA_RUNTIME_BENCH_WINDOW", 5.0f64).clamp(0.5, 60.0);
    let periods = env_list("STRATA_RUNTIME_BENCH_PERIODS", &[50.0, 20.0, 10.0]);
    for period_ms in periods {
        let period_ms = period_ms.clamp(1.0, 10_000.0);
        let rt = runtime();
        let run = rt.block_on(fanin_once(agents, period_ms, window_s));
        // Dropping the runtime cancels every server, stream and subscriber task.
        rt.shutdown_timeout(Duration::from_secs(2));
        match run {
            Ok(r) => {
                let offered = r.agents as f64 * 1e3 / r.period_ms;
                let sustained = r.samples as f64 / r.window.as_secs_f64();
                let cpu = r.cpu.as_secs_f64() / r.window.as_secs_f64();
                let what = format!("{} agents, period {} ms", r.agents, r.period_ms);
                row(
                    rows,
                    part,
                    format!("{what}: offered / sustained samples/s"),
                    format!(
                        "{offered:.0} / {sustained:.0} ({:.0} %)",
                        100.0 * sustained / offered
                    ),
                );
                row(
                    rows,
                    part,
                    format!("{what}: sample age at consumer p50 / p99 / max"),
                    format!(
                        "{:.1} / {:.1} / {:.1} ms",
                        r.lag_p50 * 1e3,
                        r.lag_p99 * 1e3,
                        r.lag_max * 1e3
                    ),
                );
                row(
                    rows,
                    part,
                    format!("{what}: process CPU during window"),
                    format!(
                        "{:.2} cores ({:.1} µs CPU per sample, {} B per encoded sample); all CPUs {:.0} % busy",
                        cpu,
                        r.cpu.as_secs_f64() * 1e6 / r.samples.max(1) as f64,
                        r.sample_bytes,
                        100.0 * r.machine_busy
                    ),
                );
                row(
                    rows,
                    part,
                    format!("{what}: setup / streams / nodes heard / reconnects / fds"),
                    format!(
                        "{} / {} / {} / {} / {}",
                        ms(r.setup),
                        r.connected,
                        r.nodes_seen,
                        r.down,
                        r.fds
                    ),
                );
            }
            Err(e) => row(
                rows,
                part,
                format!("{agents} agents, period {period_ms} ms"),
                format!("failed: {e}"),
            ),
        }
    }
    row(
        rows,
        part,
        "window",
        format!(
            "{window_s} s after 2 s warm-up; consumer = one task on `control::subscribe`'s channel"
        ),
    );
}

pub(crate) async fn fanin_once(
    agents: usize,
    period_ms: f64,
    window_s: f64,
) -> Result<FaninRun, String> {
    use prost::Message;
    let period = Duration::from_secs_f64(period_ms / 1e3);
    let t = Instant::now();
    let mut addresses = BTreeMap::new();
    let mut sample_bytes = 0;
    for i in 0..agents {
        let node = format!("agent{i:04}");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind #{i}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        addresses.insert(node.clone(), addr.to_string());
        let backend = Arc::new(FixedBackend::new(&node, period));
        if i == 0 {
            sample_bytes = backend.sample(&node, 1).encoded_len();
        }
        let service = AgentService::new(node, backend).into_server();
        tokio::spawn(async move {
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await;
        });
    }
    let agents_file = Agents {
        network: "fanin".into(),
        twin: false,
        agents: addresses,
        tls: None,
    };
    let mut rx = subscribe(&agents_file, Duration::from_millis(200));
    // Warm-up: until every agent was heard from (bounded), then 2 s more.
    let mut heard = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while heard.len() < agents && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(s)) => {
                if s.up {
                    heard.insert(s.node);
                }
            }
            Ok(None) => return Err("subscription closed".into()),
            Err(_) => break,
        }
    }
    let connected = heard.len();
    let setup = t.elapsed();
    let warm_until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < warm_until {
        if tokio::time::timeout_at(warm_until, rx.recv())
            .await
            .is_ok_and(|s| s.is_none())
        {
            return Err("subscription closed".into());
        }
    }

    let cpu0 = process_cpu();
    let machine0 = machine_cpu();
    let start = Instant::now();
    let end = tokio::time::Instant::now() + Duration::from_secs_f64(window_s);
    let mut samples = 0usize;
    let mut down = 0usize;
    let mut nodes = BTreeSet::new();
    let mut lags = Vec::with_capacity((agents as f64 * 1e3 / period_ms * window_s) as usize + 16);
    let mut fds = 0;
    loop {
        match tokio::time::timeout_at(end, rx.recv()).await {
            Ok(Some(s)) => {
                if s.up {
                    samples += 1;
                    lags.push(unix_now() - s.time_s);
                    if samples % 4096 == 1 {
                        nodes.insert(s.node);
                        fds = fds.max(open_fds());
                    } else if nodes.len() < agents {
                        nodes.insert(s.node);
                    }
                } else {
                    down += 1;
                }
            }
            Ok(None) => return Err("subscription closed".into()),
            Err(_) => break,
        }
    }
    let window = start.elapsed();
    let cpu = process_cpu().saturating_sub(cpu0);
    let machine1 = machine_cpu();
    let machine_busy = (machine1.0 - machine0.0) as f64 / (machine1.1 - machine0.1).max(1) as f64;
    lags.sort_by(f64::total_cmp);
    Ok(FaninRun {
        agents,
        period_ms,
        connected,
        setup,
        window,
        samples,
        down,
        nodes_seen: nodes.len(),
        lag_p50: quantile(&lags, 0.5),
        lag_p99: quantile(&lags, 0.99),
        lag_max: lags.last().copied().unwrap_or(f64::NAN),
        cpu,
        fds: fds.max(open_fds()),
        sample_bytes,
        machine_busy,
    })
}
