//! Candidate paths per intent: the k shortest simple paths (Yen) over the links and nodes
//! the intent's constraints and policies allow, evaluated for hops, classical latency and
//! fidelity (with purification where it helps), plus a disjoint set when the intent asks
//! for one. When nothing survives, the reason says which requirement removed the last path.

use crate::check::{CheckedIntent, Service};
use crate::physics;
use crate::topology::{LinkKind, Topology};
use std::collections::BTreeMap;

/// Most BBPSSW rounds strata schedules on one path.
pub const MAX_PURIFICATION_ROUNDS: u32 = 3;

/// Tunables of path generation.
#[derive(Debug, Clone, Copy)]
pub struct PathOptions {
    /// Candidate paths per intent (before disjointness).
    pub k: usize,
    /// Success probability of one entanglement swap.
    pub swap_success: f64,
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions {
            k: 3,
            swap_success: 0.5,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub nodes: Vec<usize>,
    pub links: Vec<usize>,
    pub latency_ms: f64,
    /// Keys: worst link fidelity (1 − QBER). Pairs: end to end, after purification.
    pub fidelity: f64,
    pub purification_rounds: u32,
    /// Elementary pairs each link supplies per delivered pair (1 for keys).
    pub overhead: f64,
    /// Seconds a half-pair waits in memory for the swap outcomes (pairs).
    pub wait_s: f64,
    cost: u64,
}

/// Why an intent has no usable path, in the operator's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocked {
    /// Every allowed path uses a link that currently delivers nothing.
    NoCapacity,
    /// No loop-free path satisfies the constraints together (e.g. `via` forces a detour back).
    NoSimplePath,
    Fidelity {
        best: f64,
        target: f64,
        path: Vec<String>,
    },
    Latency {
        best_ms: f64,
        limit_ms: f64,
        path: Vec<String>,
    },
    Hops {
        best: usize,
        limit: u32,
    },
    Disjoint {
        found: u32,
        wanted: u32,
    },
}

impl Blocked {
    pub fn describe(&self) -> String {
        match self {
            Blocked::NoCapacity => {
                "every allowed path crosses a link that currently yields no key or pairs".into()
            }
            Blocked::NoSimplePath => {
                "no loop-free path satisfies all of its constraints and policies together".into()
            }
            Blocked::Fidelity { best, target, path } => format!(
                "the best fidelity any allowed path reaches is {best:.4} (via {}), below the required {target}",
                path.join(" – ")
            ),
            Blocked::Latency {
                best_ms,
                limit_ms,
                path,
            } => format!(
                "the fastest allowed path takes {best_ms:.2} ms (via {}), over the {limit_ms} ms allowed",
                path.join(" – ")
            ),
            Blocked::Hops { best, limit } => {
                format!("the shortest allowed path has {best} hops, over the {limit} allowed")
            }
            Blocked::Disjoint { found, wanted } => {
                format!("only {found} disjoint allowed path(s) exist, {wanted} are required")
            }
        }
    }

    pub fn fix(&self) -> &'static str {
        match self {
            Blocked::NoCapacity => "restore the failed links, or allow other paths",
            Blocked::NoSimplePath => {
                "relax `via`, `avoid` or the policies so that a path need not pass a node twice"
            }
            Blocked::Fidelity { .. } => {
                "lower the fidelity target, allow other paths, or improve the links on the best path"
            }
            Blocked::Latency { .. } => "raise the latency bound or allow a shorter path",
            Blocked::Hops { .. } => "raise `max hops` or add a shorter link",
            Blocked::Disjoint { .. } => {
                "lower `disjoint paths` or add links that give independent routes"
            }
        }
    }
}

/// Per-intent view of which nodes and links may be used.
#[derive(Clone, Copy)]
struct Allowed<'a> {
    topo: &'a Topology,
    intent: &'a CheckedIntent,
    kind: LinkKind,
    src: usize,
    dst: usize,
}

impl Allowed<'_> {
    fn node_ok(&self, n: usize) -> bool {
        let node = &self.topo.nodes[n];
        let c = &self.intent.constraints;
        if c.avoid_nodes.contains(&node.name) || c.avoid_domains.contains(&node.domain) {
            return false;
        }
        if n == self.src || n == self.dst {
            return true;
        }
        match self.intent.service {
            Service::Keys { .. } => {
                node.relays_keys() && (!c.trusted_relays_only || node.trusted_relay())
            }
            Service::Pairs => node.swaps(),
        }
    }

    fn link_ok(&self, l: usize) -> bool {
        let link = &self.topo.qlinks[l];
        if self.intent.constraints.avoid_links.contains(&link.name) || link.usable <= 0.0 {
            return false;
        }
        match self.intent.service {
            Service::Keys { .. } => self.intent.min_fidelity.is_none_or(|f| link.fidelity >= f),
            Service::Pairs => link.fidelity > 0.5,
        }
    }

    /// Allowed neighbours of `u` with the best link to each (most usable rate, then name).
    fn successors(&self, u: usize, capacity_matters: bool) -> Vec<(usize, u64)> {
        if u != self.src && (u == self.dst || !self.node_ok(u)) {
            return Vec::new();
        }
        let mut best: BTreeMap<usize, usize> = BTreeMap::new();
        for &(v, l) in &self.topo.adjacency(self.kind)[u] {
            if !self.node_ok(v)
                || (capacity_matters && !self.link_ok(l))
                || (!capacity_matters && !self.link_allowed(l))
            {
                continue;
            }
            let better = match best.get(&v) {
                None => true,
                Some(&cur) => self.topo.qlinks[l].usable > self.topo.qlinks[cur].usable,
            };
            if better {
                best.insert(v, l);
            }
        }
        best.into_iter()
            .map(|(v, l)| (v, self.hop_cost(l)))
            .collect()
    }

    /// Allowed by policy, whatever its current rate.
    fn link_allowed(&self, l: usize) -> bool {
        !self
            .intent
            .constraints
            .avoid_links
            .contains(&self.topo.qlinks[l].name)
    }

    fn hop_cost(&self, l: usize) -> u64 {
        let link = &self.topo.qlinks[l];
        match self.intent.service {
            Service::Keys { .. } => 1_000_000 + (link.latency_ms * 1000.0).round() as u64,
            Service::Pairs => {
                1_000
                    + (physics::fidelity_cost(link.fidelity) * 1e6)
                        .round()
                        .min(1e12) as u64
            }
        }
    }

    fn link_between(&self, u: usize, v: usize, capacity_matters: bool) -> Option<usize> {
        self.topo.adjacency(self.kind)[u]
            .iter()
            .filter(|&&(w, l)| {
                w == v
                    && if capacity_matters {
                        self.link_ok(l)
                    } else {
                        self.link_allowed(l)
                    }
            })
            .max_by(|a, b| {
                let (la, lb) = (&self.topo.qlinks[a.1], &self.topo.qlinks[b.1]);
                la.usable.total_cmp(&lb.usable).then(lb.name.cmp(&la.name))
            })
            .map(|&(_, l)| l)
    }

    /// k shortest simple node paths from `from` to `to`.
    fn yen(
        &self,
        from: usize,
        to: usize,
        k: usize,
        capacity_matters: bool,
    ) -> Vec<(Vec<usize>, u64)> {
        let seg = Allowed {
            src: from,
            dst: to,
            ..*self
        };
        pathfinding::directed::yen::yen(
            &from,
            |&u| seg.successors(u, capacity_matters),
            |&u| u == to,
            k,
        )
    }
}

/// Candidate paths for one intent, best first, or why there are none.
pub fn candidates(
    topo: &Topology,
    intent: &CheckedIntent,
    options: &PathOptions,
) -> Result<Vec<Candidate>, Blocked> {
    let kind = match intent.service {
        Service::Keys { .. } => LinkKind::Qkd,
        Service::Pairs => LinkKind::Entanglement,
    };
    let (Some(&src), Some(&dst)) = (
        topo.index.get(&intent.endpoints[0].node),
        topo.index.get(&intent.endpoints[1].node),
    ) else {
        return Err(Blocked::NoCapacity);
    };
    let allowed = Allowed {
        topo,
        intent,
        kind,
        src,
        dst,
    };
    let c = &intent.constraints;
    let k = options.k.max(3 * c.disjoint_paths as usize);
    let node_paths = via_paths(&allowed, k, true);
    if node_paths.is_empty() {
        return Err(if via_paths(&allowed, 1, false).is_empty() {
            Blocked::NoSimplePath
        } else {
            Blocked::NoCapacity
        });
    }
    let mut out = Vec::new();
    let mut first_failure = None;
    for (nodes, cost) in node_paths {
        let Some(links) = nodes
            .windows(2)
            .map(|w| allowed.link_between(w[0], w[1], true))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let cand = evaluate(topo, intent, nodes, links, cost, options);
        match admissible(topo, intent, &cand) {
            Ok(()) => out.push(cand),
            Err(b) => {
                if first_failure.is_none() {
                    first_failure = Some(b);
                }
            }
        }
    }
    if out.is_empty() {
        return Err(first_failure.unwrap_or(Blocked::NoCapacity));
    }
    out.sort_by(|a, b| a.cost.cmp(&b.cost).then(a.nodes.cmp(&b.nodes)));
    out.dedup_by(|a, b| a.links == b.links);
    if c.disjoint_paths > 1 {
        return disjoint_set(&out, c.disjoint_paths).ok_or(Blocked::Disjoint {
            found: max_disjoint(&out),
            wanted: c.disjoint_paths,
        });
    }
    Ok(out)
}

/// Evaluates a given path (latency, fidelity, purification, overhead) for an intent.
pub fn evaluate_path(
    topo: &Topology,
    intent: &CheckedIntent,
    nodes: Vec<usize>,
    links: Vec<usize>,
    options: &PathOptions,
) -> Candidate {
    evaluate(topo, intent, nodes, links, 0, options)
}

/// k shortest paths that visit the intent's `via` nodes in order.
fn via_paths(allowed: &Allowed, k: usize, capacity_matters: bool) -> Vec<(Vec<usize>, u64)> {
    let topo = allowed.topo;
    let mut stops = vec![allowed.src];
    stops.extend(
        allowed
            .intent
            .constraints
            .via_nodes
            .iter()
            .filter_map(|v| topo.index.get(v).copied()),
    );
    stops.push(allowed.dst);
    if stops.len() == 2 {
        return allowed.yen(allowed.src, allowed.dst, k, capacity_matters);
    }
    let mut partial: Vec<(Vec<usize>, u64)> = vec![(vec![allowed.src], 0)];
    for w in stops.windows(2) {
        let segs = allowed.yen(w[0], w[1], k, capacity_matters);
        let mut next = Vec::new();
        for (p, c) in &partial {
            for (s, sc) in &segs {
                if s[1..].iter().any(|n| p.contains(n)) {
                    continue;
                }
                let mut joined = p.clone();
                joined.extend_from_slice(&s[1..]);
                next.push((joined, c + sc));
            }
        }
        next.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        next.truncate(k);
        partial = next;
    }
    partial
}

/// Latency, fidelity, purification and overhead of a path.
fn evaluate(
    topo: &Topology,
    intent: &CheckedIntent,
    nodes: Vec<usize>,
    links: Vec<usize>,
    cost: u64,
    options: &PathOptions,
) -> Candidate {
    let latency_ms: f64 = links.iter().map(|&l| topo.qlinks[l].latency_ms).sum();
    let fids: Vec<f64> = links.iter().map(|&l| topo.qlinks[l].fidelity).collect();
    match intent.service {
        Service::Keys { .. } => Candidate {
            fidelity: fids.iter().copied().fold(1.0, f64::min),
            nodes,
            links,
            latency_ms,
            purification_rounds: 0,
            overhead: 1.0,
            wait_s: 0.0,
            cost,
        },
        Service::Pairs => {
            let wait_s = latency_ms / 1e3;
            let coherence = nodes
                .iter()
                .filter_map(|&n| topo.nodes[n].coherence_time_s)
                .fold(f64::INFINITY, f64::min);
            let raw = physics::fidelity_from_cost(
                fids.iter().map(|&f| physics::fidelity_cost(f)).sum::<f64>()
                    + if coherence.is_finite() {
                        physics::memory_wait_cost(wait_s, coherence)
                    } else {
                        0.0
                    },
            );
            let target = intent.min_fidelity.unwrap_or(0.0);
            let mut rounds = 0;
            let (mut fidelity, mut factor) = (raw, 1.0);
            while fidelity < target && rounds < MAX_PURIFICATION_ROUNDS && fidelity > 0.5 {
                rounds += 1;
                (fidelity, factor) = physics::purify(raw, rounds);
            }
            let swaps =
                physics::elementary_pairs_per_link_per_s(1.0, links.len(), options.swap_success);
            Candidate {
                nodes,
                links,
                latency_ms,
                fidelity,
                purification_rounds: rounds,
                overhead: swaps / factor.max(1e-12),
                wait_s,
                cost,
            }
        }
    }
}

fn admissible(topo: &Topology, intent: &CheckedIntent, c: &Candidate) -> Result<(), Blocked> {
    let names = || {
        c.nodes
            .iter()
            .map(|&n| topo.nodes[n].name.clone())
            .collect::<Vec<_>>()
    };
    if let Some(limit) = intent.constraints.max_hops
        && c.links.len() > limit as usize
    {
        return Err(Blocked::Hops {
            best: c.links.len(),
            limit,
        });
    }
    if let Some(max_s) = intent.max_latency_s
        && c.latency_ms > max_s * 1e3
    {
        return Err(Blocked::Latency {
            best_ms: c.latency_ms,
            limit_ms: max_s * 1e3,
            path: names(),
        });
    }
    if intent.service == Service::Pairs
        && let Some(target) = intent.min_fidelity
        && c.fidelity < target
    {
        return Err(Blocked::Fidelity {
            best: c.fidelity,
            target,
            path: names(),
        });
    }
    Ok(())
}

fn disjoint(a: &Candidate, b: &Candidate) -> bool {
    let inner = |c: &Candidate| c.nodes[1..c.nodes.len() - 1].to_vec();
    a.links.iter().all(|l| !b.links.contains(l)) && inner(a).iter().all(|n| !inner(b).contains(n))
}

/// The cheapest set of `n` mutually disjoint candidates, searching combinations in order.
fn disjoint_set(cands: &[Candidate], n: u32) -> Option<Vec<Candidate>> {
    fn search(cands: &[Candidate], start: usize, n: usize, chosen: &mut Vec<usize>) -> bool {
        if chosen.len() == n {
            return true;
        }
        for i in start..cands.len() {
            if chosen.iter().all(|&j| disjoint(&cands[i], &cands[j])) {
                chosen.push(i);
                if search(cands, i + 1, n, chosen) {
                    return true;
                }
                chosen.pop();
            }
        }
        false
    }
    let mut chosen = Vec::new();
    search(cands, 0, n as usize, &mut chosen)
        .then(|| chosen.iter().map(|&i| cands[i].clone()).collect())
}

fn max_disjoint(cands: &[Candidate]) -> u32 {
    (1..=cands.len() as u32)
        .rev()
        .find(|&n| disjoint_set(cands, n).is_some())
        .unwrap_or(0)
}
