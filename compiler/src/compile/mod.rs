//! From checked intents to configuration: candidate paths ([`paths`]), what they consume
//! ([`resources`]), the optimiser ([`optimise`]), the re-check of purified pair paths at
//! their allocated rates ([`storage`]), emission of per-node, per-stratum
//! documents ([`emit`]) and an explanation for every intent that is not fully met.

pub mod allowed;
pub mod columns;
pub mod disjoint;
pub mod emit;
pub mod optimise;
pub mod paths;
pub mod protect;
pub mod repair;
pub mod resources;
pub mod storage;
pub mod yen;

use crate::check::units::format_amount;
use crate::check::{CheckedIntent, Program, Service};
use crate::config::{Admission, ConfigSet, Summary};
use crate::inventory::Inventory;
use crate::topology::Topology;
use optimise::{Allocation, Demand};
use paths::{Blocked, PathOptions};
use resources::{Capacities, usage};
use std::collections::{BTreeMap, BTreeSet};
use strata_grammar::Diagnostic;

pub mod codes {
    pub const UNSATISFIABLE: &str = "strata::unsatisfiable";
    pub const PARTIALLY_MET: &str = "strata::partially-met";
    /// Pairs kept for their whole `valid for` decay below the intent's fidelity bound.
    pub const LIFETIME_DECOHERENCE: &str = "strata::lifetime-decoherence";
}

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

/// Why an intent is not fully met.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    pub admission: Admission,
    pub message: String,
    pub help: String,
}

/// What is left of every resource once everything allocated is reserved.
pub(crate) fn residual(topo: &Topology, demands: &[Demand], alloc: &Allocation) -> Capacities {
    let mut left = Capacities::new(topo);
    let shape = left.clone();
    for (d, rates) in demands.iter().zip(&alloc.path_rates) {
        for (p, r) in rates.iter().enumerate() {
            for (res, coef) in usage(topo, &shape, d.intent.service, &d.paths[p]) {
                left.cap[res.0] -= r * coef;
            }
        }
    }
    left
}

fn explain(
    topo: &Topology,
    demands: &[Demand],
    alloc: &Allocation,
    blocked: &[Option<Blocked>],
) -> Vec<Option<Shortfall>> {
    let left = residual(topo, demands, alloc);
    demands
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let admitted = alloc.admitted[i];
            if let Some(b) = &blocked[i] {
                return Some(Shortfall { admission: Admission::Rejected, message: b.describe(), help: b.fix().to_string() });
            }
            if admitted >= d.rate * (1.0 - 1e-6) {
                return None;
            }
            let path = &d.paths[0];
            let bottleneck = usage(topo, &left, d.intent.service, path)
                .into_iter()
                .min_by(|a, b| (left.cap[a.0.0] / a.1).total_cmp(&(left.cap[b.0.0] / b.1)));
            let missing = d.rate - admitted;
            let what = match bottleneck {
                Some((res, coef)) => {
                    let (name, unit) = resource_name(topo, &left, res, d.intent.service);
                    format!(
                        "{name} is the bottleneck: {} left after higher-priority and earlier intents, {} more needed",
                        format_amount(left.cap[res.0].max(0.0), unit),
                        format_amount(missing * coef, unit)
                    )
                }
                None => "no capacity is left on its allowed paths".to_string(),
            };
            let admission = if admitted > 0.0 { Admission::Partial } else { Admission::Rejected };
            Some(Shortfall {
                admission,
                message: format!(
                    "{} of {} admitted; {what}",
                    format_amount(admitted, "/s"),
                    format_amount(d.rate, "/s")
                ),
                help: "raise the intent's priority, lower its rate, or add capacity on the bottleneck".into(),
            })
        })
        .collect()
}

fn resource_name(
    topo: &Topology,
    caps: &Capacities,
    res: resources::Resource,
    service: Service,
) -> (String, &'static str) {
    for (l, link) in topo.qlinks.iter().enumerate() {
        if caps.qlink(l) == res {
            let unit = match service {
                Service::Keys { .. } => "bit/s of key",
                Service::Pairs => "elementary pairs/s",
            };
            return (format!("quantum link `{}`", link.name), unit);
        }
    }
    for (c, link) in topo.clinks.iter().enumerate() {
        if caps.clink(c) == res {
            return (format!("classical link `{}`", link.name), "bit/s");
        }
    }
    for (n, node) in topo.nodes.iter().enumerate() {
        if caps.memory(n) == res {
            return (format!("the memory of `{}`", node.name), "qubits");
        }
    }
    ("an unknown resource".into(), "")
}

fn diagnostic(intent: &CheckedIntent, s: &Shortfall) -> Diagnostic {
    let (code, lead) = match s.admission {
        Admission::Partial => (codes::PARTIALLY_MET, "is only partly met"),
        _ => (codes::UNSATISFIABLE, "cannot be met"),
    };
    Diagnostic::warning(
        code,
        intent.name_span,
        format!("intent `{}` {lead}: {}", intent.name, s.message),
    )
    .label(match s.admission {
        Admission::Partial => "partly met",
        _ => "not met",
    })
    .help(s.help.clone())
}

/// A pair kept in an endpoint's memory for its whole lifetime decays (DESIGN §5:
/// F(t) = 1/4 + (F0 − 1/4)·e^(−t/T)); warns when it falls below the intent's bound before
/// it expires, with the longest lifetime that keeps it.
fn lifetime_warning(
    topo: &Topology,
    intent: &CheckedIntent,
    delivered: Option<f64>,
) -> Option<Diagnostic> {
    let (Service::Pairs, Some(life), Some(bound), Some(f0)) = (
        intent.service,
        intent.lifetime_s,
        intent.min_fidelity,
        delivered,
    ) else {
        return None;
    };
    let (node, t) = intent
        .endpoints
        .iter()
        .filter_map(|e| {
            let n = topo.index.get(&e.node)?;
            Some((&e.node, topo.nodes[*n].coherence_time_s?))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let at_expiry = crate::physics::decohered_fidelity(f0, life, t);
    if at_expiry >= bound {
        return None;
    }
    let longest = if f0 > bound && bound > 0.25 {
        t * ((f0 - 0.25) / (bound - 0.25)).ln()
    } else {
        0.0
    };
    Some(
        Diagnostic::warning(
            codes::LIFETIME_DECOHERENCE,
            intent.name_span,
            format!(
                "pairs of `{}` kept for their whole lifetime of {} s decay to fidelity {} in the memory of `{node}` (coherence time {} s), below the {} asked for",
                intent.name,
                round3(life),
                round3(at_expiry),
                round3(t),
                round3(bound)
            ),
        )
        .label("decays before it expires")
        .help(format!(
            "shorten `valid for` to at most {} s (delivered at fidelity {}), or use a memory with a longer coherence time",
            significant3(longest),
            round3(f0)
        )),
    )
}

/// Three significant digits, for durations that may be milliseconds.
fn significant3(v: f64) -> String {
    if v <= 0.0 {
        return "0".into();
    }
    let decimals = (2 - v.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Rounds for messages: three significant decimals, no float noise.
pub fn round3(v: f64) -> f64 {
    // `+ 0.0` turns -0 into 0.
    (v * 1000.0).round() / 1000.0 + 0.0
}
