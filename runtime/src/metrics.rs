//! Metrics for Prometheus: what the controller and the agents' telemetry say about every
//! intent, QKD link, entanglement link, node and the controller itself, kept in the official
//! Prometheus client's registry and served as OpenMetrics text on `GET /metrics`.
//!
//! Names follow the Prometheus conventions: a `strata_` prefix, the base unit as the last
//! word (`_bits_per_second`, `_seconds`, `_ratio`), counters ending in `_total`. Rates keep
//! one unit per metric, so key intents (`keys_per_second`) and pair intents
//! (`pairs_per_second`) are separate metrics. Every series carries the network's name as the
//! `network` label.

use crate::monitor::IntentStatus;
use crate::pb;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use strata_compiler::config::{Summary, UnitKind};
use tokio::net::TcpListener;

/// Content type of the OpenMetrics text exposition format.
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every state an intent can be in, as the `state` label spells it.
pub const INTENT_STATES: [&str; 5] = [
    "pending",
    "installed",
    "degraded",
    "unsatisfiable",
    "failed",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntentLabels {
    intent: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntentStateLabels {
    intent: String,
    state: String,
}

/// A link as one of its ends reports it: pools and rates are per end.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LinkLabels {
    link: String,
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

type FloatGauge = Family<IntentLabels, Gauge<f64, AtomicU64>>;
type LinkGauge = Family<LinkLabels, Gauge<f64, AtomicU64>>;

/// A rate metric per kind of service unit.
struct PerKind {
    keys: FloatGauge,
    pairs: FloatGauge,
}

impl PerKind {
    fn register(registry: &mut Registry, name: &str, help: &str) -> PerKind {
        let keys = FloatGauge::default();
        let pairs = FloatGauge::default();
        registry.register_with_unit(
            name,
            format!("{help}, for intents that deliver keys"),
            Unit::Other("keys_per_second".into()),
            keys.clone(),
        );
        registry.register_with_unit(
            name,
            format!("{help}, for intents that deliver entangled pairs"),
            Unit::Other("pairs_per_second".into()),
            pairs.clone(),
        );
        PerKind { keys, pairs }
    }

    fn set(&self, kind: UnitKind, intent: &str, value: f64) {
        let family = match kind {
            UnitKind::Keys => &self.keys,
            UnitKind::EntangledPairs => &self.pairs,
        };
        family
            .get_or_create(&IntentLabels {
                intent: intent.to_string(),
            })
            .set(value);
    }
}

/// The metrics of one network's controller (or twin), shared between the loop that updates
/// them and the listener that serves them.
pub struct Metrics {
    registry: Registry,
    intent_requested: PerKind,
    intent_target: PerKind,
    intent_measured: PerKind,
    intent_fidelity: FloatGauge,
    intent_state: Family<IntentStateLabels, Gauge>,
    intent_paths_up: Family<IntentLabels, Gauge>,
    qkd_skr: LinkGauge,
    qkd_eskr: LinkGauge,
    qkd_qber: LinkGauge,
    qkd_pool: LinkGauge,
    qkd_up: Family<LinkLabels, Gauge>,
    ent_rate: LinkGauge,
    ent_fidelity: LinkGauge,
    ent_stored: LinkGauge,
    ent_up: Family<LinkLabels, Gauge>,
    node_generation: Family<NodeLabels, Gauge>,
    node_up: Family<NodeLabels, Gauge>,
    generation: Gauge,
    replans: Counter,
    apply_failures: Counter,
    apply_duration: Histogram,
    leader: Gauge,
    leader_term: Gauge,
}

impl Metrics {
    /// Empty metrics for `network`.
    pub fn new(network: &str) -> Metrics {
        let mut r = Registry::with_prefix_and_labels(
            "strata",
            [(Cow::Borrowed("network"), Cow::Owned(network.to_string()))].into_iter(),
        );
        let intent_requested = PerKind::register(&mut r, "intent_requested", "Rate requested");
        let intent_target = PerKind::register(
            &mut r,
            "intent_target",
            "Rate admitted: what the network is configured to deliver",
        );
        let intent_measured = PerKind::register(
            &mut r,
            "intent_measured",
            "Rate measured at the slave end over the last telemetry interval",
        );
        let intent_fidelity = FloatGauge::default();
        r.register_with_unit(
            "intent_fidelity",
            "Fidelity measured at the slave end (keys: 1 - worst QBER on the path)",
            Unit::Other("ratio".into()),
            intent_fidelity.clone(),
        );
        let intent_state = Family::<IntentStateLabels, Gauge>::default();
        r.register(
            "intent_state",
            "1 for the state the intent is in, 0 for the others",
            intent_state.clone(),
        );
        let intent_paths_up = Family::<IntentLabels, Gauge>::default();
        r.register(
            "intent_paths_up",
            "Configured paths of the intent with every link and node up",
            intent_paths_up.clone(),
        );
        let link = |r: &mut Registry, name: &str, help: &str, unit: Unit| {
            let f = LinkGauge::default();
            r.register_with_unit(name, help, unit, f.clone());
            f
        };
        let qkd_skr = link(
            &mut r,
            "qkd_link_secret_key_rate",
            "Secret key rate the QKD link generates",
            Unit::Other("bits_per_second".into()),
        );
        let qkd_eskr = link(
            &mut r,
            "qkd_link_effective_secret_key_rate",
            "Effective secret key rate available for reservations",
            Unit::Other("bits_per_second".into()),
        );
        let qkd_qber = link(
            &mut r,
            "qkd_link_qber",
            "Quantum bit error rate of the QKD link",
            Unit::Other("ratio".into()),
        );
        let qkd_pool = link(
            &mut r,
            "qkd_link_key_pool",
            "Key in this end's pool of the QKD link",
            Unit::Other("bits".into()),
        );
        let qkd_up = Family::<LinkLabels, Gauge>::default();
        r.register(
            "qkd_link_up",
            "1 when the QKD link is up, 0 when it is down",
            qkd_up.clone(),
        );
        let ent_rate = link(
            &mut r,
            "entanglement_link_pair_rate",
            "Elementary pair rate the entanglement link generates",
            Unit::Other("pairs_per_second".into()),
        );
        let ent_fidelity = link(
            &mut r,
            "entanglement_link_fidelity",
            "Fidelity of the entanglement link's elementary pairs",
            Unit::Other("ratio".into()),
        );
        let ent_stored = link(
            &mut r,
            "entanglement_link_stored",
            "Pairs stored at this end of the entanglement link",
            Unit::Other("pairs".into()),
        );
        let ent_up = Family::<LinkLabels, Gauge>::default();
        r.register(
            "entanglement_link_up",
            "1 when the entanglement link is up, 0 when it is down",
            ent_up.clone(),
        );
        let node_generation = Family::<NodeLabels, Gauge>::default();
        r.register(
            "node_generation",
            "Configuration generation the node's agent runs",
            node_generation.clone(),
        );
        let node_up = Family::<NodeLabels, Gauge>::default();
        r.register(
            "node_up",
            "1 when the node's agent answers, 0 when it does not",
            node_up.clone(),
        );
        let generation = Gauge::default();
        r.register(
            "controller_generation",
            "Generation the controller last applied",
            generation.clone(),
        );
        let replans = Counter::default();
        r.register(
            "controller_replans",
            "Re-plans made by the closed loop (repairs and moves back)",
            replans.clone(),
        );
        let apply_failures = Counter::default();
        r.register(
            "controller_apply_failures",
            "Applies that left the network on its previous generation",
            apply_failures.clone(),
        );
        let apply_duration = Histogram::new(exponential_buckets(0.005, 2.0, 12));
        r.register_with_unit(
            "controller_apply_duration",
            "Time one apply took, from taking the lock to saving the state",
            Unit::Seconds,
            apply_duration.clone(),
        );
        let leader = Gauge::default();
        r.register(
            "controller_leader",
            "1 while this controller is the one applying, 0 while it stands by",
            leader.clone(),
        );
        let leader_term = Gauge::default();
        r.register(
            "controller_leader_term",
            "Leadership term this controller last led (0 when it never led)",
            leader_term.clone(),
        );
        Metrics {
            registry: r,
            intent_requested,
            intent_target,
            intent_measured,
            intent_fidelity,
            intent_state,
            intent_paths_up,
            qkd_skr,
            qkd_eskr,
            qkd_qber,
            qkd_pool,
            qkd_up,
            ent_rate,
            ent_fidelity,
            ent_stored,
            ent_up,
            node_generation,
            node_up,
            generation,
            replans,
            apply_failures,
            apply_duration,
            leader,
            leader_term,
        }
    }

    /// The OpenMetrics text of every metric now.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Records one agent's telemetry sample: the node and every link it reports.
    pub fn observe(&self, s: &pb::TelemetrySample) {
        let node = NodeLabels {
            node: s.node.clone(),
        };
        self.node_up.get_or_create(&node).set(i64::from(s.up));
        if !s.up {
            return;
        }
        self.node_generation
            .get_or_create(&node)
            .set(i64::try_from(s.generation).unwrap_or(i64::MAX));
        for l in &s.links {
            let labels = LinkLabels {
                link: l.link.clone(),
                node: s.node.clone(),
            };
            if l.kind == "qkd" {
                self.qkd_up.get_or_create(&labels).set(i64::from(l.up));
                self.qkd_skr.get_or_create(&labels).set(l.skr);
                self.qkd_eskr.get_or_create(&labels).set(l.eskr);
                self.qkd_qber.get_or_create(&labels).set(l.qber);
                self.qkd_pool.get_or_create(&labels).set(l.pool);
            } else {
                self.ent_up.get_or_create(&labels).set(i64::from(l.up));
                self.ent_rate.get_or_create(&labels).set(l.skr);
                self.ent_fidelity.get_or_create(&labels).set(l.fidelity);
                self.ent_stored.get_or_create(&labels).set(l.pool);
            }
        }
    }

    /// Records every intent's rates, fidelity, state and paths.
    pub fn record_intents(&self, summary: &Summary, statuses: &[IntentStatus]) {
        for s in statuses {
            let Some(kind) = summary
                .intents
                .iter()
                .find(|i| i.name == s.name)
                .map(|i| i.kind)
            else {
                continue;
            };
            self.intent_requested.set(kind, &s.name, s.requested);
            self.intent_target.set(kind, &s.name, s.target);
            self.intent_measured.set(kind, &s.name, s.measured);
            let intent = IntentLabels {
                intent: s.name.clone(),
            };
            if let Some(f) = s.fidelity {
                self.intent_fidelity.get_or_create(&intent).set(f);
            }
            self.intent_paths_up
                .get_or_create(&intent)
                .set(i64::try_from(s.paths).unwrap_or(i64::MAX));
            let now = s.state.word();
            for state in INTENT_STATES {
                self.intent_state
                    .get_or_create(&IntentStateLabels {
                        intent: s.name.clone(),
                        state: state.to_string(),
                    })
                    .set(i64::from(state == now));
            }
        }
    }

    /// Records an apply that took `took`: the generation it left the network on, or a
    /// failure.
    pub fn record_apply(&self, took: Duration, generation: Option<u64>) {
        self.apply_duration.observe(took.as_secs_f64());
        match generation {
            Some(g) => {
                self.generation.set(i64::try_from(g).unwrap_or(i64::MAX));
            }
            None => {
                self.apply_failures.inc();
            }
        }
    }

    /// Counts one re-plan of the closed loop.
    pub fn record_replan(&self) {
        self.replans.inc();
    }

    /// Records whether this controller leads, and in which term.
    pub fn record_leadership(&self, leader: bool, term: u64) {
        self.leader.set(i64::from(leader));
        if leader {
            self.leader_term
                .set(i64::try_from(term).unwrap_or(i64::MAX));
        }
    }
}

/// Listens on `addr` and serves `metrics` on `GET /metrics` until the task is dropped or the
/// runtime ends; returns the address bound (a port of 0 picks a free one).
pub async fn serve(
    metrics: Arc<Metrics>,
    addr: &str,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(respond(&metrics, &req)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Ok((bound, task))
}

fn respond(metrics: &Metrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            (StatusCode::OK, CONTENT_TYPE_OPENMETRICS, metrics.encode())
        }
        (_, "/metrics") => (
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "use GET /metrics\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "strata serves its metrics on /metrics\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_end_in_total_and_units_end_the_names() {
        let m = Metrics::new("metro");
        m.record_replan();
        m.record_apply(Duration::from_millis(30), Some(4));
        let text = m.encode();
        assert!(
            text.contains("strata_controller_replans_total{network=\"metro\"} 1"),
            "{text}"
        );
        assert!(text.contains("# UNIT strata_controller_apply_duration_seconds seconds"));
        assert!(text.contains("strata_controller_generation{network=\"metro\"} 4"));
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
