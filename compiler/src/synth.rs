//! Synthetic QKD networks and intent sets, for tests and benchmarks at sizes no hand-written
//! example reaches. Everything is deterministic: the same sizes and seed give byte-identical
//! texts on every machine (a small built-in splitmix64 generator, no `rand`).
//!
//! [`Network::generate`] places nodes on a plane and joins each to its 2–4 nearest
//! neighbours with a QKD link (5–60 km of fibre, 0.2–0.35 dB/km, a measured secret key rate
//! from about 1 Mbit/s on short spans down to 20 kbit/s on the longest, QBER 1–5 %) and a
//! classical link that carries the QKD link's classical channel. A few nodes (5 %) are relays
//! of an untrusted carrier; the others are split between two trusted domains (west and east
//! half), a fifth of them trusted relays and the rest endpoints with one application each.
//! The trusted part of the network is kept connected, so every pair of trusted endpoints
//! has a path that avoids the carrier.
//!
//! [`Network::intents`] writes an intent file of key intents between random trusted
//! endpoints (256-bit keys, 1–50 keys/s, priorities 0–3; about 10 % with a feasible
//! `max hops`, about 5 % with `disjoint paths 2` where two disjoint paths exist) and one
//! policy that keeps every intent out of the untrusted domain. [`Scenario`] bundles both
//! texts with an in-memory [`SourceLoader`] so they go through
//! [`frontend::run`] like files on disk.

use crate::frontend::{self, Frontend, SourceLoader};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Names of the two trusted domains (west and east half of the plane).
pub const TRUSTED_DOMAINS: [&str; 2] = ["west-net", "east-net"];
/// Name of the untrusted carrier domain that the generated policy avoids.
pub const UNTRUSTED_DOMAIN: &str = "carrier-x";
/// Where a [`Scenario`] puts its inventory for the front end.
pub const NETWORK_PATH: &str = "synth/network.yaml";
/// Where a [`Scenario`] puts its intent file for the front end.
pub const INTENTS_PATH: &str = "synth/intents.qi";
/// Smallest network [`Network::generate`] builds (smaller requests are raised to it).
pub const MIN_NODES: usize = 8;

/// splitmix64: tiny, fast, and good enough to scatter nodes and pick endpoints.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability p.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// What a generated node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthRole {
    Endpoint,
    TrustedRelay,
}

#[derive(Debug, Clone)]
pub struct SynthNode {
    pub name: String,
    /// Index into [`TRUSTED_DOMAINS`], or `None` for the untrusted carrier.
    pub domain: Option<usize>,
    pub role: SynthRole,
    pub x_km: f64,
    pub y_km: f64,
}

impl SynthNode {
    pub fn trusted(&self) -> bool {
        self.domain.is_some()
    }

    fn domain_name(&self) -> &'static str {
        self.domain.map_or(UNTRUSTED_DOMAIN, |d| TRUSTED_DOMAINS[d])
    }
}

/// One QKD link and the classical link that carries its classical channel.
#[derive(Debug, Clone)]
pub struct SynthLink {
    pub ends: [usize; 2],
    pub length_km: f64,
    pub loss_db_per_km: f64,
    pub extra_loss_db: f64,
    pub skr_bps: f64,
    pub qber: f64,
    pub bandwidth_bps: f64,
    pub latency_ms: f64,
}

/// A generated network: its graph (for choosing feasible intents) and its inventory text.
#[derive(Debug, Clone)]
pub struct Network {
    pub nodes: Vec<SynthNode>,
    pub links: Vec<SynthLink>,
    /// Per node, its neighbours over trusted nodes only (untrusted nodes have none).
    trusted_adj: Vec<Vec<usize>>,
    pub yaml: String,
}

impl Network {
    /// A network of `nodes` nodes (at least [`MIN_NODES`]) drawn from `seed`.
    pub fn generate(nodes: usize, seed: u64) -> Network {
        let n = nodes.max(MIN_NODES);
        let mut rng = Rng::new(seed ^ 0x5EED_0000_0000_0001);
        // Density: the nearest neighbour is ~15 km away, the fourth ~30 km.
        let side = 25.0 * (n as f64).sqrt();
        let width = n.to_string().len().max(3);
        let untrusted = (n / 20).max(2);
        let mut carrier = BTreeSet::new();
        while carrier.len() < untrusted {
            carrier.insert(rng.below(n));
        }
        let mut list: Vec<SynthNode> = (0..n)
            .map(|i| {
                let (x_km, y_km) = (rng.range(0.0, side), rng.range(0.0, side));
                let is_carrier = carrier.contains(&i);
                let relay = is_carrier || rng.chance(0.2);
                SynthNode {
                    name: format!("n{i:0width$}"),
                    domain: if is_carrier {
                        None
                    } else {
                        Some(usize::from(x_km >= side / 2.0))
                    },
                    role: if relay {
                        SynthRole::TrustedRelay
                    } else {
                        SynthRole::Endpoint
                    },
                    x_km,
                    y_km,
                }
            })
            .collect();
        // Intents need trusted endpoints: make sure there are a few.
        let mut i = 0;
        while list
            .iter()
            .filter(|s| s.trusted() && s.role == SynthRole::Endpoint)
            .count()
            < 4
        {
            if list[i].trusted() {
                list[i].role = SynthRole::Endpoint;
            }
            i += 1;
        }

        let dist = |a: &SynthNode, b: &SynthNode| {
            ((a.x_km - b.x_km).powi(2) + (a.y_km - b.y_km).powi(2)).sqrt()
        };
        let mut edges: BTreeSet<(usize, usize)> = BTreeSet::new();
        for (a, na) in list.iter().enumerate() {
            let degree = 2 + rng.below(3);
            let mut near: Vec<(f64, usize)> = list
                .iter()
                .enumerate()
                .filter(|&(b, _)| b != a)
                .map(|(b, nb)| (dist(na, nb), b))
                .collect();
            near.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
            for &(_, b) in near.iter().take(degree) {
                edges.insert((a.min(b), a.max(b)));
            }
        }
        // Join the trusted part into one piece: repeatedly link the component of the first
        // trusted node to the nearest trusted node outside it.
        loop {
            let comp = components(&list, &edges);
            let first = (0..n).find(|&i| list[i].trusted()).unwrap_or(0);
            let root = comp[first];
            if (0..n).all(|i| !list[i].trusted() || comp[i] == root) {
                break;
            }
            let mut best: Option<(f64, usize, usize)> = None;
            for a in (0..n).filter(|&i| list[i].trusted() && comp[i] == root) {
                for b in (0..n).filter(|&i| list[i].trusted() && comp[i] != root) {
                    let d = dist(&list[a], &list[b]);
                    if best.is_none_or(|(bd, _, _)| d < bd) {
                        best = Some((d, a, b));
                    }
                }
            }
            if let Some((_, a, b)) = best {
                edges.insert((a.min(b), a.max(b)));
            }
        }

        let links: Vec<SynthLink> = edges
            .iter()
            .map(|&(a, b)| {
                let length_km = round_to((1.3 * dist(&list[a], &list[b])).clamp(5.0, 60.0), 1);
                // Longer spans: less key (1 Mbit/s at 5 km down to 20 kbit/s at 60 km) and
                // more errors (1 % to 5 %).
                let reach = (length_km - 5.0) / 55.0;
                let skr = (1e6 * 0.02f64.powf(reach) * rng.range(0.8, 1.0)).max(20e3);
                let qber = (0.01 + 0.04 * reach * rng.range(0.7, 1.0) + rng.range(0.0, 0.004))
                    .clamp(0.01, 0.05);
                SynthLink {
                    ends: [a, b],
                    length_km,
                    loss_db_per_km: round_to(rng.range(0.2, 0.35), 3),
                    extra_loss_db: round_to(rng.range(0.5, 3.0), 1),
                    skr_bps: skr.round(),
                    qber: round_to(qber, 4),
                    bandwidth_bps: if rng.chance(0.2) { 1e10 } else { 1e9 },
                    latency_ms: round_to(0.005 * length_km + 0.02, 3),
                }
            })
            .collect();
        let mut trusted_adj = vec![Vec::new(); n];
        for l in &links {
            let [a, b] = l.ends;
            if list[a].trusted() && list[b].trusted() {
                trusted_adj[a].push(b);
                trusted_adj[b].push(a);
            }
        }
        let yaml = inventory_yaml(&list, &links, n, seed);
        Network {
            nodes: list,
            links,
            trusted_adj,
            yaml,
        }
    }

    /// Trusted endpoints: the nodes intents may join.
    pub fn endpoints(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].trusted() && self.nodes[i].role == SynthRole::Endpoint)
            .collect()
    }

    /// Fewest hops from `a` to `b` over trusted nodes.
    pub fn trusted_hops(&self, a: usize, b: usize) -> Option<usize> {
        let mut dist = vec![usize::MAX; self.nodes.len()];
        dist[a] = 0;
        let mut queue = VecDeque::from([a]);
        while let Some(u) = queue.pop_front() {
            if u == b {
                return Some(dist[u]);
            }
            for &v in &self.trusted_adj[u] {
                if dist[v] == usize::MAX {
                    dist[v] = dist[u] + 1;
                    queue.push_back(v);
                }
            }
        }
        None
    }

    /// Number (up to `want`) of paths from `a` to `b` over trusted nodes that share no link
    /// and no intermediate node (max flow with every intermediate node split in two).
    pub fn trusted_disjoint_paths(&self, a: usize, b: usize, want: usize) -> usize {
        let n = self.nodes.len();
        // Residual graph: node v is in = 2v, out = 2v + 1.
        let mut head: Vec<Vec<usize>> = vec![Vec::new(); 2 * n];
        let mut to: Vec<usize> = Vec::new();
        let mut cap: Vec<usize> = Vec::new();
        let mut add = |u: usize, v: usize, c: usize, head: &mut Vec<Vec<usize>>| {
            head[u].push(to.len());
            to.push(v);
            cap.push(c);
            head[v].push(to.len());
            to.push(u);
            cap.push(0);
        };
        for v in 0..n {
            let through = if v == a || v == b { want } else { 1 };
            add(2 * v, 2 * v + 1, through, &mut head);
        }
        for (u, vs) in self.trusted_adj.iter().enumerate() {
            for &v in vs {
                add(2 * u + 1, 2 * v, 1, &mut head);
            }
        }
        let (src, dst) = (2 * a, 2 * b + 1);
        let mut flow = 0;
        while flow < want {
            let mut via = vec![usize::MAX; 2 * n];
            let mut seen = vec![false; 2 * n];
            seen[src] = true;
            let mut queue = VecDeque::from([src]);
            while let Some(u) = queue.pop_front() {
                for &e in &head[u] {
                    let v = to[e];
                    if !seen[v] && cap[e] > 0 {
                        seen[v] = true;
                        via[v] = e;
                        queue.push_back(v);
                    }
                }
            }
            if !seen[dst] {
                break;
            }
            let mut v = dst;
            while v != src {
                let e = via[v];
                cap[e] -= 1;
                cap[e ^ 1] += 1;
                v = to[e ^ 1];
            }
            flow += 1;
        }
        flow
    }

    /// An intent file with `count` key intents drawn from `seed`, using the inventory at
    /// `network_path` (as written in `use network`, relative to the intent file).
    pub fn intents(&self, count: usize, seed: u64, network_path: &str) -> String {
        let mut rng = Rng::new(seed ^ 0x1A7E_0000_0000_0002);
        let ends = self.endpoints();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Synthetic intents: {count} key intents over {} nodes (seed {seed}), from strata_compiler::synth.",
            self.nodes.len()
        );
        let _ = writeln!(out, "use network \"{network_path}\"\n");
        let _ = writeln!(
            out,
            "policy sovereignty {{\n    applies to all\n    never via domain {UNTRUSTED_DOMAIN}\n}}\n"
        );
        let width = count.to_string().len().max(3);
        for k in 0..count {
            let wants_disjoint = rng.chance(0.05);
            let wants_hops = rng.chance(0.10);
            let (mut a, mut b) = pick_pair(&mut rng, &ends);
            let mut disjoint = false;
            if wants_disjoint {
                for _ in 0..20 {
                    if self.trusted_disjoint_paths(a, b, 2) >= 2 {
                        disjoint = true;
                        break;
                    }
                    (a, b) = pick_pair(&mut rng, &ends);
                }
            }
            let max_hops = if wants_hops {
                self.trusted_hops(a, b).map(|h| h + rng.below(3))
            } else {
                None
            };
            let rate = 1 + rng.below(50);
            let priority = rng.below(4);
            let (ea, eb) = (
                self.endpoint_text(&mut rng, a),
                self.endpoint_text(&mut rng, b),
            );
            let _ = writeln!(out, "intent key-{k:0width$} {{");
            let _ = writeln!(out, "    keys of 256 bits");
            let _ = writeln!(out, "    between {ea} and {eb}");
            let _ = writeln!(out, "    rate >= {rate}/s");
            let _ = writeln!(out, "    priority {priority}");
            if let Some(h) = max_hops {
                let _ = writeln!(out, "    max hops {h}");
            }
            if disjoint {
                let _ = writeln!(out, "    disjoint paths 2");
            }
            let _ = writeln!(out, "}}\n");
        }
        out
    }

    /// How an intent names endpoint node `i`: mostly the node, sometimes its application by
    /// name, sometimes by URN with a session nonce.
    fn endpoint_text(&self, rng: &mut Rng, i: usize) -> String {
        let node = &self.nodes[i].name;
        let roll = rng.unit();
        if roll < 0.7 {
            node.clone()
        } else if roll < 0.9 {
            format!("app-{node}")
        } else {
            format!("urn:qkd:synth:{node}?=nonce={}", rng.below(1_000_000))
        }
    }
}

/// A network and an intent file for it, ready for the front end.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub network: Network,
    pub intents: String,
}

impl Scenario {
    /// `nodes` nodes and `intents` key intents, both drawn from `seed`.
    pub fn generate(nodes: usize, intents: usize, seed: u64) -> Scenario {
        let network = Network::generate(nodes, seed);
        let intents = network.intents(intents, seed, "network.yaml");
        Scenario { network, intents }
    }

    /// A loader serving the inventory at [`NETWORK_PATH`] and the intents at
    /// [`INTENTS_PATH`].
    pub fn loader(&self) -> MemoryLoader {
        let mut loader = MemoryLoader::default();
        loader.insert(NETWORK_PATH, self.network.yaml.clone());
        loader.insert(INTENTS_PATH, self.intents.clone());
        loader
    }

    /// Parses and checks the scenario through [`frontend::run`].
    pub fn frontend(&self) -> Frontend {
        run_frontend(&self.loader())
    }
}

/// Runs the front end over the intent file at [`INTENTS_PATH`] served by `loader`.
pub fn run_frontend(loader: &MemoryLoader) -> Frontend {
    frontend::run(
        &[PathBuf::from(INTENTS_PATH)],
        &frontend::Options::default(),
        loader,
    )
}

/// Source texts held in memory, keyed by path.
#[derive(Debug, Clone, Default)]
pub struct MemoryLoader {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemoryLoader {
    pub fn insert(&mut self, path: impl Into<PathBuf>, text: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), text.into());
    }
}

impl SourceLoader for MemoryLoader {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.files.get(path).cloned().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} is not in memory", path.display()),
            )
        })
    }
}

fn pick_pair(rng: &mut Rng, ends: &[usize]) -> (usize, usize) {
    let a = ends[rng.below(ends.len())];
    loop {
        let b = ends[rng.below(ends.len())];
        if b != a {
            return (a, b);
        }
    }
}

/// Component label of every node over the links whose two ends are trusted; untrusted
/// nodes are each their own component.
fn components(nodes: &[SynthNode], edges: &BTreeSet<(usize, usize)>) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    fn find(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for &(a, b) in edges {
        if nodes[a].trusted() && nodes[b].trusted() {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    (0..nodes.len()).map(|i| find(&mut parent, i)).collect()
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// Formats a number for YAML: whole numbers without a decimal point, others as Rust prints them.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn link_name(prefix: &str, nodes: &[SynthNode], l: &SynthLink) -> String {
    format!(
        "{prefix}-{}-{}",
        nodes[l.ends[0]].name, nodes[l.ends[1]].name
    )
}

fn inventory_yaml(nodes: &[SynthNode], links: &[SynthLink], n: usize, seed: u64) -> String {
    let mut y = String::with_capacity(400 * links.len() + 100 * n);
    let _ = writeln!(
        y,
        "# Synthetic QKD network: {n} nodes, {} links (seed {seed}), from strata_compiler::synth.",
        links.len()
    );
    let _ = writeln!(y, "name: synth-{n}-{seed}\n");
    y.push_str("domains:\n");
    for (d, who) in TRUSTED_DOMAINS
        .iter()
        .zip(["Western operator", "Eastern operator"])
    {
        let _ = writeln!(y, "  - {{ name: {d}, operator: {who}, trust: trusted }}");
    }
    let _ = writeln!(
        y,
        "  - {{ name: {UNTRUSTED_DOMAIN}, operator: Interconnection carrier, trust: untrusted }}\n"
    );
    y.push_str("nodes:\n");
    for s in nodes {
        let role = match s.role {
            SynthRole::Endpoint => "endpoint",
            SynthRole::TrustedRelay => "trusted-relay",
        };
        let _ = writeln!(
            y,
            "  - {{ name: {}, domain: {}, role: {role} }}",
            s.name,
            s.domain_name()
        );
    }
    y.push_str("\napplications:\n");
    for s in nodes.iter().filter(|s| s.role == SynthRole::Endpoint) {
        let _ = writeln!(
            y,
            "  - {{ name: app-{0}, urn: \"urn:qkd:synth:{0}\", node: {0} }}",
            s.name
        );
    }
    y.push_str("\nqkd_links:\n");
    for l in links {
        let c = link_name("c", nodes, l);
        let _ = writeln!(y, "  - name: {}", link_name("q", nodes, l));
        let _ = writeln!(
            y,
            "    ends: [{}, {}]",
            nodes[l.ends[0]].name, nodes[l.ends[1]].name
        );
        let _ = writeln!(y, "    length_km: {}", num(l.length_km));
        let _ = writeln!(y, "    loss_db_per_km: {}", num(l.loss_db_per_km));
        let _ = writeln!(y, "    extra_loss_db: {}", num(l.extra_loss_db));
        let _ = writeln!(y, "    skr_bps: {}", num(l.skr_bps));
        let _ = writeln!(y, "    qber: {}", num(l.qber));
        let _ = writeln!(y, "    classical_path: [{c}]");
    }
    y.push_str("\nclassical_links:\n");
    for l in links {
        let _ = writeln!(
            y,
            "  - {{ name: {}, ends: [{}, {}], bandwidth_bps: {}, latency_ms: {} }}",
            link_name("c", nodes, l),
            nodes[l.ends[0]].name,
            nodes[l.ends[1]].name,
            num(l.bandwidth_bps),
            num(l.latency_ms)
        );
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Role;

    #[test]
    fn thirty_nodes_fifty_intents_check_clean() {
        let s = Scenario::generate(30, 50, 7);
        let fe = s.frontend();
        assert!(
            !fe.has_errors(),
            "synthetic input has errors: {:#?}",
            fe.diagnostics
        );
        assert!(
            fe.diagnostics.is_empty(),
            "synthetic input has warnings: {:#?}",
            fe.diagnostics
        );
        assert_eq!(fe.networks.len(), 1);
        let net = &fe.networks[0];
        let inv = net.inventory.as_ref().expect("inventory loads");
        assert_eq!(inv.nodes.len(), 30);
        assert_eq!(inv.domains.len(), 3);
        assert_eq!(
            net.program.intents.len(),
            50,
            "every intent survives the checks"
        );
        // Every QKD link has its own classical link as its classical path.
        assert_eq!(inv.qkd_links.len(), inv.classical_links.len());
        for l in &inv.qkd_links {
            assert!(
                (5.0..=60.0).contains(&l.length_km),
                "length {}",
                l.length_km
            );
            assert!((0.2..=0.35).contains(&l.loss_db_per_km));
            assert!((0.01..=0.05).contains(&l.qber.value));
            assert_eq!(l.classical_path.len(), 1);
        }
        // Each node joins at least two neighbours.
        let mut degree = vec![0; inv.nodes.len()];
        for l in &s.network.links {
            degree[l.ends[0]] += 1;
            degree[l.ends[1]] += 1;
        }
        assert!(degree.iter().all(|&d| d >= 2), "{degree:?}");
        let relays = inv
            .nodes
            .iter()
            .filter(|n| n.role.value == Role::TrustedRelay)
            .count();
        assert!((2..=15).contains(&relays), "{relays} relays");
        let intents = &net.program.intents;
        assert!(
            intents
                .iter()
                .all(|i| i.constraints.avoid_domains.contains(UNTRUSTED_DOMAIN))
        );
        assert!(
            intents
                .iter()
                .all(|i| (1.0..=50.0).contains(&i.min_rate) && (0..=3).contains(&i.priority))
        );
    }

    #[test]
    fn larger_networks_check_clean_and_use_every_clause() {
        let s = Scenario::generate(200, 400, 11);
        let fe = s.frontend();
        assert!(!fe.has_errors(), "{:#?}", fe.diagnostics);
        let intents = &fe.networks[0].program.intents;
        assert_eq!(intents.len(), 400);
        assert!(intents.iter().any(|i| i.constraints.max_hops.is_some()));
        assert!(intents.iter().any(|i| i.constraints.disjoint_paths == 2));
        assert!(
            intents
                .iter()
                .any(|i| i.endpoints.iter().any(|e| e.urn.is_some()))
        );
    }

    #[test]
    fn same_seed_same_text() {
        let (a, b) = (Scenario::generate(50, 20, 3), Scenario::generate(50, 20, 3));
        assert_eq!(a.network.yaml, b.network.yaml);
        assert_eq!(a.intents, b.intents);
        assert_ne!(a.network.yaml, Scenario::generate(50, 20, 4).network.yaml);
    }

    #[test]
    fn disjoint_paths_counts_a_ring_and_a_line() {
        // Trusted ring of 8 nodes: two disjoint paths between any two; cut one link and
        // only one remains.
        let mut net = Network::generate(8, 1);
        for s in &mut net.nodes {
            s.domain = Some(0);
        }
        let ring: Vec<Vec<usize>> = (0..8).map(|i| vec![(i + 7) % 8, (i + 1) % 8]).collect();
        net.trusted_adj = ring;
        assert_eq!(net.trusted_disjoint_paths(0, 4, 2), 2);
        assert_eq!(net.trusted_hops(0, 4), Some(4));
        net.trusted_adj[2].retain(|&v| v != 3);
        net.trusted_adj[3].retain(|&v| v != 2);
        assert_eq!(net.trusted_disjoint_paths(0, 4, 2), 1);
        assert_eq!(net.trusted_hops(0, 4), Some(4));
        assert_eq!(net.trusted_hops(2, 3), Some(7));
    }
}
