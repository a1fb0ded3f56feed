//! Small QKD topologies and key intents for the path search's unit tests.

use crate::check::{CheckedIntent, Constraints, Endpoint, Service};
use crate::compile::allowed::AllowedGraph;
use crate::compile::paths::Candidate;
use crate::inventory::Role;
use crate::synth::Rng;
use crate::topology::{LinkKind, QLink, TNode, Topology};
use std::collections::BTreeMap;
use strata_grammar::Span;

/// A QKD network: `s` and `t` are endpoints, every other node a trusted relay; each link
/// is (end, end, classical latency in ms).
pub(super) fn network(links: &[(&str, &str, f64)]) -> Topology {
    let mut names: Vec<&str> = vec!["s", "t"];
    for &(a, b, _) in links {
        for n in [a, b] {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    let nodes: Vec<TNode> = names
        .iter()
        .map(|&n| TNode {
            name: n.to_string(),
            domain: "d".into(),
            role: if n == "s" || n == "t" {
                Role::Endpoint
            } else {
                Role::TrustedRelay
            },
            trusted_domain: true,
            memory_qubits: None,
            coherence_time_s: None,
        })
        .collect();
    let index: BTreeMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), i))
        .collect();
    let qlinks: Vec<QLink> = links
        .iter()
        .map(|&(a, b, latency_ms)| QLink {
            name: format!("{a}-{b}"),
            kind: LinkKind::Qkd,
            ends: [index[a], index[b]],
            rate: 1e4,
            usable: 9e3,
            fidelity: 0.98,
            qber: 0.02,
            classical_path: Vec::new(),
            latency_ms,
            channel_bps: 1e5,
            span: Span::default(),
        })
        .collect();
    let mut adj_keys = vec![Vec::new(); nodes.len()];
    for (i, l) in qlinks.iter().enumerate() {
        adj_keys[l.ends[0]].push((l.ends[1], i));
        adj_keys[l.ends[1]].push((l.ends[0], i));
    }
    let adj_pairs = vec![Vec::new(); nodes.len()];
    Topology {
        network: "test".into(),
        nodes,
        index,
        qlinks,
        clinks: Vec::new(),
        adj_keys,
        adj_pairs,
    }
}

pub(super) fn keys(from: &str, to: &str, disjoint: u32) -> CheckedIntent {
    let end = |n: &str| Endpoint {
        node: n.into(),
        application: None,
        urn: None,
        span: Span::default(),
    };
    CheckedIntent {
        name: "i".into(),
        span: Span::default(),
        name_span: Span::default(),
        service: Service::Keys { size_bits: 256 },
        endpoints: [end(from), end(to)],
        min_rate: 1.0,
        max_rate: None,
        rate_span: Span::default(),
        min_fidelity: None,
        fidelity_span: None,
        max_latency_s: None,
        latency_span: None,
        lifetime_s: None,
        priority: 0,
        burst: None,
        constraints: Constraints {
            disjoint_paths: disjoint,
            ..Constraints::default()
        },
        policies: Vec::new(),
    }
}

pub(super) fn names(topo: &Topology, c: &Candidate) -> String {
    c.nodes
        .iter()
        .map(|&n| topo.nodes[n].name.as_str())
        .collect::<Vec<_>>()
        .join("-")
}

/// Every simple path s → t by brute force, as (cost, nodes), cheapest first.
pub(super) fn all_paths(g: &AllowedGraph, s: usize, t: usize) -> Vec<(u64, Vec<usize>)> {
    fn walk(
        g: &AllowedGraph,
        t: usize,
        path: &mut Vec<usize>,
        cost: u64,
        out: &mut Vec<(u64, Vec<usize>)>,
    ) {
        let u = *path.last().unwrap();
        if u == t {
            out.push((cost, path.clone()));
            return;
        }
        for (v, _, c) in g.arcs(u) {
            if !path.contains(&v) && g.enterable(v, t) {
                path.push(v);
                walk(g, t, path, cost + c, out);
                path.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(g, t, &mut vec![s], 0, &mut out);
    out.sort();
    out
}

/// Random small networks: s, t and seven relays, each pair linked with probability ½,
/// latencies from a few values so that equal costs occur.
pub(super) fn random_network(rng: &mut Rng) -> Topology {
    let names = ["s", "t", "r1", "r2", "r3", "r4", "r5", "r6", "r7"];
    let mut links = Vec::new();
    for i in 0..names.len() {
        for j in i + 1..names.len() {
            if rng.chance(0.45) {
                links.push((names[i], names[j], [1.0, 2.0, 3.0][rng.below(3)]));
            }
        }
    }
    network(&links)
}
