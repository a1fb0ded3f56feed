//! What a KME observes around it: its clock, which nodes are up, and the state of the QKD
//! links whose key it holds. The digital twin's KMEs observe the twin's [`World`]; a
//! standalone `strata kme` observes its own node's configuration ([`Configured`]): wall
//! time, and each of its QKD links up at the secret key rate the plan gives it.

use crate::world::World;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use strata_compiler::config::NodeConfig;

/// One QKD link as observed now.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkState {
    pub link: String,
    /// The two end nodes.
    pub ends: [String; 2],
    pub up: bool,
    /// Secret key rate, bit/s.
    pub skr: f64,
}

/// What a KME observes.
pub trait Environment: Send + Sync + 'static {
    /// Seconds on the KMEs' clock (the twin's simulated time, or wall time since start).
    fn now(&self) -> f64;
    /// False while `node` is stopped: its KME serves and relays nothing.
    fn node_up(&self, node: &str) -> bool;
    /// Every QKD link whose key the KMEs hold.
    fn links(&self) -> Vec<LinkState>;
}

/// The twin's KMEs live in its world.
pub struct Twin(pub Arc<World>);

impl Environment for Twin {
    fn now(&self) -> f64 {
        self.0.now()
    }

    fn node_up(&self, node: &str) -> bool {
        self.0.node_up(node)
    }

    fn links(&self) -> Vec<LinkState> {
        let mut out = Vec::new();
        for sample in self.0.nodes().iter().filter_map(|n| self.0.sample(n)) {
            for l in sample.links.iter().filter(|l| l.kind == "qkd") {
                out.push(LinkState {
                    link: l.link.clone(),
                    ends: [sample.node.clone(), l.peer.clone()],
                    up: l.up,
                    skr: l.skr,
                });
            }
        }
        out
    }
}

/// A standalone KME: wall time since it started, and its node's QKD links as configured.
pub struct Configured {
    start: Instant,
    links: Mutex<Vec<LinkState>>,
}

impl Configured {
    pub fn new(config: &NodeConfig) -> Configured {
        let c = Configured {
            start: Instant::now(),
            links: Mutex::new(Vec::new()),
        };
        c.configure(config);
        c
    }

    /// The node's QKD links from `config` (a newer plan).
    pub fn configure(&self, config: &NodeConfig) {
        let links = config
            .forwarding
            .qkd_links
            .iter()
            .map(|l| LinkState {
                link: l.qkdl_id.clone(),
                ends: [l.local_qkdn_id.clone(), l.remote_qkdn_id.clone()],
                up: true,
                skr: l.skr,
            })
            .collect();
        *self.links.lock().unwrap_or_else(|p| p.into_inner()) = links;
    }
}

impl Environment for Configured {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn node_up(&self, _node: &str) -> bool {
        true
    }

    fn links(&self) -> Vec<LinkState> {
        self.links.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
