//! `dec_keys`: parsing the requested key_IDs (query or JSON body) and handing the slave the
//! keys its master drew.

use super::units::registered;
use super::{MAX_KEY_IDS_PER_REQUEST, Reply, Request, is_uuid, json_body, query_pairs};
use crate::kme::Kms;
use crate::kme::store::Missing;
use base64::Engine;
use serde_json::{Value, json};
use strata_compiler::config::EndRole;

pub(super) fn parse_key_ids(request: Request<'_>) -> Result<Vec<String>, Reply> {
    let mut ids = Vec::new();
    if request.method == "GET" {
        for (_, v) in query_pairs(request.query, &["key_ID"])? {
            ids.push(v);
        }
    } else {
        query_pairs(request.query, &[])?;
        let body = json_body(request.body)?;
        let Some(Value::Array(items)) = body.get("key_IDs") else {
            return Err(Reply::bad(
                "dec_keys needs key_IDs: an array of {\"key_ID\": UUID}",
                "key_IDs",
                "missing or not an array",
            ));
        };
        for item in items {
            match item.get("key_ID").and_then(Value::as_str) {
                Some(id) => ids.push(id.to_string()),
                None => {
                    return Err(Reply::bad(
                        "each entry of key_IDs must be an object with a string key_ID",
                        "key_IDs",
                        "entry without key_ID",
                    ));
                }
            }
        }
    }
    if ids.is_empty() {
        return Err(Reply::bad("no key_ID given", "key_ID", "missing"));
    }
    if ids.len() > MAX_KEY_IDS_PER_REQUEST {
        return Err(Reply::bad(
            format!("at most {MAX_KEY_IDS_PER_REQUEST} key_IDs per request"),
            "key_IDs",
            "too many",
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        if !is_uuid(id) {
            return Err(Reply::bad(
                format!("key_ID `{id}` is not a UUID"),
                "key_ID",
                "not a UUID",
            ));
        }
        if ids[..i].contains(id) {
            return Err(Reply::bad(
                format!("key_ID {id} is named twice"),
                "key_ID",
                "duplicate",
            ));
        }
    }
    Ok(ids)
}

pub(super) fn dec_keys(
    kms: &Kms,
    node: &str,
    caller: &str,
    master: &str,
    request: Request<'_>,
) -> Reply {
    let ids = match parse_key_ids(request) {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    let (mut s, now) = kms.current();
    if !registered(&s, node, caller, EndRole::Slave) {
        return Reply::error(
            401,
            format!("SAE {caller} is not the slave SAE of any key service unit at KME {node}"),
            vec![json!({ "slave_SAE_ID": caller })],
        );
    }
    let store = s.stores.entry(node.to_string()).or_default();
    store.expire(now);
    let mut foreign = Vec::new();
    let mut problems = Vec::new();
    for id in &ids {
        match store.get(id) {
            Ok(k) if !k.slave_saes.iter().any(|x| x == caller) => foreign.push(id.clone()),
            Ok(k) if k.master_sae != master => problems.push(json!({
                "key_ID": id,
                "reason": format!("requested by master SAE {}, not {master}", k.master_sae),
            })),
            Ok(_) => {}
            Err(Missing::Unknown) => problems.push(
                json!({ "key_ID": id, "reason": "unknown (never issued, or already delivered)" }),
            ),
            Err(Missing::Expired) => {
                problems.push(json!({ "key_ID": id, "reason": "expired (past its valid-until)" }))
            }
        }
    }
    if !foreign.is_empty() {
        return Reply::error(
            401,
            format!(
                "SAE {caller} is not a slave SAE of {} of the requested key(s)",
                foreign.len()
            ),
            foreign.iter().map(|id| json!({ "key_ID": id })).collect(),
        );
    }
    if !problems.is_empty() {
        return Reply::error(
            400,
            format!(
                "{} of the requested key_IDs cannot be served",
                problems.len()
            ),
            problems,
        );
    }
    let mut keys = Vec::with_capacity(ids.len());
    let mut unit = String::new();
    for id in &ids {
        if let Some(mut k) = store.remove(id) {
            keys.push(json!({
                "key_ID": id,
                "key": base64::engine::general_purpose::STANDARD.encode(&k.key),
            }));
            // A multicast key stays for the other slaves attached here.
            k.slave_saes.retain(|x| x != caller);
            unit = k.service_unit.clone();
            if !k.slave_saes.is_empty() {
                store.insert(k);
            }
        }
    }
    let urn = s
        .configs
        .get(node)
        .and_then(|c| c.service.service_units.iter().find(|u| u.id == unit))
        .map(|u| u.urns.local.clone())
        .unwrap_or_default();
    drop(s);
    kms.log(
        node,
        format!(
            "dec_keys: {} key(s) for SAE {caller} from SAE {master}, service unit {unit} ({urn})",
            keys.len()
        ),
    );
    Reply::ok(json!({ "keys": keys }))
}
