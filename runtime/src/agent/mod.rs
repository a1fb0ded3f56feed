//! The node agent: a gRPC server ([`service::AgentService`]) around one node's generation
//! state machine ([`core::AgentCore`]), with a [`Backend`] that installs committed
//! configuration and reports telemetry — the digital twin's emulated network,
//! [`ConfigOnly`] for a standalone agent without a device driver, or a device driver
//! ([`driver`]).

pub mod channel;
pub mod core;
pub mod driver;
pub mod service;

use crate::pb;
use std::time::Duration;
use strata_compiler::config::NodeConfig;

/// What sits under an agent: the thing that runs the configuration.
pub trait Backend: Send + Sync + 'static {
    /// The node committed `config` (or restarted running it).
    fn install(&self, node: &str, config: &NodeConfig);
    /// A generation with `config` is being prepared: check that it can be installed. An
    /// error refuses the prepare.
    fn prepare(&self, _node: &str, _config: &NodeConfig) -> Result<(), String> {
        Ok(())
    }
    /// The prepared `config` is committed: install it. An error means the node still runs
    /// what it ran before, and the commit fails.
    fn commit(&self, node: &str, config: &NodeConfig) -> Result<(), String> {
        self.install(node, config);
        Ok(())
    }
    /// The prepared generation was dropped.
    fn abort(&self, _node: &str) {}
    /// The node's current telemetry.
    fn sample(&self, node: &str, generation: u64) -> pb::TelemetrySample;
    /// Digital twin only: break or repair something.
    fn fault(&self, fault: &pb::FaultRequest) -> Result<(), String>;
    /// False while the node is stopped: its agent answers nothing.
    fn available(&self, _node: &str) -> bool {
        true
    }
    /// True while the node is told to refuse prepares (a twin fault).
    fn refuses_prepare(&self, _node: &str) -> bool {
        false
    }
    /// Real time between telemetry samples.
    fn telemetry_period(&self) -> Duration {
        Duration::from_secs(1)
    }
}

/// A standalone agent with no device driver: it keeps and reports its configuration, and
/// its telemetry states what is configured (links up at their configured rates, units at
/// their target) with nothing measured.
pub struct ConfigOnly {
    config: std::sync::Mutex<NodeConfig>,
}

/// The service units of a configuration as telemetry of a backend that measures no
/// delivery: each reports its target and nothing delivered.
pub fn unmeasured_units(cfg: &NodeConfig) -> Vec<pb::UnitSample> {
    cfg.service
        .service_units
        .iter()
        .map(|u| pb::UnitSample {
            service_unit: u.id.clone(),
            role: format!("{:?}", u.role).to_lowercase(),
            delivered_rate: 0.0,
            target_rate: u.rate,
            fidelity: u.fidelity,
            delivered_total: 0,
        })
        .collect()
}

impl ConfigOnly {
    pub fn new() -> Self {
        ConfigOnly {
            config: std::sync::Mutex::new(NodeConfig::default()),
        }
    }
}

impl Default for ConfigOnly {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for ConfigOnly {
    fn install(&self, _node: &str, config: &NodeConfig) {
        if let Ok(mut c) = self.config.lock() {
            *c = config.clone();
        }
    }

    fn sample(&self, node: &str, generation: u64) -> pb::TelemetrySample {
        let cfg = self.config.lock().map(|c| c.clone()).unwrap_or_default();
        let links = cfg
            .forwarding
            .qkd_links
            .iter()
            .map(|l| pb::LinkSample {
                link: l.qkdl_id.clone(),
                peer: l.remote_qkdn_id.clone(),
                kind: "qkd".into(),
                up: true,
                skr: l.skr,
                eskr: l.eskr,
                qber: l.qber,
                pool: 0.0,
                fidelity: 1.0 - l.qber,
            })
            .chain(
                cfg.forwarding
                    .entanglement_links
                    .iter()
                    .map(|l| pb::LinkSample {
                        link: l.link_id.clone(),
                        peer: l.remote_node.clone(),
                        kind: "entanglement".into(),
                        up: true,
                        skr: l.pair_rate,
                        eskr: l.pair_rate,
                        qber: 0.0,
                        pool: 0.0,
                        fidelity: l.fidelity,
                    }),
            )
            .collect();
        let units = unmeasured_units(&cfg);
        pb::TelemetrySample {
            node: node.into(),
            generation,
            time_s: 0.0,
            up: true,
            links,
            units,
        }
    }

    fn fault(&self, _fault: &pb::FaultRequest) -> Result<(), String> {
        Err("faults can only be injected into the digital twin".into())
    }
}
