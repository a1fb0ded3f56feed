//! One step of simulated time: link pools filled, every usable path delivering within its
//! token bucket and the scarcest pool on it; and the per-node samples of what was measured.

use super::{
    LinkSample, NodeSample, PathState, RATE_WINDOW_S, State, UnitKey, UnitSample, UnitState,
};
use strata_compiler::config::EndRole;
use strata_compiler::topology::{KEY_HEADROOM, LinkKind};

impl State {
    pub(super) fn step(&mut self, dt: f64) {
        self.now += dt;
        // Generation.
        for l in 0..self.links.len() {
            let rate = if self.link_up(l) {
                self.physical_rate(l)
            } else {
                0.0
            };
            let cap = self.pool_cap(l);
            for end in &mut self.links[l].ends {
                let add = rate * dt;
                end.generated += add;
                end.pool += add;
                if end.pool > cap {
                    end.discarded += end.pool - cap;
                    end.pool = cap;
                }
            }
        }
        for b in self.buckets.values_mut() {
            b.tokens = (b.tokens + b.rate * dt).min(b.burst);
        }
        // Relay, by unit name then path.
        let keys: Vec<UnitKey> = self.units.keys().cloned().collect();
        for key in keys {
            let Some(mut unit) = self.units.remove(&key) else {
                continue;
            };
            let plan: Vec<Option<f64>> = unit
                .paths
                .iter()
                .map(|p| self.path_up(p).then(|| self.unit_cost(&unit, p)))
                .collect();
            let mut step_total = 0.0;
            for (p, cost) in unit.paths.iter_mut().zip(plan) {
                p.last = 0.0;
                let Some(cost) = cost else { continue };
                let mut amount = p.rate * dt;
                if let Some(b) = self.buckets.get(&(key.id.clone(), key.master)) {
                    amount = amount.min(b.tokens);
                }
                for &l in &p.links {
                    let e = &self.links[l].ends;
                    amount = amount.min(e[0].pool.min(e[1].pool) / cost);
                }
                if amount.is_nan() || amount <= 0.0 {
                    continue;
                }
                for &l in &p.links {
                    for end in &mut self.links[l].ends {
                        end.consumed += amount * cost;
                        end.pool = (end.pool - amount * cost).max(0.0);
                    }
                }
                if let Some(b) = self.buckets.get_mut(&(key.id.clone(), key.master)) {
                    b.tokens = (b.tokens - amount).max(0.0);
                }
                p.last = amount;
                step_total += amount;
            }
            if step_total > 0.0 {
                unit.delivered += step_total;
                unit.history.push_back((self.now, dt, step_total));
            }
            while unit
                .history
                .front()
                .is_some_and(|&(end, _, _)| end <= self.now - RATE_WINDOW_S)
            {
                unit.history.pop_front();
            }
            self.units.insert(key, unit);
        }
    }

    /// Units per second delivered over the trailing window.
    pub(super) fn delivered_rate(&self, unit: &UnitState) -> f64 {
        let window = RATE_WINDOW_S.min(self.now - unit.measured_from);
        if window <= 0.0 {
            return 0.0;
        }
        let start = self.now - window;
        let amount: f64 = unit
            .history
            .iter()
            .map(|&(end, dt, n)| {
                let overlap = (end - (end - dt).max(start)).clamp(0.0, dt);
                if dt > 0.0 { n * overlap / dt } else { 0.0 }
            })
            .sum();
        amount / window
    }

    pub(super) fn unit_fidelity(&self, unit: &UnitState) -> f64 {
        let delivering: Vec<&PathState> = unit.paths.iter().filter(|p| p.last > 0.0).collect();
        let used = if delivering.is_empty() {
            unit.paths.iter().filter(|p| self.path_up(p)).collect()
        } else {
            delivering
        };
        used.iter()
            .map(|p| self.path_fidelity(unit.kind, p))
            .reduce(f64::min)
            .unwrap_or(0.0)
    }

    pub(super) fn sample(&self, n: usize) -> NodeSample {
        let up = self.nodes[n].up;
        let links = self
            .topo
            .qlinks
            .iter()
            .enumerate()
            .filter_map(|(l, q)| {
                let end = q.ends.iter().position(|&e| e == n)?;
                let s = &self.links[l];
                let link_up = self.link_up(l);
                let skr = if link_up { self.physical_rate(l) } else { 0.0 };
                Some(match q.kind {
                    LinkKind::Qkd => LinkSample {
                        link: q.name.clone(),
                        peer: self.topo.nodes[q.ends[1 - end]].name.clone(),
                        kind: "qkd".into(),
                        up: link_up,
                        skr,
                        eskr: skr * (1.0 - KEY_HEADROOM),
                        qber: s.qber,
                        pool: s.ends[end].pool,
                        fidelity: 1.0 - s.qber,
                    },
                    LinkKind::Entanglement => LinkSample {
                        link: q.name.clone(),
                        peer: self.topo.nodes[q.ends[1 - end]].name.clone(),
                        kind: "entanglement".into(),
                        up: link_up,
                        skr,
                        eskr: skr,
                        qber: 0.0,
                        pool: s.ends[end].pool,
                        fidelity: s.fidelity,
                    },
                })
            })
            .collect();
        let units = self.configs[n]
            .iter()
            .flat_map(|cfg| &cfg.service.service_units)
            .map(|su| {
                let peer = self.topo.index.get(&su.peer).copied();
                let key = peer.map(|p| match su.role {
                    EndRole::Master => UnitKey {
                        id: su.id.clone(),
                        master: n,
                        slave: p,
                    },
                    EndRole::Slave => UnitKey {
                        id: su.id.clone(),
                        master: p,
                        slave: n,
                    },
                });
                let state = key.and_then(|k| self.units.get(&k));
                UnitSample {
                    service_unit: su.id.clone(),
                    role: match su.role {
                        EndRole::Master => "master".into(),
                        EndRole::Slave => "slave".into(),
                    },
                    delivered_rate: state.filter(|_| up).map_or(0.0, |u| self.delivered_rate(u)),
                    target_rate: su.rate,
                    fidelity: state.filter(|_| up).map_or(0.0, |u| self.unit_fidelity(u)),
                    delivered_total: state.map_or(0, |u| (u.delivered + 1e-6).floor() as u64),
                }
            })
            .collect();
        NodeSample {
            node: self.topo.nodes[n].name.clone(),
            time_s: self.now,
            up,
            links,
            units,
        }
    }
}
