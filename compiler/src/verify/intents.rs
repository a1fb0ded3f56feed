//! Per-intent bounds: for each admitted intent, its rate, policies (avoid, via, max hops,
//! trusted relays, relay roles, disjointness), fidelity and latency, re-checked on the rebuilt
//! paths.

use super::codes;
use super::flows::{Flow, covered};
use super::model::Model;
use super::report::{Out, TOL, path_obj, within};
use crate::check::{CheckedIntent, Service};
use crate::config::Admission;
use crate::inventory::Role;

pub(super) fn check_intent(
    model: &Model,
    intent: &CheckedIntent,
    admission: Option<Admission>,
    flows: &[Flow],
    v: &mut Out,
) {
    let obj = format!("intent `{}`", intent.name);
    let admitted = covered(intent, flows);
    let requested = intent.min_rate;
    match admission {
        Some(Admission::Rejected) | None => {
            if !flows.is_empty() {
                v.push(
                    codes::ADMISSION,
                    None,
                    obj.clone(),
                    "not admitted, yet forwarding entries carry it",
                );
            }
        }
        Some(Admission::Met) => {
            if admitted < requested * (1.0 - TOL) {
                v.push(
                    codes::ADMISSION,
                    None,
                    obj.clone(),
                    format!("marked met, but its paths carry {admitted:.9} of {requested}/s"),
                );
            }
        }
        Some(Admission::Partial) => {
            if admitted <= 0.0 || admitted >= requested * (1.0 - TOL) {
                v.push(
                    codes::ADMISSION,
                    None,
                    obj.clone(),
                    format!("marked partial, but its paths carry {admitted:.9} of {requested}/s"),
                );
            }
        }
    }
    if !within(admitted, requested) {
        v.push(
            codes::ADMITTED_RATE,
            None,
            obj.clone(),
            format!("its paths carry {admitted:.9}/s, more than the {requested}/s requested"),
        );
    }
    let c = &intent.constraints;
    for f in flows.iter().filter(|f| f.intact) {
        let pobj = path_obj(&intent.name, f.index);
        for n in &f.nodes {
            let domain = model
                .nodes
                .get(n.as_str())
                .map(|n| n.domain.value.as_str())
                .unwrap_or("");
            if c.avoid_nodes.contains(n) {
                v.push(
                    codes::AVOID,
                    None,
                    pobj.clone(),
                    format!("passes node `{n}`, which the intent avoids"),
                );
            }
            if c.avoid_domains.contains(domain) {
                v.push(
                    codes::AVOID,
                    None,
                    pobj.clone(),
                    format!("passes node `{n}` of domain `{domain}`, which the intent avoids"),
                );
            }
        }
        for l in &f.links {
            if c.avoid_links.contains(l) {
                v.push(
                    codes::AVOID,
                    None,
                    pobj.clone(),
                    format!("uses link `{l}`, which the intent avoids"),
                );
            }
        }
        let mut pos = 0;
        for via in &c.via_nodes {
            match f.nodes[pos..].iter().position(|n| n == via) {
                Some(i) => pos += i,
                None => {
                    v.push(
                        codes::VIA,
                        None,
                        pobj.clone(),
                        format!("does not pass `{via}` (in order of the intent's via nodes)"),
                    );
                    break;
                }
            }
        }
        if let Some(max) = c.max_hops
            && f.links.len() > max as usize
        {
            v.push(
                codes::MAX_HOPS,
                None,
                pobj.clone(),
                format!("{} hops, over the {max} allowed", f.links.len()),
            );
        }
        let inner = &f.nodes[1..f.nodes.len().saturating_sub(1).max(1)];
        for n in inner {
            let Some(node) = model.nodes.get(n.as_str()) else {
                continue;
            };
            let role = node.role.value;
            match intent.service {
                Service::Keys { .. } => {
                    if !matches!(role, Role::Endpoint | Role::TrustedRelay) {
                        v.push(
                            codes::RELAY_ROLE,
                            None,
                            pobj.clone(),
                            format!(
                                "relays keys through `{n}`, an {} that cannot relay keys",
                                role.describe()
                            ),
                        );
                    }
                    if c.trusted_relays_only
                        && !(role == Role::TrustedRelay && model.trusted_domain(n))
                    {
                        v.push(
                            codes::TRUSTED_RELAY,
                            None,
                            pobj.clone(),
                            format!("relays through `{n}` ({} in domain `{}`), but the intent relays via trusted nodes only", role.describe(), node.domain.value),
                        );
                    }
                }
                Service::Pairs => {
                    // Only repeaters swap; an endpoint's memory only stores its own pairs.
                    if role != Role::Repeater {
                        v.push(
                            codes::RELAY_ROLE,
                            None,
                            pobj.clone(),
                            format!(
                                "swaps entanglement at `{n}`, an {}: only repeaters swap",
                                role.describe()
                            ),
                        );
                    }
                }
            }
        }
        // Fidelity.
        if let Some(min) = intent.min_fidelity {
            match intent.service {
                Service::Keys { .. } => {
                    for l in &f.links {
                        if let Some(q) = model.qlinks.get(l.as_str())
                            && q.fidelity < min - 1e-12
                        {
                            v.push(
                                codes::FIDELITY,
                                None,
                                pobj.clone(),
                                format!(
                                    "link `{l}` has fidelity 1 − QBER = {:.6}, below the required {min}",
                                    q.fidelity
                                ),
                            );
                        }
                    }
                }
                Service::Pairs => {
                    let got = f.pairs.map_or(0.0, |p| p.fidelity);
                    if got < min - 1e-9 {
                        let raw = f.pairs.map_or(0.0, |p| p.raw_fidelity);
                        v.push(
                            codes::FIDELITY,
                            None,
                            pobj.clone(),
                            format!("delivers fidelity {got:.6} ({raw:.6} before purification), below the required {min}"),
                        );
                    }
                }
            }
        }
        if let Some(max_s) = intent.max_latency_s {
            let latency: f64 = f
                .links
                .iter()
                .filter_map(|l| model.qlinks.get(l.as_str()))
                .map(|q| q.latency_ms)
                .sum();
            if !within(latency, max_s * 1e3) {
                v.push(
                    codes::LATENCY,
                    None,
                    pobj.clone(),
                    format!(
                        "classical latency {latency:.6} ms, over the {} ms allowed",
                        max_s * 1e3
                    ),
                );
            }
        }
    }
    if c.disjoint_paths > 1 && !flows.is_empty() {
        let used: Vec<&Flow> = flows.iter().filter(|f| f.rate > 0.0).collect();
        if used.len() < c.disjoint_paths as usize {
            v.push(
                codes::DISJOINT,
                None,
                obj.clone(),
                format!(
                    "spread over {} path(s), but the intent asks for {} disjoint paths",
                    used.len(),
                    c.disjoint_paths
                ),
            );
        }
        for (i, a) in used.iter().enumerate() {
            for b in &used[i + 1..] {
                let shared_link = a.links.iter().find(|l| b.links.contains(l));
                let inner = |f: &Flow| {
                    f.nodes
                        .get(1..f.nodes.len().saturating_sub(1))
                        .unwrap_or(&[])
                        .to_vec()
                };
                let (ia, ib) = (inner(a), inner(b));
                let shared_node = ia.iter().find(|n| ib.contains(n));
                if let Some(l) = shared_link {
                    v.push(
                        codes::DISJOINT,
                        None,
                        obj.clone(),
                        format!("paths {} and {} share link `{l}`", a.index, b.index),
                    );
                }
                if let Some(n) = shared_node {
                    v.push(
                        codes::DISJOINT,
                        None,
                        obj.clone(),
                        format!("paths {} and {} share relay `{n}`", a.index, b.index),
                    );
                }
            }
        }
    }
}
