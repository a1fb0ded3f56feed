//! Why an intent is not fully met, in the operator's terms: the [`Shortfall`] of every
//! intent (the reason its paths were blocked, or the bottleneck resource once everything
//! allocated is reserved), the warnings a compile reports for them ([`codes`]), and the
//! warning for pairs that decay in memory before their `valid for` ends.

use super::optimise::{Allocation, Demand};
use super::paths::Blocked;
use super::resources::{self, Capacities, usage};
use crate::check::{CheckedIntent, Service};
use crate::config::Admission;
use crate::topology::Topology;
use crate::units::format_amount;
use strata_grammar::Diagnostic;

/// The codes of a compile's warnings.
pub mod codes {
    pub const UNSATISFIABLE: &str = "strata::unsatisfiable";
    pub const PARTIALLY_MET: &str = "strata::partially-met";
    /// Pairs kept for their whole `valid for` decay below the intent's fidelity bound.
    pub const LIFETIME_DECOHERENCE: &str = "strata::lifetime-decoherence";
}

/// Why an intent is not fully met.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    pub admission: Admission,
    pub message: String,
    pub help: String,
}

/// What is left of every resource once everything allocated is reserved.
pub(super) fn residual(topo: &Topology, demands: &[Demand], alloc: &Allocation) -> Capacities {
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

pub(super) fn explain(
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
                .iter()
                .min_by(|a, b| (left.cap[a.0.0] / a.1).total_cmp(&(left.cap[b.0.0] / b.1)));
            let missing = d.rate - admitted;
            let what = match bottleneck {
                Some(&(res, coef)) => {
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

pub(super) fn diagnostic(intent: &CheckedIntent, s: &Shortfall) -> Diagnostic {
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
pub(super) fn lifetime_warning(
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
