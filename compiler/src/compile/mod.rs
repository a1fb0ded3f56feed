//! From checked intents to configuration: candidate paths ([`paths`]), what they consume
//! ([`resources`]), the optimiser ([`optimise`]), the re-check of purified pair paths at
//! their allocated rates ([`storage`]), emission of per-node, per-stratum
//! documents ([`emit`]) and an explanation for every intent that is not fully met
//! (`explain.rs`).

pub mod allowed;
pub mod columns;
pub mod disjoint;
pub mod emit;
mod explain;
pub mod optimise;
pub mod paths;
pub mod protect;
pub mod repair;
pub mod resources;
pub mod storage;
pub mod yen;

pub use explain::{Shortfall, codes, round3};

use crate::check::{CheckedIntent, Program};
use crate::config::{ConfigSet, Summary};
use crate::inventory::Inventory;
use crate::topology::Topology;
use explain::{diagnostic, explain, lifetime_warning};
use optimise::Demand;
use paths::{Blocked, PathOptions};
use std::collections::{BTreeMap, BTreeSet};
use strata_grammar::Diagnostic;

/// Tunables of a compile.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    pub paths: PathOptions,
    /// Intents to keep exactly where they are (a re-plan after drift moves only the
    /// intents the drift affects): intent name → its paths and rates.
    pub pinned: BTreeMap<String, Vec<PinnedPath>>,
    /// Pinned intents with `disjoint paths N` that lost some of their paths: intent name →
    /// the numbers of the pinned paths that are down. The surviving paths stay exactly as
    /// pinned; each lost path is replaced by one disjoint from the survivors over what still
    /// works ([`protect`]), or stays configured — it carries again as soon as the failed
    /// element returns — and the summary says why protection is lost.
    pub restore: BTreeMap<String, BTreeSet<usize>>,
    /// What each priority class maximises.
    pub objective: optimise::Objective,
}

/// One path of a pinned intent, as the summary lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct PinnedPath {
    /// The path's number within its intent (`PathSummary::path`).
    pub index: usize,
    pub links: Vec<String>,
    pub nodes: Vec<String>,
    pub rate: f64,
}

/// What a compile produced.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub configs: ConfigSet,
    pub summary: Summary,
    /// One per intent that is not fully met, at the intent's name.
    pub diagnostics: Vec<Diagnostic>,
}

/// Optimises a checked program over an inventory and emits its configuration.
pub fn compile(program: &Program, inv: &Inventory, options: &CompileOptions) -> Compiled {
    let (topo, _) = Topology::new(inv);
    let mut blocked: Vec<Option<Blocked>> = Vec::new();
    let mut fixed = optimise::Fixed::new();
    // Paths for every intent that is not pinned, at once: graphs and searches are shared
    // between intents with the same constraints, and the work runs in parallel (results
    // stay in intent order). A pinned intent whose paths no longer exist is searched alone.
    let searched: Vec<&CheckedIntent> = program
        .intents
        .iter()
        .filter(|i| !options.pinned.contains_key(&i.name))
        .collect();
    let subset: Vec<CheckedIntent> = if searched.len() == program.intents.len() {
        Vec::new()
    } else {
        searched.iter().map(|i| (*i).clone()).collect()
    };
    let all = if subset.is_empty() && !searched.is_empty() {
        &program.intents
    } else {
        &subset
    };
    let mut found = paths::candidates_all(&topo, all, &options.paths).into_iter();
    let no_loss = BTreeSet::new();
    let link_index: LinkIndex = topo
        .qlinks
        .iter()
        .enumerate()
        .map(|(i, q)| (q.name.as_str(), i))
        .collect();
    // Per pinned protected intent, the numbers of its paths that are down.
    let mut losses: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut demands: Vec<Demand> = program
        .intents
        .iter()
        .enumerate()
        .map(|(i, intent)| {
            let is_pinned = options.pinned.contains_key(&intent.name);
            let result = if is_pinned {
                None
            } else {
                Some(found.next().unwrap_or(Err(Blocked::NoCapacity)))
            };
            let mut lost = options
                .restore
                .get(&intent.name)
                .unwrap_or(&no_loss)
                .clone();
            if let Some(p) = options.pinned.get(&intent.name) {
                lost.extend(dead_protected_paths(&topo, &link_index, intent, p));
            }
            if let Some(pinned) = options
                .pinned
                .get(&intent.name)
                .and_then(|p| pin(&topo, &link_index, intent, p, &lost, &options.paths))
            {
                if !lost.is_empty() {
                    losses.insert(i, lost);
                }
                blocked.push(None);
                fixed.insert(i, pinned.iter().map(|(_, r)| *r).collect());
                let paths = pinned.into_iter().map(|(c, _)| c).collect();
                return Demand::new(intent, paths, intent.min_rate.max(f64::MIN_POSITIVE));
            }
            let result = result.unwrap_or_else(|| paths::candidates(&topo, intent, &options.paths));
            let paths = match result {
                Ok(p) => {
                    blocked.push(None);
                    p
                }
                Err(b) => {
                    blocked.push(Some(b));
                    Vec::new()
                }
            };
            Demand::new(intent, paths, intent.min_rate.max(f64::MIN_POSITIVE))
        })
        .collect();
    let optimise = |demands: &mut [Demand]| {
        optimise::optimise_with(&topo, demands, &fixed, options.objective, &options.paths)
    };
    let mut alloc = optimise(&mut demands);
    loop {
        let slow = storage::too_slow(&demands, &alloc, &fixed);
        if slow.is_empty() {
            break;
        }
        storage::drop_slow(&topo, &mut demands, &alloc, &mut blocked, &slow);
        alloc = optimise(&mut demands);
    }
    storage::settle(&topo, &mut demands, &alloc);
    let mut lost_protection = vec![None; demands.len()];
    for (&i, lost) in &losses {
        lost_protection[i] =
            protect::replace_lost(&topo, &mut demands, &alloc, i, lost, &options.paths);
    }
    let reasons = explain(&topo, &demands, &alloc, &blocked);
    let mut diagnostics: Vec<Diagnostic> = demands
        .iter()
        .zip(&reasons)
        .filter_map(|(d, r)| r.as_ref().map(|r| diagnostic(d.intent, r)))
        .collect();
    let (configs, mut summary) = emit::emit(&topo, &demands, &alloc, &reasons);
    for (s, lost) in summary.intents.iter_mut().zip(lost_protection) {
        s.protection_lost = lost;
    }
    for (intent, s) in program.intents.iter().zip(&summary.intents) {
        diagnostics.extend(lifetime_warning(&topo, intent, s.fidelity));
    }
    Compiled {
        configs,
        summary,
        diagnostics,
    }
}

/// Quantum link name → index in the topology.
type LinkIndex<'a> = BTreeMap<&'a str, usize>;

/// The pinned paths of an intent as candidates with their rates, numbered as pinned (a gap
/// is filled with a copy of another path at rate 0, which emits nothing), if every node and
/// link they use still exists and every link still delivers — except on the `lost` paths,
/// which keep their rate while down.
fn pin(
    topo: &Topology,
    link_index: &LinkIndex,
    intent: &CheckedIntent,
    pinned: &[PinnedPath],
    lost: &BTreeSet<usize>,
    options: &PathOptions,
) -> Option<Vec<(paths::Candidate, f64)>> {
    let found = pinned
        .iter()
        .map(|p| {
            let nodes = p
                .nodes
                .iter()
                .map(|n| topo.index.get(n).copied())
                .collect::<Option<Vec<_>>>()?;
            let links = p
                .links
                .iter()
                .map(|l| {
                    let q = *link_index.get(l.as_str())?;
                    (topo.qlinks[q].usable > 0.0 || lost.contains(&p.index)).then_some(q)
                })
                .collect::<Option<Vec<_>>>()?;
            Some((
                p.index,
                paths::evaluate_path(topo, intent, nodes, links, options),
                p.rate,
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    let slots = found.iter().map(|(i, _, _)| i + 1).max()?;
    let mut out: Vec<Option<(paths::Candidate, f64)>> = vec![None; slots];
    for (i, c, r) in found {
        out[i] = Some((c, r));
    }
    let filler = out.iter().flatten().next()?.0.clone();
    Some(
        out.into_iter()
            .map(|slot| slot.unwrap_or_else(|| (filler.clone(), 0.0)))
            .collect(),
    )
}

/// The pinned paths of a `disjoint paths N` intent that cross a link delivering nothing,
/// when at least one of its paths still works: those are lost, the others survive (a
/// re-plan that does not touch the intent must not tear it down).
fn dead_protected_paths(
    topo: &Topology,
    link_index: &LinkIndex,
    intent: &CheckedIntent,
    pinned: &[PinnedPath],
) -> BTreeSet<usize> {
    if intent.constraints.disjoint_paths <= 1 {
        return BTreeSet::new();
    }
    let works = |p: &PinnedPath| {
        p.links.iter().all(|l| {
            link_index
                .get(l.as_str())
                .is_some_and(|&q| topo.qlinks[q].usable > 0.0)
        })
    };
    let dead: BTreeSet<usize> = pinned
        .iter()
        .filter(|p| !works(p))
        .map(|p| p.index)
        .collect();
    if dead.len() < pinned.len() {
        dead
    } else {
        BTreeSet::new()
    }
}
