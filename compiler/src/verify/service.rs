//! The service stratum: service units at both ends of an intent, their ETSI GS QKD 015
//! agreement with the intent, session token buckets at the admitted rate, and stray units at
//! nodes that are no endpoint.

use super::codes;
use super::flows::{Flow, covered, path_fidelity};
use super::model::Model;
use super::report::{Out, TOL, close, unit_obj};
use super::urn::{UrnParts, parse_urn};
use crate::check::{CheckedIntent, Service};
use crate::config::{
    Admission, ConfigSet, EndRole, QkdApplication, ServiceUnit, Session, UnitKind,
};
use std::collections::{BTreeMap, BTreeSet};

/// The service documents looked up by name: every node's units and sessions by unit, and
/// its applications by client, built once so that checking N intents stays linear.
pub(super) struct ServiceIndex<'c> {
    nodes: BTreeSet<&'c str>,
    units: BTreeMap<(&'c str, &'c str), Vec<&'c ServiceUnit>>,
    sessions: BTreeMap<(&'c str, &'c str), Vec<&'c Session>>,
    apps: BTreeMap<(&'c str, &'c str), Vec<&'c QkdApplication>>,
}

impl<'c> ServiceIndex<'c> {
    pub(super) fn new(configs: &'c ConfigSet) -> ServiceIndex<'c> {
        let mut index = ServiceIndex {
            nodes: configs.nodes.keys().map(String::as_str).collect(),
            units: BTreeMap::new(),
            sessions: BTreeMap::new(),
            apps: BTreeMap::new(),
        };
        for (node, cfg) in &configs.nodes {
            let node = node.as_str();
            for u in &cfg.service.service_units {
                index.units.entry((node, &u.id)).or_default().push(u);
            }
            for s in &cfg.service.sessions {
                index
                    .sessions
                    .entry((node, &s.service_unit))
                    .or_default()
                    .push(s);
            }
            for a in &cfg.service.qkd_applications {
                let clients: BTreeSet<&str> = a.client_app_id.iter().map(String::as_str).collect();
                for c in clients {
                    index.apps.entry((node, c)).or_default().push(a);
                }
            }
        }
        index
    }

    /// The first application at `node` that registers `client` with the server `server`.
    fn app(&self, node: &str, client: &str, server: &str) -> Option<&'c QkdApplication> {
        self.apps
            .get(&(node, client))?
            .iter()
            .copied()
            .find(|a| a.server_app_id.iter().any(|s| s == server))
    }
}

pub(super) fn check_service(
    model: &Model,
    intent: &CheckedIntent,
    admission: Option<Admission>,
    flows: &[Flow],
    index: &ServiceIndex,
    v: &mut Out,
) {
    let admitted_status = matches!(admission, Some(Admission::Met | Admission::Partial));
    let obj = unit_obj(&intent.name);
    let admitted = covered(intent, flows);
    let (kind, key_size) = match intent.service {
        Service::Keys { size_bits } => (UnitKind::Keys, Some(size_bits)),
        Service::Pairs => (UnitKind::EntangledPairs, None),
    };
    // What the worst path delivers: end to end for pairs, the worst link for keys.
    let fidelity: Vec<f64> = flows
        .iter()
        .filter(|f| f.intact)
        .map(|f| path_fidelity(model, &f.links, f.pairs))
        .collect();
    let mut urns = Vec::new();
    for (end, role) in [(0usize, EndRole::Master), (1, EndRole::Slave)] {
        let node = intent.endpoints[end].node.as_str();
        let peer = intent.endpoints[1 - end].node.as_str();
        if !index.nodes.contains(node) {
            continue;
        }
        let key = (node, intent.name.as_str());
        let units: &[&ServiceUnit] = index.units.get(&key).map_or(&[], Vec::as_slice);
        let sess: &[&Session] = index.sessions.get(&key).map_or(&[], Vec::as_slice);
        if !admitted_status {
            if !units.is_empty() || !sess.is_empty() {
                v.push(
                    codes::SERVICE_UNIT,
                    Some(node),
                    obj.clone(),
                    "service unit or session of an intent that was not admitted",
                );
            }
            continue;
        }
        let [u] = units else {
            v.push(
                codes::SERVICE_UNIT,
                Some(node),
                obj.clone(),
                format!(
                    "{} service unit entries at this endpoint, expected one",
                    units.len()
                ),
            );
            continue;
        };
        if u.role != role
            || u.peer != peer
            || u.kind != kind
            || u.key_size != key_size
            || !close(u.rate, admitted)
        {
            v.push(
                codes::SERVICE_UNIT,
                Some(node),
                obj.clone(),
                format!(
                    "{:?} {:?} with peer `{}`, key size {:?}, {}/s; expected {role:?} {kind:?} with peer `{peer}`, key size {key_size:?}, {admitted:.9}/s",
                    u.role, u.kind, u.peer, u.key_size, u.rate
                ),
            );
        }
        let worst = fidelity.iter().copied().fold(1.0, f64::min);
        if !fidelity.is_empty() && u.fidelity > worst + TOL {
            v.push(
                codes::SERVICE_UNIT,
                Some(node),
                obj.clone(),
                format!(
                    "advertises fidelity {}, but its worst path delivers {worst:.9}",
                    u.fidelity
                ),
            );
        }
        for (what, urn) in [
            ("local", &u.urns.local),
            ("remote", &u.urns.remote),
            ("lifecycle", &u.urns.lifecycle),
        ] {
            match parse_urn(urn) {
                Err(e) => v.push(
                    codes::URN,
                    Some(node),
                    obj.clone(),
                    format!("{what} URN `{urn}` is not RFC 8141: {e}"),
                ),
                Ok(p) if p.q.is_none_or(str::is_empty) => v.push(
                    codes::URN,
                    Some(node),
                    obj.clone(),
                    format!("{what} URN `{urn}` has no `?=` q-component"),
                ),
                Ok(_) => {}
            }
        }
        if let Ok(UrnParts {
            nss, q: Some(q), ..
        }) = parse_urn(&u.urns.lifecycle)
        {
            let params: BTreeMap<&str, &str> =
                q.split('&').filter_map(|kv| kv.split_once('=')).collect();
            let ok = nss == "lifecycle"
                && match key_size {
                    Some(bits) => params.get("size") == Some(&bits.to_string().as_str()),
                    None => params.contains_key("count") && params.contains_key("fidelity"),
                };
            if !ok {
                v.push(
                    codes::URN,
                    Some(node),
                    obj.clone(),
                    format!(
                        "lifecycle URN `{}` does not state the unit's {}",
                        u.urns.lifecycle,
                        if key_size.is_some() {
                            "key size"
                        } else {
                            "pair count and fidelity"
                        }
                    ),
                );
            }
        }
        if let Some(given) = &intent.endpoints[end].urn {
            let ok = if given.contains("?=") {
                u.urns.local == *given
            } else {
                u.urns.local.starts_with(&format!("{given}?="))
            };
            if !ok {
                v.push(
                    codes::URN,
                    Some(node),
                    obj.clone(),
                    format!(
                        "local URN `{}` is not the endpoint's URN `{given}`",
                        u.urns.local
                    ),
                );
            }
        }
        urns.push((node, u.urns.clone()));
        // Keys: the KME registers the application (ETSI GS QKD 015) with its peer.
        if let Some(bits) = key_size {
            let app = index.app(node, &u.urns.local, &u.urns.remote);
            match app {
                None => v.push(
                    codes::SERVICE_UNIT,
                    Some(node),
                    obj.clone(),
                    format!(
                        "no qkd_application registers `{}` with peer `{}`",
                        u.urns.local, u.urns.remote
                    ),
                ),
                Some(a) if !close(a.app_qos.min_bandwidth, admitted * f64::from(bits)) => v.push(
                    codes::SERVICE_UNIT,
                    Some(node),
                    obj.clone(),
                    format!(
                        "app_qos.min_bandwidth {} bit/s, but {:.9} bit/s of key is admitted",
                        a.app_qos.min_bandwidth,
                        admitted * f64::from(bits)
                    ),
                ),
                Some(_) => {}
            }
        }
        let [s] = sess else {
            v.push(
                codes::SESSION,
                Some(node),
                obj.clone(),
                format!("{} sessions at this endpoint, expected one", sess.len()),
            );
            continue;
        };
        let bits = key_size.map_or(0.0, f64::from);
        if !close(s.token_bucket.rate, admitted)
            || (key_size.is_some() && !close(s.qos.min_bps, admitted * bits))
        {
            v.push(
                codes::SESSION,
                Some(node),
                obj.clone(),
                format!(
                    "token bucket at {}/s (min_bps {}), but {admitted:.9}/s is admitted",
                    s.token_bucket.rate, s.qos.min_bps
                ),
            );
        }
    }
    if let [(a, ua), (b, ub)] = urns.as_slice() {
        if ua.local != ub.remote || ua.remote != ub.local {
            v.push(
                codes::URN,
                None,
                obj.clone(),
                format!("`{a}` names itself `{}` and its peer `{}`, but `{b}` names itself `{}` and its peer `{}`", ua.local, ua.remote, ub.local, ub.remote),
            );
        }
        if ua.lifecycle != ub.lifecycle {
            v.push(
                codes::URN,
                None,
                obj,
                format!(
                    "the ends disagree on the lifecycle URN: `{}` vs `{}`",
                    ua.lifecycle, ub.lifecycle
                ),
            );
        }
    }
}

/// Service units and sessions at nodes that are not an endpoint of their intent.
pub(super) fn check_stray_service(
    intents: &BTreeMap<&str, &CheckedIntent>,
    configs: &ConfigSet,
    v: &mut Out,
) {
    for (node, cfg) in &configs.nodes {
        let ids = cfg
            .service
            .service_units
            .iter()
            .map(|u| u.id.as_str())
            .chain(cfg.service.sessions.iter().map(|s| s.service_unit.as_str()));
        for id in ids.collect::<BTreeSet<_>>() {
            match intents.get(id) {
                None => v.push(
                    codes::UNKNOWN_UNIT,
                    Some(node),
                    unit_obj(id),
                    "service unit or session no intent defines",
                ),
                Some(i) if !i.endpoints.iter().any(|e| &e.node == node) => v.push(
                    codes::SERVICE_UNIT,
                    Some(node),
                    unit_obj(id),
                    "service unit or session at a node that is not an endpoint of the intent",
                ),
                Some(_) => {}
            }
        }
    }
}
