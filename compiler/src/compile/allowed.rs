//! The graph an intent may route over, built once per constraint [`Signature`]: which nodes
//! may relay, which may end a path, which links may carry it, and per node its allowed
//! neighbours with the best parallel link already chosen and its integer cost precomputed.
//! Path search ([`super::yen`], [`super::disjoint`]) runs over these index arrays only.

use crate::check::{CheckedIntent, Service};
use crate::physics;
use crate::topology::{LinkKind, Topology};
use std::collections::BTreeSet;

/// Unreachable, as a distance.
pub const INF: u64 = u64::MAX;

/// Everything about an intent that decides which nodes and links it may use and what a hop
/// costs. Intents with equal signatures search the same [`AllowedGraph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Signature<'a> {
    pub pairs: bool,
    pub avoid_nodes: &'a BTreeSet<String>,
    pub avoid_links: &'a BTreeSet<String>,
    pub avoid_domains: &'a BTreeSet<String>,
    /// `relay via trusted nodes only` (keys only; swapping reveals nothing to a repeater).
    pub trusted_only: bool,
    /// Minimum link fidelity (keys only: a link under it cannot serve the intent), as bits of
    /// a non-negative `f64` so that it orders like the number.
    pub min_fidelity_bits: Option<u64>,
}

impl<'a> Signature<'a> {
    pub fn of(intent: &'a CheckedIntent) -> Signature<'a> {
        let c = &intent.constraints;
        let pairs = intent.service == Service::Pairs;
        Signature {
            pairs,
            avoid_nodes: &c.avoid_nodes,
            avoid_links: &c.avoid_links,
            avoid_domains: &c.avoid_domains,
            trusted_only: !pairs && c.trusted_relays_only,
            min_fidelity_bits: if pairs {
                None
            } else {
                intent.min_fidelity.map(f64::to_bits)
            },
        }
    }

    pub fn kind(&self) -> LinkKind {
        if self.pairs {
            LinkKind::Entanglement
        } else {
            LinkKind::Qkd
        }
    }

    fn min_fidelity(&self) -> Option<f64> {
        self.min_fidelity_bits.map(f64::from_bits)
    }
}

/// Which links a graph admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Allowed by policy and currently delivering (rate > 0, fidelity good enough): the
    /// graph paths are searched on.
    Usable,
    /// Allowed by policy, whatever their rate: tells "no capacity" from "no path at all".
    Policy,
}

/// One signature's view of the topology, as index arrays.
#[derive(Debug, Clone)]
pub struct AllowedGraph {
    /// May a path pass through this node (role, trust, avoid lists)?
    pub transit: Vec<bool>,
    /// May a path (segment) end at this node (avoid lists only)?
    pub end: Vec<bool>,
    /// Per quantum link: may a path use it?
    pub link_ok: Vec<bool>,
    /// Per quantum link: integer cost of one hop over it (meaningful where `link_ok`).
    pub link_cost: Vec<u64>,
    /// Compressed adjacency: the arcs of node `u` are `start[u]..start[u + 1]`, sorted by
    /// neighbour; one arc per allowed neighbour, over the best parallel link.
    start: Vec<u32>,
    head: Vec<u32>,
    link: Vec<u32>,
    cost: Vec<u64>,
}

impl AllowedGraph {
    pub fn new(topo: &Topology, sig: &Signature, links: Links) -> AllowedGraph {
        let n = topo.nodes.len();
        let mut end = vec![false; n];
        let mut transit = vec![false; n];
        for (i, node) in topo.nodes.iter().enumerate() {
            if sig.avoid_nodes.contains(&node.name) || sig.avoid_domains.contains(&node.domain) {
                continue;
            }
            end[i] = true;
            transit[i] = if sig.pairs {
                node.swaps()
            } else {
                node.relays_keys() && (!sig.trusted_only || node.trusted_relay())
            };
        }
        let kind = sig.kind();
        let min_fidelity = sig.min_fidelity();
        let mut link_ok = vec![false; topo.qlinks.len()];
        let mut link_cost = vec![0; topo.qlinks.len()];
        for (l, link) in topo.qlinks.iter().enumerate() {
            if link.kind != kind {
                continue;
            }
            link_cost[l] = hop_cost(sig.pairs, link.latency_ms, link.fidelity);
            if sig.avoid_links.contains(&link.name) {
                continue;
            }
            link_ok[l] = match links {
                Links::Policy => true,
                Links::Usable if link.usable <= 0.0 => false,
                Links::Usable if sig.pairs => link.fidelity > 0.5,
                Links::Usable => min_fidelity.is_none_or(|f| link.fidelity >= f),
            };
        }
        let adjacency = topo.adjacency(kind);
        let mut start = Vec::with_capacity(n + 1);
        let arcs_max = 2 * topo.qlinks.len();
        let mut head = Vec::with_capacity(arcs_max);
        let mut link = Vec::with_capacity(arcs_max);
        let mut cost = Vec::with_capacity(arcs_max);
        let mut arcs: Vec<(usize, usize)> = Vec::new();
        for (u, edges) in adjacency.iter().enumerate() {
            start.push(head.len() as u32);
            arcs.clear();
            arcs.extend(edges.iter().copied().filter(|&(v, l)| v != u && link_ok[l]));
            // Insertion sort: a node has a handful of links.
            for i in 1..arcs.len() {
                let mut j = i;
                while j > 0 && arcs[j - 1] > arcs[j] {
                    arcs.swap(j - 1, j);
                    j -= 1;
                }
            }
            let mut i = 0;
            while i < arcs.len() {
                let v = arcs[i].0;
                let mut best = arcs[i].1;
                i += 1;
                while i < arcs.len() && arcs[i].0 == v {
                    if better_link(topo, arcs[i].1, best) {
                        best = arcs[i].1;
                    }
                    i += 1;
                }
                head.push(v as u32);
                link.push(best as u32);
                cost.push(link_cost[best]);
            }
        }
        start.push(head.len() as u32);
        AllowedGraph {
            transit,
            end,
            link_ok,
            link_cost,
            start,
            head,
            link,
            cost,
        }
    }

    pub fn node_count(&self) -> usize {
        self.transit.len()
    }

    /// Arcs of `u`: (neighbour, link, cost), by neighbour.
    pub fn arcs(&self, u: usize) -> impl Iterator<Item = (usize, usize, u64)> + '_ {
        let (a, b) = (self.start[u] as usize, self.start[u + 1] as usize);
        (a..b).map(|i| (self.head[i] as usize, self.link[i] as usize, self.cost[i]))
    }

    /// The link a path takes from `u` to its neighbour `v`.
    pub fn link_between(&self, u: usize, v: usize) -> Option<usize> {
        self.arcs(u).find(|&(w, _, _)| w == v).map(|(_, l, _)| l)
    }

    /// May a segment that ends at `to` enter `v`?
    pub fn enterable(&self, v: usize, to: usize) -> bool {
        if v == to {
            self.end[v]
        } else {
            self.transit[v]
        }
    }

    /// Cost of the cheapest allowed path from every node to `to` (a segment end): the exact
    /// remaining cost A* uses as its heuristic. Paths pass only through transit nodes; the
    /// node a distance is measured from may be any node. [`INF`] where `to` is out of reach.
    pub fn distances_to(&self, to: usize) -> Vec<u64> {
        let mut dist = vec![INF; self.node_count()];
        if !self.end[to] {
            return dist;
        }
        let mut heap = std::collections::BinaryHeap::new();
        dist[to] = 0;
        heap.push(std::cmp::Reverse((0u64, to as u32)));
        while let Some(std::cmp::Reverse((d, x))) = heap.pop() {
            let x = x as usize;
            if d != dist[x] || (x != to && !self.transit[x]) {
                continue;
            }
            for (u, _, c) in self.arcs(x) {
                let nd = d + c;
                if nd < dist[u] {
                    dist[u] = nd;
                    heap.push(std::cmp::Reverse((nd, u as u32)));
                }
            }
        }
        dist
    }
}

/// Of two parallel links, is `a` better than `b`: more usable rate, then the smaller name.
pub fn better_link(topo: &Topology, a: usize, b: usize) -> bool {
    let (la, lb) = (&topo.qlinks[a], &topo.qlinks[b]);
    la.usable
        .total_cmp(&lb.usable)
        .then(lb.name.cmp(&la.name))
        .is_gt()
}

/// Integer cost of one hop: keys count hops first, then classical latency (µs); pairs add
/// the fidelity cost −ln w of the link (×10⁶) to a small per-hop cost.
fn hop_cost(pairs: bool, latency_ms: f64, fidelity: f64) -> u64 {
    if pairs {
        1_000 + (physics::fidelity_cost(fidelity) * 1e6).round().min(1e12) as u64
    } else {
        1_000_000 + (latency_ms * 1000.0).round() as u64
    }
}
