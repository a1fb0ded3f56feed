//! Link- and relay-disjoint paths as a min-cost flow (successive shortest paths, i.e.
//! Suurballe's method generalised to N paths): every node that may relay is split into an
//! entry and an exit joined by one unit of capacity, every allowed link gives one unit of
//! capacity in each direction at its hop cost, and N augmentations of Dijkstra with
//! potentials (reduced costs stay non-negative) send N units from source to destination at
//! the least total cost. The flow is then cut into paths. When fewer than N units get
//! through, the number that did is the true maximum number of disjoint allowed paths.
//!
//! Only the direct source–destination hop may use parallel links separately (two
//! one-hop paths over different links share no link and no relay); elsewhere a pair of
//! neighbours is joined by the best parallel link, as in path search.

use super::allowed::{AllowedGraph, INF};
use crate::topology::{LinkKind, Topology};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A path as nodes and links, with its cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPath {
    pub nodes: Vec<usize>,
    pub links: Vec<usize>,
    pub cost: u64,
}

struct Arc {
    to: usize,
    cap: i32,
    cost: i64,
    /// Quantum link of a forward arc between two nodes; `None` for splits and reverses.
    link: Option<usize>,
}

struct Network {
    arcs: Vec<Arc>,
    out: Vec<Vec<usize>>,
}

impl Network {
    fn add(&mut self, u: usize, v: usize, cap: i32, cost: i64, link: Option<usize>) {
        self.out[u].push(self.arcs.len());
        self.arcs.push(Arc {
            to: v,
            cap,
            cost,
            link,
        });
        self.out[v].push(self.arcs.len());
        self.arcs.push(Arc {
            to: u,
            cap: 0,
            cost: -cost,
            link: None,
        });
    }
}

/// Up to `want` link- and relay-disjoint paths `src` → `dst` of least total cost, cheapest
/// first (ties by node sequence). Intermediate nodes must be allowed to relay and, when
/// `keep` is given, kept by it. Fewer than `want` paths means no more disjoint paths exist.
pub fn disjoint_paths(
    topo: &Topology,
    kind: LinkKind,
    g: &AllowedGraph,
    src: usize,
    dst: usize,
    want: usize,
    keep: Option<&[bool]>,
) -> Vec<FlowPath> {
    if src == dst || want == 0 || !g.end[dst] {
        return Vec::new();
    }
    let n = g.node_count();
    // Node i: entry 2i, exit 2i + 1. Paths leave the exit of `src` and end at the entry of `dst`.
    let relay = |v: usize| v != src && v != dst && g.transit[v] && keep.is_none_or(|k| k[v]);
    let mut net = Network {
        arcs: Vec::new(),
        out: vec![Vec::new(); 2 * n],
    };
    for v in 0..n {
        if relay(v) {
            net.add(2 * v, 2 * v + 1, 1, 0, None);
        }
    }
    for u in 0..n {
        if u != src && !relay(u) {
            continue;
        }
        for (v, l, c) in g.arcs(u) {
            if v == dst && u == src {
                // Every allowed parallel link is a path of its own.
                let mut direct: Vec<usize> = topo.adjacency(kind)[src]
                    .iter()
                    .filter(|&&(w, l)| w == dst && g.link_ok[l])
                    .map(|&(_, l)| l)
                    .collect();
                direct.sort_unstable();
                for l in direct {
                    net.add(2 * u + 1, 2 * v, 1, g.link_cost[l] as i64, Some(l));
                }
            } else if v == dst || relay(v) {
                net.add(2 * u + 1, 2 * v, 1, c as i64, Some(l));
            }
        }
    }
    let (source, sink) = (2 * src + 1, 2 * dst);
    let mut potential = vec![0i64; 2 * n];
    let mut dist = vec![i64::MAX; 2 * n];
    let mut via_arc = vec![usize::MAX; 2 * n];
    let mut heap = BinaryHeap::new();
    let mut flow = 0;
    while flow < want {
        dist.fill(i64::MAX);
        via_arc.fill(usize::MAX);
        dist[source] = 0;
        heap.clear();
        heap.push(Reverse((0i64, source)));
        while let Some(Reverse((d, u))) = heap.pop() {
            if d != dist[u] {
                continue;
            }
            for &a in &net.out[u] {
                let arc = &net.arcs[a];
                if arc.cap <= 0 {
                    continue;
                }
                let nd = d + arc.cost + potential[u] - potential[arc.to];
                if nd < dist[arc.to] {
                    dist[arc.to] = nd;
                    via_arc[arc.to] = a;
                    heap.push(Reverse((nd, arc.to)));
                }
            }
        }
        if dist[sink] == i64::MAX {
            break;
        }
        for (p, d) in potential.iter_mut().zip(&dist) {
            if *d != i64::MAX {
                *p += d;
            }
        }
        let mut v = sink;
        while v != source {
            let a = via_arc[v];
            net.arcs[a].cap -= 1;
            net.arcs[a ^ 1].cap += 1;
            v = net.arcs[a ^ 1].to;
        }
        flow += 1;
    }
    // Cut the flow into paths: follow forward arcs that carry a unit (their reverse has
    // capacity), using each unit once. Costs are positive, so the flow has no cycles.
    let mut paths = Vec::with_capacity(flow);
    for _ in 0..flow {
        let mut nodes = vec![src];
        let mut links = Vec::new();
        let mut cost = 0u64;
        let mut at = source;
        while at != sink {
            let Some(&a) = net.out[at]
                .iter()
                .find(|&&a| a % 2 == 0 && net.arcs[a ^ 1].cap > 0)
            else {
                break;
            };
            net.arcs[a ^ 1].cap -= 1;
            let arc = &net.arcs[a];
            at = arc.to;
            if let Some(l) = arc.link {
                links.push(l);
                nodes.push(at / 2);
                cost += arc.cost as u64;
            }
        }
        if at == sink {
            paths.push(FlowPath { nodes, links, cost });
        }
    }
    paths.sort_by(|a, b| {
        a.cost
            .cmp(&b.cost)
            .then_with(|| a.nodes.cmp(&b.nodes))
            .then_with(|| a.links.cmp(&b.links))
    });
    paths
}

/// Fewest hops from `from` to every node, passing only through transit nodes other than
/// `other` (the far end of the intent).
pub fn hops_from(g: &AllowedGraph, from: usize, other: usize) -> Vec<u64> {
    let mut dist = vec![INF; g.node_count()];
    let mut queue = std::collections::VecDeque::from([from]);
    dist[from] = 0;
    while let Some(u) = queue.pop_front() {
        if u != from && (u == other || !g.transit[u]) {
            continue;
        }
        for (v, _, _) in g.arcs(u) {
            if dist[v] == INF {
                dist[v] = dist[u] + 1;
                queue.push_back(v);
            }
        }
    }
    dist
}

/// Least classical latency (ms) from `from` to every node, passing only through transit
/// nodes other than `other`.
pub fn latency_from(topo: &Topology, g: &AllowedGraph, from: usize, other: usize) -> Vec<f64> {
    let mut dist = vec![f64::INFINITY; g.node_count()];
    let mut done = vec![false; g.node_count()];
    dist[from] = 0.0;
    // Latencies are validated non-negative, and non-negative f64s order like their bits.
    let mut heap = BinaryHeap::new();
    heap.push(Reverse((0u64, from)));
    while let Some(Reverse((_, u))) = heap.pop() {
        if done[u] {
            continue;
        }
        done[u] = true;
        if u != from && (u == other || !g.transit[u]) {
            continue;
        }
        for (v, l, _) in g.arcs(u) {
            let nd = dist[u] + topo.qlinks[l].latency_ms.max(0.0);
            if nd < dist[v] {
                dist[v] = nd;
                heap.push(Reverse((nd.to_bits(), v)));
            }
        }
    }
    dist
}
