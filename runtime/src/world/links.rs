//! The emulated network's state built from an inventory, and what each quantum link can do
//! now: up or down, its rate at the current QBER, and the cap of its pools.

use super::{
    KEY_POOL_SECONDS, LinkState, MEASURED_EC_INEFFICIENCY, NodeState, PAIR_POOL_SECONDS,
    PoolLedger, State, secret_fraction,
};
use std::collections::BTreeMap;
use strata_compiler::inventory::{Inventory, KeyRate};
use strata_compiler::physics;
use strata_compiler::topology::{LinkKind, Topology};

impl State {
    pub(super) fn new(inv: &Inventory) -> State {
        // Rates before the QBER threshold: the topology zeroes links over it, but a fault
        // may bring their QBER back down.
        let mut clear = inv.clone();
        for l in &mut clear.qkd_links {
            l.qber.value = 0.0;
        }
        let (topo, _) = Topology::new(&clear);
        let qkd: BTreeMap<&str, (f64, f64)> = inv
            .qkd_links
            .iter()
            .map(|l| {
                let ec = match &l.key_rate {
                    KeyRate::Measured(_) => MEASURED_EC_INEFFICIENCY,
                    KeyRate::Protocol { params, .. } => params.ec_inefficiency,
                };
                (l.name.value.as_str(), (l.qber.value, ec))
            })
            .collect();
        let links = topo
            .qlinks
            .iter()
            .map(|q| {
                let (base_qber, ec) = match q.kind {
                    LinkKind::Qkd => qkd
                        .get(q.name.as_str())
                        .copied()
                        .unwrap_or((0.0, MEASURED_EC_INEFFICIENCY)),
                    LinkKind::Entanglement => (0.0, MEASURED_EC_INEFFICIENCY),
                };
                LinkState {
                    raw_rate: q.rate.max(0.0),
                    base_qber,
                    ec,
                    qber: base_qber,
                    fidelity: q.fidelity,
                    cut: false,
                    ends: [PoolLedger::default(); 2],
                }
            })
            .collect();
        State {
            link_index: topo
                .qlinks
                .iter()
                .enumerate()
                .map(|(i, l)| (l.name.clone(), i))
                .collect(),
            classical_index: topo
                .clinks
                .iter()
                .enumerate()
                .map(|(i, l)| (l.name.clone(), i))
                .collect(),
            now: 0.0,
            nodes: topo
                .nodes
                .iter()
                .map(|_| NodeState {
                    up: true,
                    refuse: false,
                })
                .collect(),
            links,
            classical_cut: vec![false; topo.clinks.len()],
            configs: vec![None; topo.nodes.len()],
            units: BTreeMap::new(),
            buckets: BTreeMap::new(),
            topo,
        }
    }

    /// Is the link carrying anything: not cut, its classical channel intact, both ends up?
    pub(super) fn link_up(&self, l: usize) -> bool {
        let q = &self.topo.qlinks[l];
        !self.links[l].cut
            && q.classical_path.iter().all(|&c| !self.classical_cut[c])
            && q.ends.iter().all(|&n| self.nodes[n].up)
    }

    /// What the link produces while up: key bits/s (0 at or over the QBER threshold) or
    /// elementary pairs/s.
    pub(super) fn physical_rate(&self, l: usize) -> f64 {
        let s = &self.links[l];
        match self.topo.qlinks[l].kind {
            LinkKind::Entanglement => s.raw_rate,
            LinkKind::Qkd => {
                if s.qber >= physics::qber_threshold(s.ec) {
                    return 0.0;
                }
                let base = secret_fraction(s.base_qber, s.ec);
                if base > 0.0 {
                    s.raw_rate * (secret_fraction(s.qber, s.ec) / base).min(1.0)
                } else {
                    s.raw_rate
                }
            }
        }
    }

    pub(super) fn pool_cap(&self, l: usize) -> f64 {
        let s = &self.links[l];
        match self.topo.qlinks[l].kind {
            LinkKind::Qkd => s.raw_rate * KEY_POOL_SECONDS,
            LinkKind::Entanglement => s.raw_rate * PAIR_POOL_SECONDS,
        }
    }
}
