//! The pair pricer against every simple path of random repeater networks.

use super::*;
use crate::check::{Constraints, Endpoint};
use crate::compile::paths;
use crate::inventory::Role;
use crate::synth::Rng;
use crate::topology::{CLink, LinkKind, QLink, TNode};
use strata_grammar::Span;

/// A random repeater network: endpoints s and t and six repeaters, all with memories of
/// random coherence; entanglement links of random fidelity, pair rate and latency, each
/// with its own classical link.
fn pair_network(rng: &mut Rng) -> Topology {
    let names = ["s", "t", "r1", "r2", "r3", "r4", "r5", "r6"];
    let nodes: Vec<TNode> = names
        .iter()
        .map(|&n| TNode {
            name: n.into(),
            domain: "d".into(),
            role: if n.starts_with('r') {
                Role::Repeater
            } else {
                Role::Endpoint
            },
            trusted_domain: true,
            memory_qubits: Some(10),
            coherence_time_s: Some([0.02, 0.05, 0.2, 1.0][rng.below(4)]),
        })
        .collect();
    let index = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), i))
        .collect();
    let (mut qlinks, mut clinks) = (Vec::new(), Vec::new());
    for i in 0..names.len() {
        for j in i + 1..names.len() {
            if (i, j) == (0, 1) || !rng.chance(0.5) {
                continue;
            }
            // Values from short lists, so that partial paths tie and dominate each other.
            let usable = [30.0, 200.0, 1000.0][rng.below(3)];
            clinks.push(CLink {
                name: format!("c{i}-{j}"),
                span: Span::default(),
                ends: [i, j],
                bandwidth_bps: 1e9,
                latency_ms: 0.1,
            });
            qlinks.push(QLink {
                name: format!("e{i}-{j}"),
                kind: LinkKind::Entanglement,
                ends: [i, j],
                rate: usable,
                usable,
                fidelity: [0.9, 0.95, 0.98, 0.99][rng.below(4)],
                qber: 0.0,
                classical_path: vec![clinks.len() - 1],
                latency_ms: [0.5, 1.0, 2.0, 4.0][rng.below(4)],
                channel_bps: 1e3,
                span: Span::default(),
            });
        }
    }
    let mut adj_pairs = vec![Vec::new(); nodes.len()];
    for (l, q) in qlinks.iter().enumerate() {
        adj_pairs[q.ends[0]].push((q.ends[1], l));
        adj_pairs[q.ends[1]].push((q.ends[0], l));
    }
    Topology {
        network: "pairs".into(),
        adj_keys: vec![Vec::new(); nodes.len()],
        nodes,
        index,
        qlinks,
        clinks,
        adj_pairs,
    }
}

fn pairs(rate: f64) -> CheckedIntent {
    let end = |n: &str| Endpoint {
        node: n.into(),
        application: None,
        urn: None,
        span: Span::default(),
    };
    CheckedIntent {
        name: "p".into(),
        span: Span::default(),
        name_span: Span::default(),
        service: Service::Pairs,
        endpoints: [end("s"), end("t")],
        min_rate: rate,
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
            disjoint_paths: 1,
            ..Constraints::default()
        },
        policies: Vec::new(),
    }
}

/// Every allowed simple path of the intent, as (nodes, links), by depth-first search.
fn all_paths(topo: &Topology, g: &AllowedGraph, stops: &[usize]) -> Vec<(Vec<usize>, Vec<usize>)> {
    fn walk(
        topo: &Topology,
        g: &AllowedGraph,
        stops: &[usize],
        stage: usize,
        nodes: &mut Vec<usize>,
        links: &mut Vec<usize>,
        out: &mut Vec<(Vec<usize>, Vec<usize>)>,
    ) {
        if stage == stops.len() {
            out.push((nodes.clone(), links.clone()));
            return;
        }
        let u = *nodes.last().unwrap();
        for &(v, l) in &topo.adj_pairs[u] {
            if nodes.contains(&v) || !g.link_ok[l] || !g.enterable(v, stops[stage]) {
                continue;
            }
            let next = if v == stops[stage] { stage + 1 } else { stage };
            nodes.push(v);
            links.push(l);
            walk(topo, g, stops, next, nodes, links, out);
            nodes.pop();
            links.pop();
        }
    }
    let mut out = Vec::new();
    walk(
        topo,
        g,
        stops,
        1,
        &mut vec![stops[0]],
        &mut Vec::new(),
        &mut out,
    );
    out
}

#[test]
fn pair_pricing_finds_the_best_path_of_all() {
    let mut rng = Rng::new(11);
    let options = PathOptions::default();
    let (mut columns, mut none) = (0, 0);
    for round in 0..600 {
        let topo = pair_network(&mut rng);
        let mut intent = pairs(rng.range(0.5, 50.0));
        intent.min_fidelity = [None, Some(0.7), Some(0.8), Some(0.9), Some(0.95)][rng.below(5)];
        if rng.chance(0.25) {
            intent.constraints.max_hops = Some(3);
        }
        if rng.chance(0.25) {
            intent.max_latency_s = Some(0.006);
        }
        if rng.chance(0.2) {
            intent.constraints.via_nodes = vec!["r3".into()];
        }
        if rng.chance(0.2) {
            intent.constraints.avoid_nodes.insert("r1".into());
        }
        let caps = Capacities::new(&topo);
        // Prices of the order that makes paths compete: per elementary pair, per swap
        // message bit, per qubit-second.
        let (q, c) = (topo.qlinks.len(), topo.clinks.len());
        let pi: Vec<f64> = (0..caps.len())
            .map(|r| {
                let top = if r < q {
                    0.05
                } else if r < q + c {
                    0.05 / 512.0
                } else {
                    20.0
                };
                top * [0.0, 0.0, 0.25, 0.5, 1.0][rng.below(5)]
            })
            .collect();
        let sigma = rng.range(0.0, 1.5);
        let (rate, tolerance, hop_cost) = (intent.min_rate, 1e-9, 1e-6);
        let mut pricer = Pricer::new(&topo, options);
        pricer.prepare([&intent]);
        let got = pricer.price(&intent, rate, sigma, &pi, &caps, tolerance, hop_cost);
        assert!(
            got.exact,
            "round {round}: a small network stays within the caps"
        );

        let g = AllowedGraph::new(&topo, &Signature::of(&intent), Links::Usable);
        let stops = stops(&topo, &intent).unwrap();
        let rc = |c: &Candidate| {
            reduced_cost(&topo, &caps, intent.service, rate, sigma, &pi, hop_cost, c)
        };
        let best = all_paths(&topo, &g, &stops)
            .into_iter()
            .map(|(nodes, links)| paths::evaluate_path(&topo, &intent, nodes, links, &options))
            .filter(|c| paths::admissible(&topo, &intent, c).is_ok())
            .map(|c| rc(&c))
            .fold(f64::NEG_INFINITY, f64::max);
        match got.path {
            Some(c) => {
                columns += 1;
                assert!(paths::admissible(&topo, &intent, &c).is_ok());
                let found = rc(&c);
                assert!(found > tolerance, "round {round}");
                assert!(
                    (found - best).abs() <= 1e-9 * best.abs().max(1.0),
                    "round {round}: priced {found}, best of all paths {best}"
                );
            }
            None => {
                none += 1;
                assert!(
                    best <= tolerance,
                    "round {round}: missed a column worth {best}"
                );
            }
        }
    }
    // Both outcomes occur often enough to mean something.
    assert!(
        columns > 30 && none > 30,
        "{columns} columns, {none} without"
    );
}
