//! Service units' paths rebuilt from the committed forwarding tables of every node, whether
//! a path is up, and the fidelity and cost in link resources of what it delivers.

use super::{
    Bucket, DEFAULT_KEY_SIZE_BITS, DEFAULT_SWAP_SUCCESS, PathState, State, UnitKey, UnitState,
};
use std::collections::{BTreeMap, VecDeque};
use strata_compiler::config::{Chain, EndRole, UnitKind, paths_from_forwarding};
use strata_compiler::physics;
use strata_compiler::topology::LinkKind;

impl State {
    pub(super) fn path_up(&self, p: &PathState) -> bool {
        p.nodes.iter().all(|&n| self.nodes[n].up) && p.links.iter().all(|&l| self.link_up(l))
    }

    /// Pair path fidelity before purification: the Werner chain, decohered for the wait.
    pub(super) fn raw_pair_fidelity(&self, p: &PathState) -> f64 {
        let fids: Vec<f64> = p.links.iter().map(|&l| self.links[l].fidelity).collect();
        let chain = physics::chain_fidelity(&fids);
        if p.coherence_s.is_finite() {
            physics::decohered_fidelity(chain, p.wait_s, p.coherence_s)
        } else {
            chain
        }
    }

    pub(super) fn path_fidelity(&self, kind: UnitKind, p: &PathState) -> f64 {
        match kind {
            UnitKind::Keys => p
                .links
                .iter()
                .map(|&l| 1.0 - self.links[l].qber)
                .fold(1.0, f64::min),
            UnitKind::EntangledPairs => self.purified(p).fidelity,
        }
    }

    /// Purification of a pair path at the rate it carries, raw pairs waiting in the end
    /// nodes' memories for their partners.
    pub(super) fn purified(&self, p: &PathState) -> physics::StoredPurification {
        physics::purify_stored(
            self.raw_pair_fidelity(p),
            p.rounds,
            p.rate,
            p.end_coherence_s,
        )
    }

    /// Pool units (key bits or elementary pairs) one delivered unit takes from every link
    /// end of the path.
    pub(super) fn unit_cost(&self, unit: &UnitState, p: &PathState) -> f64 {
        match unit.kind {
            UnitKind::Keys => unit.key_size_bits,
            UnitKind::EntangledPairs => {
                let factor = self.purified(p).factor;
                1.0 / p.swap_success.max(1e-12) / factor.max(1e-12)
            }
        }
    }

    /// Rebuilds every unit's paths and token bucket from the committed configurations.
    pub(super) fn rebuild(&mut self) {
        let mut found: BTreeMap<UnitKey, (UnitKind, f64, Vec<PathState>)> = BTreeMap::new();
        let mut buckets: BTreeMap<(String, usize), (f64, f64)> = BTreeMap::new();
        let tables = self.configs.iter().enumerate().filter_map(|(n, c)| {
            let c = c.as_ref()?;
            Some((self.topo.nodes[n].name.as_str(), &c.forwarding))
        });
        let forwarded = paths_from_forwarding(tables);
        for (s, cfg) in self.configs.iter().enumerate() {
            let Some(cfg) = cfg else { continue };
            for e in cfg
                .forwarding
                .forwarding_table
                .iter()
                .filter(|e| e.virt_prev_hop.is_none())
            {
                let Some(master) = cfg
                    .service
                    .service_units
                    .iter()
                    .find(|u| u.id == e.service_unit && u.role == EndRole::Master)
                else {
                    continue;
                };
                let chain = forwarded.follow(&e.service_unit, e.path, &self.topo.nodes[s].name);
                let Some(path) = self.walk(&chain, master.kind) else {
                    continue;
                };
                let slave = *path.nodes.last().unwrap_or(&s);
                let slave_name = &self.topo.nodes[slave].name;
                let Some(slave_cfg) = &self.configs[slave] else {
                    continue;
                };
                let agrees = master.peer == *slave_name
                    && slave_cfg.service.service_units.iter().any(|u| {
                        u.id == e.service_unit
                            && u.role == EndRole::Slave
                            && u.kind == master.kind
                            && u.peer == self.topo.nodes[s].name
                    });
                if !agrees {
                    continue;
                }
                let key = UnitKey {
                    id: e.service_unit.clone(),
                    master: s,
                    slave,
                };
                let key_size = f64::from(master.key_size.unwrap_or(DEFAULT_KEY_SIZE_BITS));
                let entry = found
                    .entry(key.clone())
                    .or_insert_with(|| (master.kind, key_size, Vec::new()));
                if !entry.2.iter().any(|p| p.index == path.index) {
                    entry.2.push(path);
                }
            }
            // Every session at a master end keeps its bucket, whether or not its paths are
            // complete right now (they are not while an apply commits node by node).
            for su in cfg
                .service
                .service_units
                .iter()
                .filter(|u| u.role == EndRole::Master)
            {
                let bucket = cfg
                    .service
                    .sessions
                    .iter()
                    .find(|x| x.service_unit == su.id)
                    .map(|x| (x.token_bucket.rate, f64::from(x.token_bucket.burst.max(1))))
                    .unwrap_or((su.rate, su.rate.ceil().max(1.0)));
                buckets.insert((su.id.clone(), s), bucket);
            }
        }
        // A unit whose paths change is measured afresh from now on; the others keep their
        // measurement window.
        let now = self.now;
        for (key, unit) in &mut self.units {
            if !found.contains_key(key) && !unit.paths.is_empty() {
                unit.paths.clear();
                unit.history.clear();
                unit.measured_from = now;
            }
        }
        for (key, (kind, key_size_bits, mut paths)) in found {
            paths.sort_by_key(|p| p.index);
            let unit = self.units.entry(key).or_insert_with(|| UnitState {
                kind,
                key_size_bits,
                paths: Vec::new(),
                delivered: 0.0,
                history: VecDeque::new(),
                measured_from: now,
            });
            let same = unit.paths.len() == paths.len()
                && unit.paths.iter().zip(&paths).all(|(a, b)| a.same_route(b));
            if !same {
                unit.history.clear();
                unit.measured_from = now;
            }
            unit.kind = kind;
            unit.key_size_bits = key_size_bits;
            unit.paths = paths;
        }
        self.buckets.retain(|k, _| buckets.contains_key(k));
        for (key, (rate, burst)) in buckets {
            let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
            // A new session starts with an empty bucket, so what is measured from its first
            // second on is its rate, not a burst of stored-up tokens.
            let b = self.buckets.entry(key).or_insert(Bucket {
                rate,
                burst,
                tokens: 0.0,
            });
            b.rate = rate;
            b.burst = burst;
            b.tokens = b.tokens.min(burst);
        }
    }

    /// The state of a path followed along the forwarding tables; `None` unless the chain is
    /// whole and every hop is a link of the right kind that joins its two nodes.
    pub(super) fn walk(&self, chain: &Chain, kind: UnitKind) -> Option<PathState> {
        let want = match kind {
            UnitKind::Keys => LinkKind::Qkd,
            UnitKind::EntangledPairs => LinkKind::Entanglement,
        };
        if !chain.is_whole() {
            return None;
        }
        let nodes: Vec<usize> = chain
            .nodes
            .iter()
            .map(|n| self.topo.index.get(*n).copied())
            .collect::<Option<_>>()?;
        let mut links = Vec::with_capacity(chain.links.len());
        for (i, name) in chain.links.iter().enumerate() {
            let l = *self.link_index.get(*name)?;
            let q = &self.topo.qlinks[l];
            let (a, b) = (nodes[i], *nodes.get(i + 1)?);
            if q.kind != want || !(q.ends == [a, b] || q.ends == [b, a]) {
                return None;
            }
            links.push(l);
        }
        let first = *chain.entries.first()?;
        let rate = chain
            .entries
            .iter()
            .map(|e| e.rate)
            .fold(f64::INFINITY, f64::min);
        let start = nodes[0];
        let last = *nodes.last()?;
        let rounds_at = |n: usize| {
            self.configs[n].as_ref().and_then(|c| {
                c.forwarding
                    .purification
                    .iter()
                    .find(|p| p.service_unit == first.service_unit && p.path == first.path)
                    .map(|p| p.rounds)
            })
        };
        // Purification needs both ends to run it.
        let rounds = match (rounds_at(start), rounds_at(last)) {
            (Some(a), Some(b)) => a.min(b),
            _ => 0,
        };
        let swap_success = nodes[1..nodes.len() - 1]
            .iter()
            .map(|&n| {
                self.configs[n]
                    .as_ref()
                    .and_then(|c| {
                        c.forwarding
                            .swap_schedule
                            .iter()
                            .find(|w| w.service_unit == first.service_unit && w.path == first.path)
                            .map(|w| w.success_probability)
                    })
                    .filter(|p| p.is_finite() && *p > 0.0)
                    .map_or(DEFAULT_SWAP_SUCCESS, |p| p.min(1.0))
            })
            .product();
        let wait_s = links
            .iter()
            .map(|&l| self.topo.qlinks[l].latency_ms)
            .sum::<f64>()
            / 1e3;
        let coherence_s = nodes
            .iter()
            .filter_map(|&n| self.topo.nodes[n].coherence_time_s)
            .fold(f64::INFINITY, f64::min);
        let end_coherence_s = [start, last]
            .iter()
            .filter_map(|&n| self.topo.nodes[n].coherence_time_s)
            .fold(f64::INFINITY, f64::min);
        Some(PathState {
            index: first.path,
            nodes,
            links,
            rate: if rate.is_finite() { rate.max(0.0) } else { 0.0 },
            rounds,
            swap_success,
            wait_s,
            coherence_s,
            end_coherence_s,
            last: 0.0,
        })
    }
}
