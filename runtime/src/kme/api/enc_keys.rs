//! `enc_keys`: parsing a key request (query or JSON body, extensions), drawing keys for the
//! master and relaying them, and key multicast to `additional_slave_SAE_IDs` over the
//! master's other service units.

use super::units::{UnitView, not_master, other_slaves, units_as_master};
use super::{Reply, Request, json_body, json_count, new_uuid, parse_count, query_pairs};
use crate::kme::relay;
use crate::kme::store::{StoredKey, TokenBucket};
use crate::kme::{Kms, KmsState};
use base64::Engine;
use serde_json::{Value, json};

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

pub(super) fn enc_keys(
    kms: &Kms,
    node: &str,
    caller: &str,
    slave: &str,
    request: Request<'_>,
) -> Reply {
    let req = match parse_key_request(request) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let (mut s, now) = kms.current();
    let mut units = units_as_master(&s, node, caller, slave);
    if let Some(id) = &req.unit {
        units.retain(|v| &v.unit.id == id);
        if units.is_empty() {
            return Reply::error(
                401,
                format!(
                    "SAE {caller} is not the master of service unit `{id}` towards SAE {slave} at KME {node}"
                ),
                vec![json!({ "strata_service_unit": id })],
            );
        }
    }
    let Some(view) = units.into_iter().next() else {
        return not_master(&s, node, caller, slave);
    };
    let key_size = u64::from(view.key_size());
    let number = req.number.unwrap_or(1);
    let size = req.size.unwrap_or(key_size);
    if number == 0 {
        return Reply::bad("number must be at least 1", "number", "zero");
    }
    if size % 8 != 0 {
        return Reply::bad(
            format!("size must be a multiple of 8 bits, got {size}"),
            "size",
            "not a multiple of 8",
        );
    }
    let min = u64::from(view.min_key_size());
    if size < min || size > key_size {
        return Reply::bad(
            format!(
                "size {size} is outside this KME's key sizes for service unit {}: {min}..={key_size} bits",
                view.unit.id
            ),
            "size",
            format!("not in {min}..={key_size}"),
        );
    }
    if number > view.max_per_request() {
        return Reply::bad(
            format!(
                "number {number} is above max_key_per_request {} (the session's burst)",
                view.max_per_request()
            ),
            "number",
            "above max_key_per_request",
        );
    }
    let extra = match additional_units(&s, node, caller, slave, &req.additional, size) {
        Ok(v) => v,
        Err(reply) => return reply,
    };
    let unit = view.unit.id.clone();
    let unavailable = |message: String, reason: Value| {
        Reply::error(
            503,
            message,
            vec![json!({ "service_unit": unit, "reason": reason })],
        )
    };
    if !kms.world.node_up(node) {
        return unavailable(format!("node {node} is stopped"), json!("node down"));
    }
    let paths = relay::paths(&s.configs, &view.unit.id, node, &view.slave_node);
    if paths.is_empty() {
        return unavailable(
            format!(
                "service unit {} has no complete path to KME {}: the forwarding tables along it do not agree (is an apply under way?)",
                view.unit.id, view.slave_node
            ),
            json!("no path"),
        );
    }
    let bytes = (size / 8) as usize;
    let total = bytes * number as usize;
    let mut reasons = Vec::new();
    let mut chosen = None;
    for p in &paths {
        if let Some(n) = p.nodes.iter().find(|n| !kms.world.node_up(n)) {
            reasons.push(format!(
                "path {} ({}): node {n} is stopped",
                p.index,
                p.display()
            ));
            continue;
        }
        match relay::check(&s.pools, p, total) {
            Ok(()) => {
                chosen = Some(p.clone());
                break;
            }
            Err(e) => reasons.push(format!("path {} ({}): {e}", p.index, p.display())),
        }
    }
    let Some(path) = chosen else {
        return unavailable(
            format!(
                "no key for service unit {} now: {}",
                view.unit.id,
                reasons.join("; ")
            ),
            json!(reasons),
        );
    };
    let mut extra_paths = Vec::with_capacity(extra.len());
    for v in &extra {
        let up = relay::paths(&s.configs, &v.unit.id, node, &v.slave_node)
            .into_iter()
            .find(|p| p.nodes.iter().all(|n| kms.world.node_up(n)));
        match up {
            Some(p) => extra_paths.push(p),
            None => {
                return unavailable(
                    format!(
                        "no key for additional slave SAE {}: service unit {} has no path up to KME {}",
                        v.slave_sae, v.unit.id, v.slave_node
                    ),
                    json!("no path"),
                );
            }
        }
    }
    if !extra.is_empty() {
        let mut demand: std::collections::BTreeMap<&str, usize> = Default::default();
        for p in std::iter::once(&path).chain(&extra_paths) {
            for l in &p.links {
                *demand.entry(l.as_str()).or_default() += total;
            }
        }
        for (l, need) in demand {
            let have = s.pools.get(l).filter(|x| x.up).map_or(0, |x| x.available());
            if have < need {
                return unavailable(
                    format!(
                        "no key for every slave now: the key pool of QKD link {l} holds {} bits, the multicast needs {}",
                        have * 8,
                        need * 8
                    ),
                    json!("pool short"),
                );
            }
        }
        for v in &extra {
            let b = s
                .buckets
                .entry((v.unit.id.clone(), node.to_string()))
                .or_insert_with(|| TokenBucket::new(v.bucket.0, v.bucket.1, now));
            if let Err(wait) = b.check(number as f64, now) {
                let real = wait / kms.speed;
                return unavailable(
                    format!(
                        "rate limit: the session of service unit {} (additional slave SAE {}) allows {} keys/s with a burst of {}; {number} key(s) available in {real:.3} s",
                        v.unit.id, v.slave_sae, b.rate, b.burst
                    ),
                    json!({ "rate": b.rate, "burst": b.burst, "retry_after_s": real }),
                );
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
        return unavailable(
            format!(
                "rate limit: the session of service unit {} allows {rate} keys/s with a burst of {burst}; {number} key(s) available in {real:.3} s",
                view.unit.id
            ),
            json!({ "rate": rate, "burst": burst, "retry_after_s": real }),
        );
    }
    let waiting = s
        .stores
        .get(&view.slave_node)
        .map_or(0, |st| st.waiting(&view.unit.id));
    if waiting + number as usize > crate::kme::store::MAX_WAITING_KEYS_PER_UNIT {
        return unavailable(
            format!(
                "KME {} already holds {waiting} keys of service unit {} that SAE {} has not fetched",
                view.slave_node, view.unit.id, view.slave_sae
            ),
            json!("slave store full"),
        );
    }
    if let Some(b) = s.buckets.get_mut(&bucket_key) {
        b.take(number as f64);
    }
    for v in &extra {
        if let Some(b) = s.buckets.get_mut(&(v.unit.id.clone(), node.to_string())) {
            b.take(number as f64);
        }
    }
    let valid_until = view.unit.valid_for_s.map(|t| now + t);
    let mut keys = Vec::with_capacity(number as usize);
    for _ in 0..number {
        let relayed = match relay::relay(&mut s.pools, &path, bytes) {
            Ok(r) => r,
            Err(e) => return unavailable(format!("relay failed: {e}"), json!(e.to_string())),
        };
        debug_assert_eq!(relayed.master_key, relayed.slave_key);
        let key_id = new_uuid();
        // Per slave KME: the key as it arrived there, and the SAEs that may fetch it.
        let mut arrivals: Vec<(String, String, Vec<u8>, Vec<String>)> = vec![(
            view.slave_node.clone(),
            view.unit.id.clone(),
            relayed.slave_key,
            vec![view.slave_sae.clone()],
        )];
        for (v, p) in extra.iter().zip(&extra_paths) {
            let arrived = match relay::relay_given(&mut s.pools, p, &relayed.master_key) {
                Ok(k) => k,
                Err(e) => {
                    return unavailable(format!("relay failed: {e}"), json!(e.to_string()));
                }
            };
            match arrivals.iter_mut().find(|a| a.0 == v.slave_node) {
                Some(a) => a.3.push(v.slave_sae.clone()),
                None => arrivals.push((
                    v.slave_node.clone(),
                    v.unit.id.clone(),
                    arrived,
                    vec![v.slave_sae.clone()],
                )),
            }
        }
        for (kme, unit, key, slaves) in arrivals {
            s.stores.entry(kme).or_default().insert(StoredKey {
                key_id: key_id.clone(),
                service_unit: unit,
                master_sae: view.master_sae.clone(),
                slave_saes: slaves,
                key,
                created_s: now,
                valid_until_s: valid_until,
            });
        }
        keys.push(json!({
            "key_ID": key_id,
            "key": base64::engine::general_purpose::STANDARD.encode(&relayed.master_key),
        }));
    }
    drop(s);
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
