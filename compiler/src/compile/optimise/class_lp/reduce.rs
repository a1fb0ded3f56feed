//! The reductions of a class LP (see `mod.rs`): members that are identical as the LP sees
//! them become one entry, rows that cannot bind are left out, and entries that share no row
//! fall into separate parts.

use super::model::Part;
use super::{Class, Stage};
use crate::compile::optimise::demand::Demand;
use crate::compile::resources::{Capacities, Resource, usage};
use crate::topology::Topology;
use std::collections::BTreeMap;

/// One entry of a class LP: identical members sharing one coverage row, or one held intent.
pub(super) struct Entry<'d> {
    /// Its LP intents (class members in class order, then held intents).
    pub(super) who: Vec<usize>,
    /// Requested rate of each of `who`.
    pub(super) rates: Vec<f64>,
    /// Σ `rates`: the path variables are fractions of it.
    pub(super) total: f64,
    pub(super) role: Role,
    /// `disjoint paths N` (1 without).
    pub(super) disjoint: u32,
    pub(super) paths: Vec<PathUse<'d>>,
}

pub(super) enum Role {
    /// Class members. Throughput stage: each one's least fraction, a variable each.
    /// Max-min stage: one fraction for all, at least `floors[0]`, bounding the class's
    /// level when `rising`.
    Members { floors: Vec<f64>, rising: bool },
    /// A higher-class intent that may move, at exactly this fraction of its request.
    Held { fraction: f64 },
}

/// What a path of an entry uses per unit of service rate.
pub(super) struct PathUse<'d> {
    pub(super) hops: usize,
    pub(super) usage: &'d [(Resource, f64)],
}

/// A path as the grouping sees it: its links, and what it uses of each resource (exact
/// bits of the coefficient).
type PathKey = (Vec<usize>, Vec<(Resource, u64)>);

/// Members that are the same to the LP: the same disjointness, paths and use of every
/// resource, and (max-min stage) the same level.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    disjoint: u32,
    paths: Vec<PathKey>,
    level: Option<Option<u64>>,
}

/// The entries of a class LP, in the order of their first LP intent.
pub(super) fn entries<'d>(
    topo: &Topology,
    caps: &Capacities,
    demands: &'d [Demand],
    class: &Class,
    stage: Stage,
) -> Vec<Entry<'d>> {
    let uses = |d: &'d Demand| -> Vec<PathUse<'d>> {
        d.paths
            .iter()
            .map(|p| PathUse {
                hops: p.links.len(),
                usage: usage(topo, caps, d.intent.service, p),
            })
            .collect()
    };
    let mut entries: Vec<Entry<'d>> = Vec::new();
    let mut seen: BTreeMap<Key, usize> = BTreeMap::new();
    for (k, &i) in class.members.iter().enumerate() {
        let d = &demands[i];
        let paths = uses(d);
        let (floor, level) = match stage {
            Stage::Throughput(floors) => (floors[k], None),
            Stage::MaxMin(levels) => (levels[k].unwrap_or(0.0), Some(levels[k].map(f64::to_bits))),
        };
        let key = Key {
            disjoint: d.intent.constraints.disjoint_paths.max(1),
            paths: d
                .paths
                .iter()
                .zip(&paths)
                .map(|(p, u)| {
                    let coefs = u.usage.iter().map(|&(r, c)| (r, c.to_bits())).collect();
                    (p.links.clone(), coefs)
                })
                .collect(),
            level,
        };
        if let Some(&e) = seen.get(&key) {
            let entry = &mut entries[e];
            entry.who.push(k);
            entry.rates.push(d.rate);
            entry.total += d.rate;
            if let Role::Members { floors, .. } = &mut entry.role {
                floors.push(floor);
            }
            continue;
        }
        seen.insert(key, entries.len());
        entries.push(Entry {
            who: vec![k],
            rates: vec![d.rate],
            total: d.rate,
            role: Role::Members {
                floors: vec![floor],
                rising: matches!(level, Some(None)),
            },
            disjoint: d.intent.constraints.disjoint_paths.max(1),
            paths,
        });
    }
    let m = class.members.len();
    for (h, (&j, &l)) in class.held.iter().zip(class.levels).enumerate() {
        let d = &demands[j];
        entries.push(Entry {
            who: vec![m + h],
            rates: vec![d.rate],
            total: d.rate,
            // What it had reserved was given back, so its level is always feasible.
            role: Role::Held {
                fraction: (l / d.rate).min(1.0),
            },
            disjoint: d.intent.constraints.disjoint_paths.max(1),
            paths: uses(d),
        });
    }
    entries
}

/// The parts of a class LP: entries joined by the rows they share, each part with its rows.
/// Only rows that can bind are kept: a resource's row is left out when its load stays
/// within its capacity even with every entry at its most on its heaviest path there.
/// Entries with no row left are in no part (served in full).
pub(super) fn parts(caps: &Capacities, entries: &[Entry], max_min: bool) -> Vec<Part> {
    // The most each resource can be asked for, and per entry its own most (scratch, reset
    // after each entry through the resources it touched).
    let mut load = vec![0.0; caps.len()];
    let mut own = vec![0.0; caps.len()];
    let mut touched: Vec<usize> = Vec::new();
    for e in entries {
        let most = match e.role {
            Role::Held { fraction } => fraction,
            Role::Members { .. } => 1.0,
        } * e.total;
        for p in &e.paths {
            for &(Resource(r), coef) in p.usage {
                if own[r] == 0.0 {
                    touched.push(r);
                }
                if e.disjoint > 1 {
                    own[r] += coef * most / f64::from(e.disjoint - 1);
                } else {
                    own[r] = f64::max(own[r], coef * most);
                }
            }
        }
        for r in touched.drain(..) {
            load[r] += own[r];
            own[r] = 0.0;
        }
    }
    let binds = |r: usize| load[r] > caps.cap[r];
    // Union-find over entries through the rows they share.
    let mut parent: Vec<usize> = (0..entries.len()).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    // Per resource with a row: the first entry that uses it.
    let mut first: Vec<Option<usize>> = vec![None; caps.len()];
    let mut bound = vec![false; entries.len()];
    for (k, e) in entries.iter().enumerate() {
        for p in &e.paths {
            for &(Resource(r), _) in p.usage.iter().filter(|&&(Resource(r), _)| binds(r)) {
                bound[k] = true;
                let other = *first[r].get_or_insert(k);
                let (a, b) = (root(&mut parent, k), root(&mut parent, other));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
            }
        }
    }
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for k in (0..entries.len()).filter(|&k| bound[k]) {
        let r = root(&mut parent, k);
        members.entry(r).or_default().push(k);
    }
    let mut rows: BTreeMap<usize, Vec<Resource>> = BTreeMap::new();
    for (r, k) in first.iter().enumerate() {
        if let Some(k) = *k {
            rows.entry(root(&mut parent, k))
                .or_default()
                .push(Resource(r));
        }
    }
    members
        .into_iter()
        .map(|(r, entries)| Part::new(entries, rows.remove(&r).unwrap_or_default(), caps, max_min))
        .collect()
}
