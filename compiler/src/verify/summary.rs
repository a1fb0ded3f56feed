//! The summary against the forwarding tables: every intent's admission, admitted rate and
//! paths as the summary states them, compared with what the tables say.

use super::codes;
use super::flows::{Flow, covered, path_fidelity};
use super::model::Model;
use super::report::{Out, close};
use crate::check::{CheckedIntent, Service};
use crate::config::{Admission, SCHEMA, Summary, UnitKind};
use std::collections::{BTreeMap, BTreeSet};

pub(super) fn check_summary(
    model: &Model,
    intents: &BTreeMap<&str, &CheckedIntent>,
    summary: &Summary,
    flows: &BTreeMap<String, Vec<Flow>>,
    v: &mut Out,
) {
    if summary.schema != SCHEMA {
        v.push(
            codes::SUMMARY,
            None,
            "summary",
            format!("schema `{}`, expected `{SCHEMA}`", summary.schema),
        );
    }
    if summary.network != model.inv.name {
        v.push(
            codes::SUMMARY,
            None,
            "summary",
            format!(
                "network `{}`, but the intents use `{}`",
                summary.network, model.inv.name
            ),
        );
    }
    let count = |a: Admission| summary.intents.iter().filter(|s| s.admission == a).count();
    let counts = (
        count(Admission::Met),
        count(Admission::Partial),
        count(Admission::Rejected),
    );
    if counts != (summary.admitted, summary.partial, summary.rejected) {
        v.push(
            codes::SUMMARY,
            None,
            "summary",
            format!(
                "counts {} met / {} partial / {} rejected, but its intents say {} / {} / {}",
                summary.admitted, summary.partial, summary.rejected, counts.0, counts.1, counts.2
            ),
        );
    }
    let mut seen = BTreeSet::new();
    for s in &summary.intents {
        let obj = format!("intent `{}`", s.name);
        if !seen.insert(s.name.as_str()) {
            v.push(
                codes::SUMMARY,
                None,
                obj.clone(),
                "listed twice in the summary",
            );
        }
        let Some(intent) = intents.get(s.name.as_str()) else {
            v.push(
                codes::SUMMARY,
                None,
                obj,
                "in the summary but not among the intents",
            );
            continue;
        };
        let kind = match intent.service {
            Service::Keys { .. } => UnitKind::Keys,
            Service::Pairs => UnitKind::EntangledPairs,
        };
        let ends = [
            intent.endpoints[0].node.clone(),
            intent.endpoints[1].node.clone(),
        ];
        if s.kind != kind
            || s.endpoints != ends
            || s.priority != intent.priority
            || !close(s.requested_rate, intent.min_rate)
        {
            v.push(
                codes::SUMMARY,
                None,
                obj.clone(),
                format!(
                    "{:?} between {} and {} at priority {} for {}/s, but the intent asks {:?} between {} and {} at priority {} for {}/s",
                    s.kind, s.endpoints[0], s.endpoints[1], s.priority, s.requested_rate, kind, ends[0], ends[1], intent.priority, intent.min_rate
                ),
            );
        }
        // The summary's paths must be those of the forwarding tables.
        let list = flows.get(&s.name).map_or(&[][..], Vec::as_slice);
        let mut tables: Vec<&Flow> = list.iter().filter(|f| f.intact).collect();
        tables.sort_by(|a, b| (&a.nodes, &a.links).cmp(&(&b.nodes, &b.links)));
        let mut written: Vec<_> = s.paths.iter().collect();
        written.sort_by(|a, b| (&a.nodes, &a.links).cmp(&(&b.nodes, &b.links)));
        if list.iter().all(|f| f.intact) {
            let same = tables.len() == written.len()
                && tables.iter().zip(&written).all(|(t, w)| {
                    t.nodes == w.nodes && t.links == w.links && close(t.rate, w.rate)
                });
            if !same {
                let show = |p: &[String], r: f64| format!("{} at {r}/s", p.join("→"));
                v.push(
                    codes::SUMMARY,
                    None,
                    obj.clone(),
                    format!(
                        "the summary lists [{}], the forwarding tables hold [{}]",
                        written
                            .iter()
                            .map(|w| show(&w.nodes, w.rate))
                            .collect::<Vec<_>>()
                            .join(" | "),
                        tables
                            .iter()
                            .map(|t| show(&t.nodes, t.rate))
                            .collect::<Vec<_>>()
                            .join(" | ")
                    ),
                );
            } else {
                for (t, w) in tables.iter().zip(&written) {
                    let latency: f64 = t
                        .links
                        .iter()
                        .filter_map(|l| model.qlinks.get(l.as_str()))
                        .map(|q| q.latency_ms)
                        .sum();
                    let fidelity = path_fidelity(model, &t.links, t.pairs);
                    let rounds = t.pairs.map_or(0, |p| p.rounds);
                    if !close(w.latency_ms, latency)
                        || !close(w.fidelity, fidelity)
                        || w.purification_rounds.unwrap_or(0) != rounds
                    {
                        v.push(
                            codes::SUMMARY,
                            None,
                            obj.clone(),
                            format!(
                                "path {} claims fidelity {}, {} ms, {} purification round(s); recomputed {fidelity:.9}, {latency:.9} ms, {rounds}",
                                w.nodes.join("→"),
                                w.fidelity,
                                w.latency_ms,
                                w.purification_rounds.unwrap_or(0)
                            ),
                        );
                    }
                }
            }
        }
        let admitted = covered(intent, list);
        if !close(s.admitted_rate, admitted) {
            v.push(
                codes::ADMITTED_RATE,
                None,
                obj.clone(),
                format!(
                    "admitted {}/s in the summary, but its paths carry {admitted:.9}/s",
                    s.admitted_rate
                ),
            );
        }
    }
    for name in intents.keys() {
        if !seen.contains(name) {
            v.push(
                codes::SUMMARY,
                None,
                format!("intent `{name}`"),
                "missing from the summary",
            );
        }
    }
}
