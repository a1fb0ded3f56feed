//! Column generation: new candidate paths priced from the duals of a class's LP.
//!
//! The optimiser starts from each intent's k shortest paths. Solving the LP over them gives
//! a price per resource (the dual of its capacity row, π ≥ 0) and per intent (the dual of its
//! coverage row, σ ≥ 0: what one more unit of admitted rate is worth). A path not yet in the
//! LP improves it exactly when its reduced cost is positive:
//!
//! ```text
//! σᵢ − Σ_resources consumption(path, resource)·π(resource) − HOP_COST·hops / requestedᵢ  >  0
//! ```
//!
//! with the consumption of one unit of rate that [`usage`] gives the LP. Every path a search
//! finds is built into a [`Candidate`] by
//! [`evaluate_path`](super::paths::evaluate_path) (the code that builds the k shortest
//! candidates), admitted by the intent's own bounds, and its reduced cost re-computed from
//! [`usage`] before it may join the LP ([`reduced_cost`]).
//!
//!
//! The search differs by service: `keys.rs` for key intents, `pairs.rs` for entangled
//! pairs; this file has what both share.
//!
//! **Caps.** Labels kept per (node, stage) and labels per pair search are capped; a search
//! that reaches a cap may miss a column (it never adds a bad one), and an intent whose search
//! reached a cap without finding one is counted as priced heuristically
//! ([`Priced::exact`]; the summary's `optimum.heuristic`), so the optimum is not reported as
//! proven.
//!
//! **`disjoint paths N`** intents keep their k shortest candidates (one set of N disjoint
//! paths); the summary counts them in `optimum.candidates_only`. Their column would be a set
//! of N disjoint paths (the cheapest under the duals: a min-cost flow of N units, node-split
//! for relay-disjointness, under the intent's rules), and several sets would then carry one
//! intent. That needs more than a pricer: the class LP a variable per set (its N paths each
//! carrying a 1/(N − 1) share, the coverage row over the sets), and everything downstream
//! that takes an intent's paths to be one disjoint set to know which set each path is in —
//! the summary's paths, the worst single failure in `covered` (optimiser and verifier: one
//! failed link can take a path from every set), the verifier's pairwise disjointness, the
//! storage re-check that drops the whole set, restoring protection (a replacement disjoint
//! from its own set's survivors), repair's survivors, `assess`, and the runtime monitor's
//! "path k of N" and protection state.

mod keys;
mod pairs;
#[cfg(test)]
mod tests;

use super::allowed::{AllowedGraph, Links, Signature};
use super::paths::{Candidate, PathOptions};
use super::resources::{Capacities, usage};
use crate::check::{CheckedIntent, Service};
use crate::topology::Topology;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What pricing one intent found.
#[derive(Debug, Clone)]
pub struct Priced {
    /// The allowed path with the largest positive reduced cost the search found, built and
    /// admitted as a candidate.
    pub path: Option<Candidate>,
    /// The search covered every allowed path (it reached no label cap): without a path, no
    /// allowed path has a positive reduced cost.
    pub exact: bool,
}

impl Priced {
    fn none() -> Priced {
        Priced {
            path: None,
            exact: true,
        }
    }
}

/// Reduced cost of `path` for an intent at the duals: σ less what one unit of rate on it
/// consumes ([`usage`], as the LP has it) at the prices `pi`, less the hop tie-break.
#[allow(clippy::too_many_arguments)]
pub fn reduced_cost(
    topo: &Topology,
    caps: &Capacities,
    service: Service,
    rate: f64,
    sigma: f64,
    pi: &[f64],
    hop_cost: f64,
    path: &Candidate,
) -> f64 {
    let consumed: f64 = usage(topo, caps, service, path)
        .iter()
        .map(|&(r, v)| v * pi[r.0])
        .sum();
    sigma - consumed - hop_cost * path.links.len() as f64 / rate
}

/// The allowed graphs of the intents being priced, built once per signature.
pub struct Pricer<'t, 'a> {
    topo: &'t Topology,
    options: PathOptions,
    graphs: BTreeMap<Signature<'a>, AllowedGraph>,
}

/// Can this intent get new columns at all? Key and pair intents can, unless they ask for
/// `disjoint paths N`.
pub fn priceable(intent: &CheckedIntent) -> bool {
    intent.constraints.disjoint_paths <= 1
}

impl<'t, 'a> Pricer<'t, 'a> {
    pub fn new(topo: &'t Topology, options: PathOptions) -> Pricer<'t, 'a> {
        Pricer {
            topo,
            options,
            graphs: BTreeMap::new(),
        }
    }

    /// Builds the allowed graph of every intent's signature not seen yet.
    pub fn prepare(&mut self, intents: impl IntoIterator<Item = &'a CheckedIntent>) {
        for intent in intents.into_iter().filter(|i| priceable(i)) {
            let sig = Signature::of(intent);
            if !self.graphs.contains_key(&sig) {
                let g = AllowedGraph::new(self.topo, &sig, Links::Usable);
                self.graphs.insert(sig, g);
            }
        }
    }

    /// The allowed path of `intent` with the largest positive reduced cost: `sigma` is the
    /// dual of its coverage row, `pi` the dual of every resource row (0 where there is no
    /// row), `caps` what is left of each resource (a link or memory with a resource at 0 is
    /// not offered). `rate` is the intent's requested rate.
    #[allow(clippy::too_many_arguments)]
    pub fn price(
        &self,
        intent: &CheckedIntent,
        rate: f64,
        sigma: f64,
        pi: &[f64],
        caps: &Capacities,
        tolerance: f64,
        hop_cost: f64,
    ) -> Priced {
        let topo = self.topo;
        let Some(g) = self.graphs.get(&Signature::of(intent)) else {
            return Priced::none();
        };
        let Some(stops) = stops(topo, intent) else {
            return Priced::none();
        };
        let prices = Prices {
            rate,
            sigma,
            pi,
            caps,
            tolerance,
            hop_cost,
        };
        match intent.service {
            Service::Keys { size_bits } => self.price_keys(intent, g, &stops, &prices, size_bits),
            Service::Pairs => self.price_pairs(intent, g, &stops, &prices),
        }
    }
}

/// The duals and limits one pair search prices with.
#[derive(Clone, Copy)]
struct Prices<'p> {
    rate: f64,
    sigma: f64,
    pi: &'p [f64],
    caps: &'p Capacities,
    tolerance: f64,
    hop_cost: f64,
}

/// Source, `via` nodes in order, destination.
fn stops(topo: &Topology, intent: &CheckedIntent) -> Option<Vec<usize>> {
    let mut stops = vec![*topo.index.get(&intent.endpoints[0].node)?];
    stops.extend(
        intent
            .constraints
            .via_nodes
            .iter()
            .filter_map(|v| topo.index.get(v).copied()),
    );
    stops.push(*topo.index.get(&intent.endpoints[1].node)?);
    Some(stops)
}

/// A path as its nodes and the links between them.
type NodesLinks = (Vec<usize>, Vec<usize>);

/// Heap entry: least weight first, then fewest hops, then label index (deterministic).
#[derive(PartialEq)]
struct Entry(f64, u32, usize);

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .0
            .total_cmp(&self.0)
            .then(other.1.cmp(&self.1))
            .then(other.2.cmp(&self.2))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Is `node` already on the path that ends in label `id`? `at` gives a label's node and
/// predecessor.
fn on_path_by(
    mut id: usize,
    node: usize,
    at: impl Fn(usize) -> (usize, Option<(usize, usize)>),
) -> bool {
    loop {
        let (n, pred) = at(id);
        if n == node {
            return true;
        }
        match pred {
            Some((p, _)) => id = p,
            None => return false,
        }
    }
}

/// The path that ends in label `id`, as (nodes, links).
fn unwind_by(mut id: usize, at: impl Fn(usize) -> (usize, Option<(usize, usize)>)) -> NodesLinks {
    let mut nodes = vec![at(id).0];
    let mut links = Vec::new();
    while let (_, Some((p, l))) = at(id) {
        links.push(l);
        nodes.push(at(p).0);
        id = p;
    }
    nodes.reverse();
    links.reverse();
    (nodes, links)
}
