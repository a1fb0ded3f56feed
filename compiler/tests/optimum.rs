//! The optimiser reaches the optimum over *all* allowed paths, not only over its k shortest
//! candidates, for key and entangled-pair intents, and shares fairly by water-filling.
//!
//! The reference is computed here, independently of strata's path search and LP code: every
//! simple path between an intent's ends is enumerated by depth-first search over the
//! inventory text's links, and one LP over all of them (Σ admitted / requested, each QKD
//! link's key rate less the documented 10 % headroom; for pairs, each path's swap overhead,
//! memory holding and end-to-end fidelity worked out from first principles) is solved
//! directly.

use good_lp::{Expression, ProblemVariables, Solution, SolverModel, variable};
use std::collections::BTreeMap;
use strata_compiler::check::{Program, check};
use strata_compiler::compile::optimise::Objective;
use strata_compiler::compile::{CompileOptions, Compiled, compile};
use strata_compiler::inventory::{Inventory, load};
use strata_grammar::{FileId, parse};

/// A small deterministic generator (xorshift), so the networks need no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Generated {
    yaml: String,
    intents: String,
    /// (a, b, key rate in bit/s) per QKD link.
    links: Vec<(usize, usize, f64)>,
    /// (a, b, requested keys/s, max hops) per intent.
    demands: Vec<(usize, usize, f64, Option<usize>)>,
}

/// `n` trusted relays in a ring with random chords; `m` 256-bit key intents between random
/// pairs, one in four with `max hops 3`. Classical links are wide enough never to bind.
fn generate(n: usize, m: usize, seed: u64) -> Generated {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut edges: Vec<(usize, usize)> = (0..n).map(|i| (i, (i + 1) % n)).collect();
    for _ in 0..n {
        let (a, b) = (rng.below(n as u64) as usize, rng.below(n as u64) as usize);
        let (a, b) = (a.min(b), a.max(b));
        if a != b && !edges.iter().any(|&(x, y)| (x.min(y), x.max(y)) == (a, b)) {
            edges.push((a, b));
        }
    }
    let mut yaml =
        String::from("name: gen\ndomains:\n  - { name: d, operator: D, trust: trusted }\nnodes:\n");
    for i in 0..n {
        yaml += &format!("  - {{ name: n{i}, domain: d, role: trusted-relay }}\n");
    }
    yaml += "qkd_links:\n";
    let mut links = Vec::new();
    for (k, &(a, b)) in edges.iter().enumerate() {
        let skr = 2000.0 + 500.0 * rng.below(40) as f64;
        yaml += &format!(
            "  - {{ name: q{k}, ends: [n{a}, n{b}], length_km: 5, skr_bps: {skr}, qber: 0.02, classical_path: [c{k}] }}\n"
        );
        links.push((a, b, skr));
    }
    yaml += "classical_links:\n";
    for (k, &(a, b)) in edges.iter().enumerate() {
        yaml += &format!(
            "  - {{ name: c{k}, ends: [n{a}, n{b}], bandwidth_bps: 1e12, latency_ms: 0.1 }}\n"
        );
    }
    let mut intents = String::new();
    let mut demands = Vec::new();
    for j in 0..m {
        let a = rng.below(n as u64) as usize;
        let b = (a + 1 + rng.below(n as u64 - 1) as usize) % n;
        let rate = 2.0 + rng.below(30) as f64;
        let hops = (rng.below(4) == 0).then_some(3);
        let bound = hops.map_or(String::new(), |h| format!(", max hops {h}"));
        intents += &format!(
            "intent i{j}: keys of 256 bits between n{a} and n{b}, rate >= {rate}/s{bound}\n"
        );
        demands.push((a, b, rate, hops));
    }
    Generated {
        yaml,
        intents,
        links,
        demands,
    }
}

fn program(inv: &Inventory, text: &str) -> Program {
    let (unit, diags) = parse(FileId(1), text);
    assert!(diags.is_empty(), "{diags:#?}");
    let (program, diags) = check(&[&unit], inv);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    program
}

/// Every simple path from `a` to `b` with at most `hops` links, as link indices.
fn all_paths(g: &Generated, a: usize, b: usize, hops: Option<usize>) -> Vec<Vec<usize>> {
    fn walk(
        g: &Generated,
        at: usize,
        to: usize,
        hops: usize,
        seen: &mut Vec<usize>,
        path: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if at == to {
            out.push(path.clone());
            return;
        }
        if path.len() == hops {
            return;
        }
        for (k, &(x, y, _)) in g.links.iter().enumerate() {
            let next = if x == at {
                y
            } else if y == at {
                x
            } else {
                continue;
            };
            if seen.contains(&next) {
                continue;
            }
            seen.push(next);
            path.push(k);
            walk(g, next, to, hops, seen, path, out);
            path.pop();
            seen.pop();
        }
    }
    let mut out = Vec::new();
    walk(
        g,
        a,
        b,
        hops.unwrap_or(usize::MAX),
        &mut vec![a],
        &mut Vec::new(),
        &mut out,
    );
    out
}

/// Σ admitted / requested of the LP over every allowed path.
fn reference_optimum(g: &Generated) -> f64 {
    let mut vars = ProblemVariables::new();
    let mut objective = Expression::from(0.0);
    let mut load: BTreeMap<usize, Expression> = BTreeMap::new();
    let mut rows = Vec::new();
    for &(a, b, rate, hops) in &g.demands {
        let admitted = vars.add(variable().min(0.0).max(rate));
        objective += admitted * (1.0 / rate);
        let mut carried = Expression::from(0.0);
        for path in all_paths(g, a, b, hops) {
            let x = vars.add(variable().min(0.0));
            carried += x;
            for l in path {
                *load.entry(l).or_insert_with(|| Expression::from(0.0)) += x * 256.0;
            }
        }
        rows.push(Expression::from(admitted).leq(carried));
    }
    let mut model = vars.maximise(objective.clone()).using(good_lp::microlp);
    for r in rows {
        model.add_constraint(r);
    }
    for (l, used) in load {
        // strata keeps 10 % of every QKD link's key rate as headroom (docs/inventory.md).
        model.add_constraint(used.leq(g.links[l].2 * 0.9));
    }
    let solution = model.solve().expect("the reference LP solves");
    solution.eval(&objective)
}

fn throughput() -> CompileOptions {
    CompileOptions {
        objective: Objective::Throughput,
        ..CompileOptions::default()
    }
}

/// Σ admitted / requested over the summary's intents.
fn admitted_total(out: &Compiled) -> f64 {
    out.summary
        .intents
        .iter()
        .map(|i| i.admitted_rate / i.requested_rate)
        .sum()
}

#[test]
fn throughput_reaches_the_optimum_over_all_allowed_paths() {
    let mut beyond_candidates = 0;
    for seed in 1..=6 {
        let g = generate(9, 24, seed);
        let (inv, diags) = load(FileId(0), &g.yaml);
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
        let inv = inv.unwrap();
        let p = program(&inv, &g.intents);
        let out = compile(&p, &inv, &throughput());
        let strata = admitted_total(&out);
        let optimum = reference_optimum(&g);
        assert!(
            strata >= optimum * (1.0 - 1e-3) && strata <= optimum + 1e-6,
            "seed {seed}: strata admits {strata}, the LP over all paths {optimum}"
        );
        assert!(out.summary.optimum.proven, "{:?}", out.summary.optimum);
        beyond_candidates += out.summary.optimum.columns_added;
    }
    // The instances are tight enough that the k shortest paths alone would not do.
    assert!(
        beyond_candidates > 0,
        "no instance needed a path beyond the candidates"
    );
}

/// Two separate links. X–Y carries 10/s and is shared by p and q (10/s each); U–V carries
/// 12/s and is shared by r (10/s) and s (100/s). Water-filling raises everyone to 12/110 of
/// their request, where U–V is full, then p and q on to 1/2. A single max-min level
/// followed by throughput would be free to split X–Y unevenly.
/// Two separate QKD links, x-y (10 keys/s of 256 bits after the 10 % headroom) and u-v
/// (`uv_skr_bps`).
fn two_links(uv_skr_bps: f64) -> String {
    format!(
        r#"
name: two
domains:
  - {{ name: d, operator: D, trust: trusted }}
nodes:
  - {{ name: X, domain: d, role: endpoint }}
  - {{ name: Y, domain: d, role: endpoint }}
  - {{ name: U, domain: d, role: endpoint }}
  - {{ name: V, domain: d, role: endpoint }}
qkd_links:
  - {{ name: x-y, ends: [X, Y], length_km: 5, skr_bps: 2844.4445, qber: 0.02, classical_path: [k-x-y] }}
  - {{ name: u-v, ends: [U, V], length_km: 5, skr_bps: {uv_skr_bps}, qber: 0.02, classical_path: [k-u-v] }}
classical_links:
  - {{ name: k-x-y, ends: [X, Y], bandwidth_bps: 1e9, latency_ms: 0.1 }}
  - {{ name: k-u-v, ends: [U, V], bandwidth_bps: 1e9, latency_ms: 0.1 }}
"#
    )
}

#[test]
fn water_filling_gives_each_bottleneck_its_own_level() {
    let net = two_links(3413.33334);
    let (inv, _) = load(FileId(0), &net);
    let inv = inv.unwrap();
    let p = program(
        &inv,
        "intent p: keys of 256 bits between X and Y, 10/s\n\
         intent q: keys of 256 bits between X and Y, 10/s\n\
         intent r: keys of 256 bits between U and V, 10/s\n\
         intent s: keys of 256 bits between U and V, 100/s\n",
    );
    let out = compile(&p, &inv, &CompileOptions::default());
    let share = |n: &str| {
        let i = out.summary.intents.iter().find(|i| i.name == n).unwrap();
        i.admitted_rate / i.requested_rate
    };
    for n in ["p", "q"] {
        assert!((share(n) - 0.5).abs() < 1e-4, "{n}: {}", share(n));
    }
    for n in ["r", "s"] {
        assert!((share(n) - 12.0 / 110.0).abs() < 1e-4, "{n}: {}", share(n));
    }
}

/// `objective throughput` in a policy takes the intents it selects out of fair sharing:
/// they get only what the fair intents leave.
#[test]
fn a_throughput_policy_opts_its_intents_out_of_fair_sharing() {
    let net = r#"
name: one
domains:
  - { name: d, operator: D, trust: trusted }
nodes:
  - { name: X, domain: d, role: endpoint }
  - { name: Y, domain: d, role: endpoint }
qkd_links:
  - { name: x-y, ends: [X, Y], length_km: 5, skr_bps: 2844.4445, qber: 0.02, classical_path: [k-x-y] }
classical_links:
  - { name: k-x-y, ends: [X, Y], bandwidth_bps: 1e9, latency_ms: 0.1 }
"#;
    let (inv, _) = load(FileId(0), net);
    let inv = inv.unwrap();
    let text = "intent p: keys of 256 bits between X and Y, 10/s\n\
                intent q: keys of 256 bits between X and Y, 10/s\n\
                intent bulk: keys of 256 bits between X and Y, 10/s\n";
    let shares = |text: &str| -> Vec<f64> {
        let out = compile(&program(&inv, text), &inv, &CompileOptions::default());
        out.summary
            .intents
            .iter()
            .map(|i| i.admitted_rate / i.requested_rate)
            .collect()
    };
    let fair = shares(text);
    for s in &fair {
        assert!((s - 1.0 / 3.0).abs() < 1e-4, "{fair:?}");
    }
    let opted = shares(&format!(
        "{text}policy best-effort {{ applies to intents bulk\n objective throughput }}\n"
    ));
    // p and q share fairly: 5/s each fills the link, so bulk gets nothing.
    assert!((opted[0] - 0.5).abs() < 1e-4, "{opted:?}");
    assert!((opted[1] - 0.5).abs() < 1e-4, "{opted:?}");
    assert!(opted[2].abs() < 1e-6, "{opted:?}");
}

/// A class too large for water-filling with duals still shares fairly: an intent that can
/// have nothing (its only link is held by a higher class) does not pull everyone's level
/// down to 0.
#[test]
fn a_starved_intent_does_not_cost_a_large_class_its_fair_level() {
    let net = two_links(2844.4445);
    let (inv, _) = load(FileId(0), &net);
    let inv = inv.unwrap();
    // Each link carries 10 keys/s (2,560 bit/s after headroom). `high` takes all of u-v.
    let many = strata_compiler::compile::optimise::COLUMN_LIMIT + 1;
    let mut text = String::from(
        "intent high: keys of 256 bits between U and V, 10/s, priority 1\n\
         intent starved: keys of 256 bits between U and V, 10/s\n",
    );
    for i in 0..many {
        text += &format!("intent s{i}: keys of 256 bits between X and Y, 0.01/s\n");
    }
    let out = compile(&program(&inv, &text), &inv, &CompileOptions::default());
    let fair = 10.0 / (0.01 * many as f64);
    let shares: Vec<f64> = out
        .summary
        .intents
        .iter()
        .filter(|i| i.name.starts_with('s') && i.name != "starved")
        .map(|i| i.admitted_rate / i.requested_rate)
        .collect();
    assert_eq!(shares.len(), many);
    // Every share is the fair level; one may hold the round-off the floors leave (each kept
    // a hair under the solver's level so the next LP stays feasible).
    for s in &shares {
        assert!(
            *s > fair - 1e-4 && *s < fair + 1e-3,
            "share {s}, fair {fair}"
        );
    }
    let starved = out.summary.intents.iter().find(|i| i.name == "starved");
    assert_eq!(starved.map(|i| i.admitted_rate), Some(0.0));
}

/// Intents the LP cannot tell apart (same paths, same use of every resource) share one
/// coverage row; each keeps its own objective. On one link of 10 keys/s: fair shares give
/// every copy the same fraction, 10/14; throughput serves the small requests first (2 and 4
/// in full, 4 of 8). An intent on a link it cannot fill is served in full either way.
#[test]
fn identical_intents_share_a_row_and_keep_their_own_shares() {
    let net = two_links(1e6);
    let (inv, _) = load(FileId(0), &net);
    let inv = inv.unwrap();
    let text = "intent a: keys of 256 bits between X and Y, 2/s\n\
                intent b: keys of 256 bits between X and Y, 4/s\n\
                intent c: keys of 256 bits between X and Y, 8/s\n\
                intent d: keys of 256 bits between U and V, 8/s\n";
    let shares = |objective: &str| -> Vec<f64> {
        let text = format!("{text}policy every {{ applies to keys\n objective {objective} }}\n");
        let out = compile(&program(&inv, &text), &inv, &CompileOptions::default());
        out.summary
            .intents
            .iter()
            .map(|i| i.admitted_rate / i.requested_rate)
            .collect()
    };
    let fair = shares("fair");
    for s in &fair[..3] {
        assert!((s - 10.0 / 14.0).abs() < 1e-4, "{fair:?}");
    }
    assert!((fair[3] - 1.0).abs() < 1e-9, "{fair:?}");
    let most = shares("throughput");
    for (s, want) in most.iter().zip([1.0, 1.0, 0.5, 1.0]) {
        assert!((s - want).abs() < 1e-4, "{most:?}");
    }
}

/// Amounts per link or node index.
type Amounts = Vec<(usize, f64)>;

/// A repeater network for entangled pairs: (name, is a repeater, memory qubits, coherence
/// time in s) per node, and (a, b, length km, elementary pairs/s, fidelity, classical latency
/// in ms) per entanglement link, each with a classical link of its own wide enough never to
/// bind.
struct PairNet {
    nodes: Vec<(&'static str, bool, u32, f64)>,
    links: Vec<(usize, usize, f64, f64, f64, f64)>,
}

impl PairNet {
    fn yaml(&self) -> String {
        let mut y = String::from(
            "name: pairs\ndomains:\n  - { name: d, operator: D, trust: trusted }\nnodes:\n",
        );
        for &(n, repeater, qubits, coherence) in &self.nodes {
            let role = if repeater { "repeater" } else { "endpoint" };
            y += &format!(
                "  - {{ name: {n}, domain: d, role: {role}, memory: {{ qubits: {qubits}, coherence_time_s: {coherence} }} }}\n"
            );
        }
        y += "entanglement_links:\n";
        for (k, &(a, b, km, rate, fidelity, _)) in self.links.iter().enumerate() {
            let (a, b) = (self.nodes[a].0, self.nodes[b].0);
            y += &format!(
                "  - {{ name: e{k}, ends: [{a}, {b}], length_km: {km}, pair_rate_hz: {rate}, fidelity: {fidelity}, classical_path: [c{k}] }}\n"
            );
        }
        y += "classical_links:\n";
        for (k, &(a, b, _, _, _, latency)) in self.links.iter().enumerate() {
            let (a, b) = (self.nodes[a].0, self.nodes[b].0);
            y += &format!(
                "  - {{ name: c{k}, ends: [{a}, {b}], bandwidth_bps: 1e12, latency_ms: {latency} }}\n"
            );
        }
        y
    }

    /// Every simple path from `a` to `b` that relays only at repeaters, as link indices.
    fn paths(&self, a: usize, b: usize) -> Vec<Vec<usize>> {
        fn walk(
            net: &PairNet,
            at: usize,
            to: usize,
            seen: &mut Vec<usize>,
            path: &mut Vec<usize>,
            out: &mut Vec<Vec<usize>>,
        ) {
            if at == to {
                out.push(path.clone());
                return;
            }
            if seen.len() > 1 && !net.nodes[at].1 {
                return;
            }
            for (k, &(x, y, ..)) in net.links.iter().enumerate() {
                let next = match at {
                    _ if x == at => y,
                    _ if y == at => x,
                    _ => continue,
                };
                if !seen.contains(&next) {
                    seen.push(next);
                    path.push(k);
                    walk(net, next, to, seen, path, out);
                    path.pop();
                    seen.pop();
                }
            }
        }
        let mut out = Vec::new();
        walk(self, a, b, &mut vec![a], &mut Vec::new(), &mut out);
        out
    }

    /// The nodes of a path from `a`, in order.
    fn nodes_of(&self, a: usize, path: &[usize]) -> Vec<usize> {
        let mut nodes = vec![a];
        for &l in path {
            let (x, y, ..) = self.links[l];
            let at = *nodes.last().unwrap();
            nodes.push(if x == at { y } else { x });
        }
        nodes
    }

    /// What one delivered pair per second on `path` consumes, from first principles: every
    /// swap succeeds with probability ½, so each link supplies 2^(hops − 1) elementary pairs
    /// per delivered pair; every memory holds that many halves (one at each end, two at a
    /// repeater) for the path's classical latency (fibre at 2·10⁵ km/s plus the classical
    /// links). Returns (per link, per node) consumption and the end-to-end fidelity: Werner
    /// parameters w = (4F − 1)/3 multiply over the links and decay as e^(−wait/T) in the
    /// shortest-lived memory on the path.
    fn consumption(&self, a: usize, path: &[usize]) -> (Amounts, Amounts, f64) {
        let overhead = 2f64.powi(path.len() as i32 - 1);
        let latency_ms: f64 = path
            .iter()
            .map(|&l| self.links[l].5 + self.links[l].2 / 2e5 * 1e3)
            .sum();
        let wait_s = latency_ms / 1e3;
        let nodes = self.nodes_of(a, path);
        let coherence = nodes
            .iter()
            .map(|&n| self.nodes[n].3)
            .fold(f64::INFINITY, f64::min);
        let w: f64 = path
            .iter()
            .map(|&l| (4.0 * self.links[l].4 - 1.0) / 3.0)
            .product::<f64>()
            * (-wait_s / coherence).exp();
        let fidelity = 0.25 + 0.75 * w;
        let links = path.iter().map(|&l| (l, overhead)).collect();
        let last = nodes.len() - 1;
        let memories = nodes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let halves = if i == 0 || i == last { 1.0 } else { 2.0 };
                (n, halves * overhead * wait_s)
            })
            .collect();
        (links, memories, fidelity)
    }

    /// Cost strata's candidate search ranks pair paths by: per hop 1,000 plus 10⁶ × −ln w.
    fn search_cost(&self, path: &[usize]) -> u64 {
        path.iter()
            .map(|&l| {
                let w = (4.0 * self.links[l].4 - 1.0) / 3.0;
                1_000 + (-w.ln() * 1e6).round() as u64
            })
            .sum()
    }

    /// Σ admitted / requested of the LP over the allowed paths of every intent (a, b,
    /// requested pairs/s, fidelity bound): all of them, or (`k`) the k of least search cost.
    fn optimum(&self, intents: &[(usize, usize, f64, Option<f64>)], k: Option<usize>) -> f64 {
        let mut vars = ProblemVariables::new();
        let mut objective = Expression::from(0.0);
        let mut load: BTreeMap<(bool, usize), Expression> = BTreeMap::new();
        let mut rows = Vec::new();
        for &(a, b, rate, bound) in intents {
            let admitted = vars.add(variable().min(0.0).max(rate));
            objective += admitted * (1.0 / rate);
            let mut carried = Expression::from(0.0);
            let mut paths = self.paths(a, b);
            paths.sort_by_key(|p| self.search_cost(p));
            if let Some(k) = k {
                paths.truncate(k);
            }
            for path in paths {
                let (links, memories, fidelity) = self.consumption(a, &path);
                if let Some(f) = bound {
                    // The network is built so that no path needs purification: each meets
                    // the bound as it is or is past saving (w ≤ ⅓).
                    assert!(fidelity >= f || fidelity <= 0.5, "{path:?}: {fidelity}");
                    if fidelity < f {
                        continue;
                    }
                }
                let x = vars.add(variable().min(0.0));
                carried += x;
                for (l, c) in links {
                    *load
                        .entry((false, l))
                        .or_insert_with(|| Expression::from(0.0)) += x * c;
                }
                for (n, c) in memories {
                    *load
                        .entry((true, n))
                        .or_insert_with(|| Expression::from(0.0)) += x * c;
                }
            }
            rows.push(Expression::from(admitted).leq(carried));
        }
        let mut model = vars.maximise(objective.clone()).using(good_lp::microlp);
        for r in rows {
            model.add_constraint(r);
        }
        for ((memory, i), used) in load {
            let cap = if memory {
                f64::from(self.nodes[i].2)
            } else {
                self.links[i].3
            };
            model.add_constraint(used.leq(cap));
        }
        model
            .solve()
            .expect("the reference LP solves")
            .eval(&objective)
    }
}

/// Three high-fidelity routes s-a-xᵢ-t share the slow link s-a, so they are the k = 3
/// candidates of every s-t intent and carry 10 pairs/s between them. Beyond them: s-c-t,
/// lower fidelity, bounded by c's two memory qubits (held for the ~10 ms its classical links
/// take); and s-d-e-t, wide but so noisy (F ≈ 0.33) that only an intent without a fidelity
/// bound may use it. Pricing must find both, under memory prices and the fidelity bound.
#[test]
fn pair_intents_reach_the_optimum_over_all_allowed_paths() {
    let net = PairNet {
        nodes: vec![
            ("s", false, 100, 1.0),
            ("t", false, 100, 1.0),
            ("a", true, 50, 1.0),
            ("x1", true, 50, 1.0),
            ("x2", true, 50, 1.0),
            ("x3", true, 50, 1.0),
            ("c", true, 2, 1.0),
            ("d", true, 50, 1.0),
            ("e", true, 50, 1.0),
        ],
        links: vec![
            (0, 2, 10.0, 40.0, 0.995, 0.1),
            (2, 3, 10.0, 1000.0, 0.995, 0.1),
            (2, 4, 10.0, 1000.0, 0.995, 0.1),
            (2, 5, 10.0, 1000.0, 0.995, 0.1),
            (3, 1, 10.0, 1000.0, 0.995, 0.1),
            (4, 1, 10.0, 1000.0, 0.995, 0.1),
            (5, 1, 10.0, 1000.0, 0.995, 0.1),
            (0, 6, 10.0, 1000.0, 0.97, 5.0),
            (6, 1, 10.0, 1000.0, 0.97, 5.0),
            (0, 7, 10.0, 1000.0, 0.6, 0.1),
            (7, 8, 10.0, 1000.0, 0.6, 0.1),
            (8, 1, 10.0, 1000.0, 0.6, 0.1),
        ],
    };
    let intents = [(0, 1, 200.0, None), (0, 1, 100.0, Some(0.85))];
    let (inv, diags) = load(FileId(0), &net.yaml());
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    let inv = inv.unwrap();
    let p = program(
        &inv,
        "intent wide: entangled pairs between s and t, rate >= 200/s\n\
         intent fine: entangled pairs between s and t, fidelity >= 0.85, rate >= 100/s\n",
    );
    let out = compile(&p, &inv, &throughput());
    let strata = admitted_total(&out);
    let optimum = net.optimum(&intents, None);
    let candidates = net.optimum(&intents, Some(3));
    // The k shortest candidates are far from the optimum: the instance needs pricing.
    assert!(
        candidates < optimum - 0.5,
        "candidates {candidates}, optimum {optimum}"
    );
    assert!(
        strata >= optimum * (1.0 - 1e-3) && strata <= optimum + 1e-6,
        "strata admits {strata}, the LP over all paths {optimum} (candidates only {candidates})"
    );
    let o = &out.summary.optimum;
    assert!(o.proven, "{o:?}");
    assert_eq!((o.candidates_only, o.heuristic), (0, 0), "{o:?}");
    assert!(o.columns_added > 0, "{o:?}");
}
