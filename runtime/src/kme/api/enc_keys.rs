//! `enc_keys`: parsing a key request (query or JSON body, extensions), drawing keys for the
//! master (from the OS CSPRNG) and relaying them over the network to the slave's KME, and
//! key multicast to `additional_slave_SAE_IDs` over the master's other service units.

use super::units::{UnitView, not_master, other_slaves, units_as_master};
use super::{Reply, Request, json_body, json_count, new_uuid, parse_count, query_pairs};
use crate::kme::relay::message::{self, ClearKey};
use crate::kme::relay::net::{self, Route};
use crate::kme::relay::{self, RelayPath};
use crate::kme::store::TokenBucket;
use crate::kme::{Kms, KmsState};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};
use strata_compiler::config::Hop;

pub(super) struct KeyRequest {
    pub(super) number: Option<u64>,
    pub(super) size: Option<u64>,
    pub(super) additional: Vec<String>,
    /// Service unit asked for by extension.
    pub(super) unit: Option<String>,
}

pub(super) fn parse_key_request(request: Request<'_>) -> Result<KeyRequest, Reply> {
    let mut r = KeyRequest {
        number: None,
        size: None,
        additional: Vec::new(),
        unit: None,
    };
    if request.method == "GET" {
        for (k, v) in query_pairs(request.query, &["number", "size"])? {
            let n = parse_count(&k, &v)?;
            if k == "number" {
                r.number = Some(n);
            } else {
                r.size = Some(n);
            }
        }
        return Ok(r);
    }
    query_pairs(request.query, &[])?;
    let body = json_body(request.body)?;
    if let Some(v) = body.get("number") {
        r.number = json_count("number", v)?;
    }
    if let Some(v) = body.get("size") {
        r.size = json_count("size", v)?;
    }
    match body.get("additional_slave_SAE_IDs") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ids)) => {
            for id in ids {
                match id.as_str() {
                    Some(s) => r.additional.push(s.to_string()),
                    None => {
                        return Err(Reply::bad(
                            "additional_slave_SAE_IDs must be an array of strings",
                            "additional_slave_SAE_IDs",
                            "not a string",
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(Reply::bad(
                "additional_slave_SAE_IDs must be an array of strings",
                "additional_slave_SAE_IDs",
                "not an array",
            ));
        }
    }
    for (name, mandatory) in [("extension_mandatory", true), ("extension_optional", false)] {
        let items = match body.get(name) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(Reply::bad(
                    format!("{name} must be an array of objects"),
                    name,
                    "not an array",
                ));
            }
        };
        for item in items {
            let Some(obj) = item.as_object() else {
                return Err(Reply::bad(
                    format!("{name} must be an array of objects"),
                    name,
                    "not an object",
                ));
            };
            for (k, v) in obj {
                if k == "strata_service_unit" {
                    match v.as_str() {
                        Some(id) => r.unit = Some(id.to_string()),
                        None => {
                            return Err(Reply::bad(
                                "extension strata_service_unit must be a service unit id (a string)",
                                name,
                                "bad extension value",
                            ));
                        }
                    }
                } else if mandatory {
                    return Err(Reply::bad(
                        format!(
                            "mandatory extension `{k}` is not supported by this KME (it supports strata_service_unit)"
                        ),
                        name,
                        format!("unsupported extension {k}"),
                    ));
                }
            }
        }
    }
    Ok(r)
}

/// Keys drawn at the master KME and not yet relayed: what [`prepare`] hands [`deliver`].
struct Draw {
    view: UnitView,
    path: RelayPath,
    /// Additional slaves of a key multicast, each with the path of its own unit.
    extra: Vec<(UnitView, RelayPath)>,
    size: u64,
    keys: Vec<ClearKey>,
}

pub(super) async fn enc_keys(
    kms: &Kms,
    node: &str,
    caller: &str,
    slave: &str,
    request: Request<'_>,
) -> Reply {
    match prepare(kms, node, caller, slave, request) {
        Ok(draw) => deliver(kms, node, caller, draw).await,
        Err(reply) => reply,
    }
}

fn unavailable(unit: &str, message: String, reason: Value) -> Reply {
    Reply::error(
        503,
        message,
        vec![json!({ "service_unit": unit, "reason": reason })],
    )
}

/// Checks a key request and, when it can be served, takes its tokens and draws its keys.
fn prepare(
    kms: &Kms,
    node: &str,
    caller: &str,
    slave: &str,
    request: Request<'_>,
) -> Result<Draw, Reply> {
    let req = parse_key_request(request)?;
    let (mut s, now) = kms.current();
    let mut units = units_as_master(&s, node, caller, slave);
    if let Some(id) = &req.unit {
        units.retain(|v| &v.unit.id == id);
        if units.is_empty() {
            return Err(Reply::error(
                401,
                format!(
                    "SAE {caller} is not the master of service unit `{id}` towards SAE {slave} at KME {node}"
                ),
                vec![json!({ "strata_service_unit": id })],
            ));
        }
    }
    let Some(view) = units.into_iter().next() else {
        return Err(not_master(&s, node, caller, slave));
    };
    let key_size = u64::from(view.key_size());
    let number = req.number.unwrap_or(1);
    let size = req.size.unwrap_or(key_size);
    if number == 0 {
        return Err(Reply::bad("number must be at least 1", "number", "zero"));
    }
    if size % 8 != 0 {
        return Err(Reply::bad(
            format!("size must be a multiple of 8 bits, got {size}"),
            "size",
            "not a multiple of 8",
        ));
    }
    let min = u64::from(view.min_key_size());
    if size < min || size > key_size {
        return Err(Reply::bad(
            format!(
                "size {size} is outside this KME's key sizes for service unit {}: {min}..={key_size} bits",
                view.unit.id
            ),
            "size",
            format!("not in {min}..={key_size}"),
        ));
    }
    if number > view.max_per_request() {
        return Err(Reply::bad(
            format!(
                "number {number} is above max_key_per_request {} (the session's burst)",
                view.max_per_request()
            ),
            "number",
            "above max_key_per_request",
        ));
    }
    let extra = additional_units(&s, node, caller, slave, &req.additional, size)?;
    let unit = view.unit.id.clone();
    if !kms.env.node_up(node) {
        return Err(unavailable(
            &unit,
            format!("node {node} is stopped"),
            json!("node down"),
        ));
    }
    let paths = relay::paths(&s.configs, &view.unit.id, node, &view.slave_node);
    if paths.is_empty() {
        return Err(unavailable(
            &unit,
            format!(
                "service unit {} has no complete path to KME {}: the forwarding tables along it do not agree (is an apply under way?)",
                view.unit.id, view.slave_node
            ),
            json!("no path"),
        ));
    }
    let bytes = (size / 8) as usize;
    let pad = message::pad_len(number as usize, size as u32);
    let mut reasons = Vec::new();
    let mut chosen = None;
    for p in &paths {
        if let Some(n) = p.nodes.iter().find(|n| !kms.env.node_up(n)) {
            reasons.push(format!(
                "path {} ({}): node {n} is stopped",
                p.index,
                p.display()
            ));
            continue;
        }
        match relay::check(&s.pools, p, pad) {
            Ok(()) => {
                chosen = Some(p.clone());
                break;
            }
            Err(e) => reasons.push(format!("path {} ({}): {e}", p.index, p.display())),
        }
    }
    let Some(path) = chosen else {
        return Err(unavailable(
            &unit,
            format!(
                "no key for service unit {} now: {}",
                view.unit.id,
                reasons.join("; ")
            ),
            json!(reasons),
        ));
    };
    let mut extra_paths = Vec::with_capacity(extra.len());
    for v in &extra {
        let up = relay::paths(&s.configs, &v.unit.id, node, &v.slave_node)
            .into_iter()
            .find(|p| p.nodes.iter().all(|n| kms.env.node_up(n)));
        match up {
            Some(p) => extra_paths.push(p),
            None => {
                return Err(unavailable(
                    &unit,
                    format!(
                        "no key for additional slave SAE {}: service unit {} has no path up to KME {}",
                        v.slave_sae, v.unit.id, v.slave_node
                    ),
                    json!("no path"),
                ));
            }
        }
    }
    if !extra.is_empty() {
        // Every hop that leaves a node this KME holds the link of, with what it sends.
        let mut demand: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
        for p in std::iter::once(&path).chain(&extra_paths) {
            for (i, l) in p.links.iter().enumerate() {
                *demand.entry((l.as_str(), p.nodes[i].as_str())).or_default() += pad;
            }
        }
        for ((l, from), need) in demand {
            let Some(pool) = s.pools.get(l) else {
                if s.pools.holds_every_link() {
                    return Err(unavailable(
                        &unit,
                        format!("QKD link {l} is down"),
                        json!("link down"),
                    ));
                }
                continue;
            };
            let have = if pool.up { pool.available_at(from) } else { 0 };
            if have < need {
                return Err(unavailable(
                    &unit,
                    format!(
                        "no key for every slave now: the key pool of QKD link {l} holds {} bits, the multicast needs {}",
                        have * 8,
                        need * 8
                    ),
                    json!("pool short"),
                ));
            }
        }
        for v in &extra {
            let b = s
                .buckets
                .entry((v.unit.id.clone(), node.to_string()))
                .or_insert_with(|| TokenBucket::new(v.bucket.0, v.bucket.1, now));
            if let Err(wait) = b.check(number as f64, now) {
                let real = wait / kms.speed;
                return Err(unavailable(
                    &unit,
                    format!(
                        "rate limit: the session of service unit {} (additional slave SAE {}) allows {} keys/s with a burst of {}; {number} key(s) available in {real:.3} s",
                        v.unit.id, v.slave_sae, b.rate, b.burst
                    ),
                    json!({ "rate": b.rate, "burst": b.burst, "retry_after_s": real }),
                ));
            }
        }
    }
    let bucket_key = (view.unit.id.clone(), node.to_string());
    let bucket = s
        .buckets
        .entry(bucket_key.clone())
        .or_insert_with(|| TokenBucket::new(view.bucket.0, view.bucket.1, now));
    if let Err(wait) = bucket.check(number as f64, now) {
        let (rate, burst) = (bucket.rate, bucket.burst);
        let real = wait / kms.speed;
        return Err(unavailable(
            &unit,
            format!(
                "rate limit: the session of service unit {} allows {rate} keys/s with a burst of {burst}; {number} key(s) available in {real:.3} s",
                view.unit.id
            ),
            json!({ "rate": rate, "burst": burst, "retry_after_s": real }),
        ));
    }
    let waiting = s
        .stores
        .get(&view.slave_node)
        .map_or(0, |st| st.waiting(&view.unit.id));
    if waiting + number as usize > crate::kme::store::MAX_WAITING_KEYS_PER_UNIT {
        return Err(unavailable(
            &unit,
            format!(
                "KME {} already holds {waiting} keys of service unit {} that SAE {} has not fetched",
                view.slave_node, view.unit.id, view.slave_sae
            ),
            json!("slave store full"),
        ));
    }
    let mut keys = Vec::with_capacity(number as usize);
    for _ in 0..number {
        let mut key = vec![0u8; bytes];
        if SystemRandom::new().fill(&mut key).is_err() {
            return Err(unavailable(
                &unit,
                "the KME's random number generator failed".into(),
                json!("no entropy"),
            ));
        }
        keys.push((new_uuid(), key));
    }
    if let Some(b) = s.buckets.get_mut(&bucket_key) {
        b.take(number as f64);
    }
    for v in &extra {
        if let Some(b) = s.buckets.get_mut(&(v.unit.id.clone(), node.to_string())) {
            b.take(number as f64);
        }
    }
    Ok(Draw {
        view,
        path,
        extra: extra.into_iter().zip(extra_paths).collect(),
        size,
        keys,
    })
}

/// Relays drawn keys to every slave's KME, over the network hop by hop, and hands them to
/// the master only when every slave's KME holds them. A relay that fails gives the session's
/// tokens back and the master a 503, and no key.
async fn deliver(kms: &Kms, node: &str, caller: &str, draw: Draw) -> Reply {
    let Draw {
        view,
        path,
        extra,
        size,
        keys,
    } = draw;
    let number = keys.len();
    // One relay per slave KME: additional slaves attached to a KME that already gets the
    // keys fetch them from there.
    let mut jobs: Vec<(&UnitView, &RelayPath, Vec<String>)> =
        vec![(&view, &path, vec![view.slave_sae.clone()])];
    for (v, p) in &extra {
        match jobs.iter_mut().find(|j| j.0.slave_node == v.slave_node) {
            Some(j) => j.2.push(v.slave_sae.clone()),
            None => jobs.push((v, p, vec![v.slave_sae.clone()])),
        }
    }
    for (v, p, slaves) in &jobs {
        let route = Route {
            service_unit: v.unit.id.clone(),
            path: p.index as u32,
            source: node.to_string(),
            target: v.slave_node.clone(),
            master_sae: view.master_sae.clone(),
            slave_saes: slaves.clone(),
            key_size: size as u32,
            valid_for_s: v.unit.valid_for_s,
        };
        let first = Hop {
            node: p.nodes[1].clone(),
            link: p.links[0].clone(),
        };
        if let Err(status) = net::forward(kms, node, &route, 1, &first, &keys).await {
            {
                let mut s = kms.lock();
                for u in std::iter::once(&view).chain(extra.iter().map(|(v, _)| v)) {
                    if let Some(b) = s.buckets.get_mut(&(u.unit.id.clone(), node.to_string())) {
                        b.refund(number as f64);
                    }
                }
            }
            return unavailable(
                &view.unit.id,
                format!(
                    "relay to KME {} along path {} ({}) failed, no key was handed out: {}",
                    v.slave_node,
                    p.index,
                    p.display(),
                    status.message()
                ),
                json!(format!("{:?}", status.code())),
            );
        }
    }
    kms.log(
        node,
        format!(
            "enc_keys: {number} key(s) of {size} bits for SAE {caller} → SAE {} at KME {}, service unit {} ({}), path {} {}",
            view.slave_sae,
            view.slave_node,
            view.unit.id,
            view.unit.urns.local,
            path.index,
            path.display()
        ),
    );
    let keys: Vec<Value> = keys
        .iter()
        .map(|(id, key)| {
            json!({
                "key_ID": id,
                "key": base64::engine::general_purpose::STANDARD.encode(key),
            })
        })
        .collect();
    Reply::ok(json!({ "keys": keys }))
}

/// The service unit joining master SAE `master` to each additional slave, checked: none
/// repeated or equal to `slave`, each joined to the master here, each taking keys of `size`.
pub(super) fn additional_units(
    s: &KmsState,
    node: &str,
    master: &str,
    slave: &str,
    additional: &[String],
    size: u64,
) -> Result<Vec<UnitView>, Reply> {
    let mut out: Vec<UnitView> = Vec::new();
    let max = other_slaves(s, node, master, slave);
    if additional.len() > max {
        return Err(Reply::bad(
            format!(
                "{} additional_slave_SAE_IDs, but master SAE {master} is joined to {max} other slave SAE(s) at KME {node} (max_SAE_ID_count)",
                additional.len()
            ),
            "additional_slave_SAE_IDs",
            "above max_SAE_ID_count",
        ));
    }
    for (i, extra) in additional.iter().enumerate() {
        if extra == slave || additional[..i].contains(extra) {
            return Err(Reply::bad(
                format!("additional_slave_SAE_IDs names SAE {extra} twice (or as the slave)"),
                "additional_slave_SAE_IDs",
                format!("{extra} repeated"),
            ));
        }
        let Some(v) = units_as_master(s, node, master, extra).into_iter().next() else {
            return Err(Reply::bad(
                format!(
                    "SAE {extra} is not joined to master SAE {master} by a key service unit at KME {node}, so it cannot share its keys; an intent between them makes it so"
                ),
                "additional_slave_SAE_IDs",
                format!("{extra} not a slave of {master}"),
            ));
        };
        if size > u64::from(v.key_size()) {
            return Err(Reply::bad(
                format!(
                    "size {size} is above the key size {} of service unit {} towards additional slave SAE {extra}",
                    v.key_size(),
                    v.unit.id
                ),
                "size",
                format!("above {extra}'s key size"),
            ));
        }
        out.push(v);
    }
    Ok(out)
}
