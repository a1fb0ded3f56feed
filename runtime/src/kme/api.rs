//! The ETSI GS QKD 014 resources of one KME, independent of the transport:
//!
//! * `GET /api/v1/keys/{slave_SAE_ID}/status`
//! * `POST /api/v1/keys/{slave_SAE_ID}/enc_keys` with `{"number", "size",
//!   "additional_slave_SAE_IDs", "extension_mandatory", "extension_optional"}`, or `GET` with
//!   `?number=&size=`
//! * `POST /api/v1/keys/{master_SAE_ID}/dec_keys` with `{"key_IDs": [{"key_ID"}]}`, or `GET`
//!   with `?key_ID=`
//!
//! Keys come back in the standard's key container `{"keys": [{"key_ID", "key"}]}` (UUID ids,
//! base64 keys). Errors carry `{"message", "details"}`: 400 for a malformed request (a size
//! that is not a multiple of 8 or outside `min_key_size..=max_key_size`, a number of 0 or
//! above `max_key_per_request`, a value that is negative or not a number, an unknown or
//! expired key_ID, an unsupported `extension_mandatory`), 401 for a caller that is not the
//! master (enc_keys) or slave (dec_keys) of the service unit, 503 when the KME cannot serve
//! now (the session's token bucket is empty, a link pool is short, no path is up).
//!
//! What this KME reports and enforces, per service unit: `key_size` is the intent's key
//! size and also `max_key_size` (the compiler reserved link rate for keys of that size);
//! `min_key_size` is 64 bits (or the key size when smaller); `max_key_per_request` is the
//! session's token-bucket depth (a larger request could never be served);
//! `max_SAE_ID_count` is, for a master, the number of other slaves it is joined to at this
//! KME by key service units: a service unit joins exactly two applications, so key
//! multicast (`additional_slave_SAE_IDs`) names slaves of the master's other service units.
//! Every named slave then gets the same key, under the same key_ID, relayed along its own
//! unit's path from its own KME, and each unit's session pays for it; a slave that is not
//! joined to the master, a repeated one, or a key size above its unit's is a 400 (nothing
//! is drawn unless every slave can be served). The one mandatory extension understood is
//! `{"strata_service_unit": "ID"}`, which picks the service unit when two applications share
//! several. Query parameters other than the standard's are refused (400); unknown JSON
//! members are ignored.

use super::relay::{self, RelayPath};
use super::store::{Missing, StoredKey, TokenBucket};
use super::{Kms, KmsState};
use base64::Engine;
use serde_json::{Value, json};
use strata_compiler::config::{EndRole, NodeConfig, ServiceUnit, UnitKind};

/// Smallest key a KME hands out, bits (less when the intent's keys are smaller).
pub const MIN_KEY_SIZE_BITS: u32 = 64;
/// Most key ids one `dec_keys` may name.
pub const MAX_KEY_IDS_PER_REQUEST: usize = 1024;
/// Largest request body accepted, bytes.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// An HTTP status with a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: 200, body }
    }

    /// An error in the standard's format: `{"message", "details": [{..}]}`.
    pub fn error(status: u16, message: impl Into<String>, details: Vec<Value>) -> Reply {
        let mut body = json!({ "message": message.into() });
        if !details.is_empty() {
            body["details"] = Value::Array(details);
        }
        Reply { status, body }
    }

    fn bad(message: impl Into<String>, parameter: &str, reason: impl Into<String>) -> Reply {
        Reply::error(
            400,
            message,
            vec![json!({ "parameter": parameter, "reason": reason.into() })],
        )
    }
}

/// One request to a KME, as the transport delivers it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// Answers `request` at `node`'s KME for the SAE `caller` (the CN of its client
/// certificate; `None` when the certificate has none).
pub fn handle(kms: &Kms, node: &str, caller: Option<&str>, request: Request<'_>) -> Reply {
    let Some(rest) = request.path.strip_prefix("/api/v1/keys/") else {
        return not_found(request.path);
    };
    let Some((id, op)) = rest.rsplit_once('/') else {
        return not_found(request.path);
    };
    let Some(id) = percent_decode(id).filter(|s| !s.is_empty() && !s.contains('/')) else {
        return not_found(request.path);
    };
    let Some(caller) = caller else {
        return Reply::error(
            401,
            "the client certificate names no SAE (its subject has no CN)",
            vec![],
        );
    };
    let reply = match (op, request.method) {
        ("status", "GET") => status(kms, node, caller, &id, request.query),
        ("enc_keys", "GET" | "POST") => enc_keys(kms, node, caller, &id, request),
        ("dec_keys", "GET" | "POST") => dec_keys(kms, node, caller, &id, request),
        ("status" | "enc_keys" | "dec_keys", m) => Reply::error(
            405,
            format!("{op} does not take {m}"),
            vec![json!({ "allowed": if op == "status" { "GET" } else { "GET, POST" } })],
        ),
        _ => not_found(request.path),
    };
    if reply.status == 401 || reply.status == 503 {
        kms.log(
            node,
            format!(
                "{} to SAE {caller} on {op} ({id}): {}",
                reply.status,
                reply.body["message"].as_str().unwrap_or("")
            ),
        );
    }
    reply
}

fn not_found(path: &str) -> Reply {
    Reply::error(
        404,
        format!("no resource at `{path}`"),
        vec![json!({ "resources": "/api/v1/keys/{SAE_ID}/status | enc_keys | dec_keys" })],
    )
}

// ---------------------------------------------------------------- parsing

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `a=1&b=2` → pairs; a parameter outside `allowed` is an error.
fn query_pairs(query: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, Reply> {
    let mut out = Vec::new();
    for part in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
            return Err(Reply::bad(
                "the query string is not valid percent-encoded UTF-8",
                part,
                "bad encoding",
            ));
        };
        if !allowed.contains(&k.as_str()) {
            return Err(Reply::bad(
                format!(
                    "unknown query parameter `{k}`; this resource takes {}",
                    allowed.join(", ")
                ),
                &k,
                "unknown parameter",
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// A positive integer from a query value: digits only.
fn parse_count(name: &str, text: &str) -> Result<u64, Reply> {
    if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
        return Err(Reply::bad(
            format!("{name} must be a positive integer, got `{text}`"),
            name,
            "not a positive integer",
        ));
    }
    text.parse::<u64>().map_err(|_| {
        Reply::bad(
            format!("{name} `{text}` is too large"),
            name,
            "out of range",
        )
    })
}

/// A positive integer from a JSON member.
fn json_count(name: &str, v: &Value) -> Result<Option<u64>, Reply> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n.as_u64().map(Some).ok_or_else(|| {
            Reply::bad(
                format!("{name} must be a positive integer, got {n}"),
                name,
                "not a positive integer",
            )
        }),
        other => Err(Reply::bad(
            format!("{name} must be a positive integer, got {other}"),
            name,
            "not a number",
        )),
    }
}

fn json_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Reply::bad(
            "the request body must be a JSON object",
            "body",
            "not an object",
        )),
        Err(e) => Err(Reply::bad(
            format!("the request body is not JSON: {e}"),
            "body",
            "malformed JSON",
        )),
    }
}

/// A UUID in its canonical hyphenated text form (any version).
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

/// A random (version 4) UUID from the OS CSPRNG.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---------------------------------------------------------------- service units

/// A key service unit as one of its SAEs sees it.
struct UnitView {
    unit: ServiceUnit,
    master_node: String,
    slave_node: String,
    master_sae: String,
    slave_sae: String,
    /// Token bucket of the master's session: (rate, burst).
    bucket: (f64, f64),
}

impl UnitView {
    fn key_size(&self) -> u32 {
        self.unit.key_size.unwrap_or(256)
    }
    fn min_key_size(&self) -> u32 {
        MIN_KEY_SIZE_BITS.min(self.key_size())
    }
    fn max_per_request(&self) -> u64 {
        self.bucket.1.floor().max(1.0) as u64
    }
}

fn session_app<'a>(cfg: &'a NodeConfig, unit: &str) -> Option<&'a str> {
    cfg.service
        .sessions
        .iter()
        .find(|x| x.service_unit == unit)
        .map(|x| x.application.as_str())
}

fn urn_base(urn: &str) -> &str {
    urn.split_once("?=").map_or(urn, |(b, _)| b)
}

/// Does SAE id `id` name the application of `unit`'s end whose URN is `urn`?
fn names(id: &str, app: Option<&str>, urn: &str) -> bool {
    app == Some(id) || urn_base(urn) == id
}

/// Key service units whose master end is SAE `master` at `node` and whose slave end is SAE
/// `slave`.
fn units_as_master(s: &KmsState, node: &str, master: &str, slave: &str) -> Vec<UnitView> {
    let Some(cfg) = s.configs.get(node) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for u in cfg
        .service
        .service_units
        .iter()
        .filter(|u| u.kind == UnitKind::Keys && u.role == EndRole::Master)
    {
        if !names(master, session_app(cfg, &u.id), &u.urns.local) {
            continue;
        }
        let Some(peer) = s.configs.get(&u.peer) else {
            continue;
        };
        let Some(far) = peer
            .service
            .service_units
            .iter()
            .find(|x| x.id == u.id && x.role == EndRole::Slave && x.peer == node)
        else {
            continue;
        };
        let slave_app = session_app(peer, &far.id);
        if !names(slave, slave_app, &far.urns.local) {
            continue;
        }
        let bucket = cfg
            .service
            .sessions
            .iter()
            .find(|x| x.service_unit == u.id)
            .map_or((u.rate, u.rate.ceil().max(1.0)), |x| {
                (x.token_bucket.rate, f64::from(x.token_bucket.burst.max(1)))
            });
        out.push(UnitView {
            unit: u.clone(),
            master_node: node.to_string(),
            slave_node: u.peer.clone(),
            master_sae: session_app(cfg, &u.id).unwrap_or(master).to_string(),
            slave_sae: slave_app.unwrap_or(slave).to_string(),
            bucket,
        });
    }
    out
}

/// Key service units whose slave end is SAE `slave` at `node` and whose master is SAE
/// `master`.
fn units_as_slave(s: &KmsState, node: &str, slave: &str, master: &str) -> Vec<UnitView> {
    let Some(cfg) = s.configs.get(node) else {
        return Vec::new();
    };
    cfg.service
        .service_units
        .iter()
        .filter(|u| {
            u.kind == UnitKind::Keys
                && u.role == EndRole::Slave
                && names(slave, session_app(cfg, &u.id), &u.urns.local)
        })
        .filter_map(|u| {
            units_as_master(s, &u.peer, master, slave)
                .into_iter()
                .find(|v| v.unit.id == u.id && v.slave_node == node)
        })
        .collect()
}

/// Is `sae` the given end of any key service unit at `node`?
fn registered(s: &KmsState, node: &str, sae: &str, role: EndRole) -> bool {
    s.configs.get(node).is_some_and(|cfg| {
        cfg.service.service_units.iter().any(|u| {
            u.kind == UnitKind::Keys
                && u.role == role
                && names(sae, session_app(cfg, &u.id), &u.urns.local)
        })
    })
}

fn not_master(s: &KmsState, node: &str, caller: &str, slave: &str) -> Reply {
    if registered(s, node, caller, EndRole::Master) {
        Reply::error(
            401,
            format!("SAE {caller} has no key service unit towards slave SAE {slave} at KME {node}"),
            vec![json!({ "master_SAE_ID": caller, "slave_SAE_ID": slave })],
        )
    } else {
        Reply::error(
            401,
            format!("SAE {caller} is not the master SAE of any key service unit at KME {node}"),
            vec![json!({ "master_SAE_ID": caller })],
        )
    }
}

/// The unit's extension object: its identity (the draft's three URNs), QoS and paths.
fn unit_extension(s: &mut KmsState, v: &UnitView, now: f64, paths: &[RelayPath]) -> Value {
    let bucket = s
        .buckets
        .get_mut(&(v.unit.id.clone(), v.master_node.clone()))
        .map(|b| json!({ "rate": b.rate, "burst": b.burst, "tokens": b.tokens(now) }));
    let waiting = s
        .stores
        .get(&v.slave_node)
        .map_or(0, |st| st.waiting(&v.unit.id));
    let paths: Vec<Value> = paths
        .iter()
        .map(|p| {
            let up = relay::check(&s.pools, p, 0).is_ok();
            let bits = p
                .links
                .iter()
                .map(|l| s.pools.get(l).map_or(0, |x| x.available() as u64 * 8))
                .min()
                .unwrap_or(0);
            json!({ "index": p.index, "nodes": p.nodes, "links": p.links, "up": up, "available_bits": bits })
        })
        .collect();
    json!({
        "id": v.unit.id,
        "kind": "keys",
        "urns": {
            "local": v.unit.urns.local,
            "remote": v.unit.urns.remote,
            "lifecycle": v.unit.urns.lifecycle,
        },
        "rate": v.unit.rate,
        "valid_for_s": v.unit.valid_for_s,
        "token_bucket": bucket,
        "waiting_at_slave": waiting,
        "paths": paths,
    })
}

// ---------------------------------------------------------------- status

fn status(kms: &Kms, node: &str, caller: &str, other: &str, query: Option<&str>) -> Reply {
    if let Err(r) = query_pairs(query, &[]) {
        return r;
    }
    let (mut s, now) = kms.current();
    let (view, as_master) = match units_as_master(&s, node, caller, other).into_iter().next() {
        Some(v) => (v, true),
        None => match units_as_slave(&s, node, caller, other).into_iter().next() {
            Some(v) => (v, false),
            None => return not_master(&s, node, caller, other),
        },
    };
    if let Some(st) = s.stores.get_mut(&view.slave_node) {
        st.expire(now);
    }
    let paths = relay::paths(
        &s.configs,
        &view.unit.id,
        &view.master_node,
        &view.slave_node,
    );
    let key_bytes = (view.key_size() as usize / 8).max(1);
    let stored = if as_master {
        paths
            .iter()
            .filter(|p| relay::check(&s.pools, p, 0).is_ok())
            .map(|p| {
                p.links
                    .iter()
                    .map(|l| s.pools.get(l).map_or(0, |x| x.available()))
                    .min()
                    .unwrap_or(0)
                    / key_bytes
            })
            .max()
            .unwrap_or(0)
    } else {
        s.stores.get(node).map_or(0, |st| st.waiting(&view.unit.id))
    };
    let max_count = paths
        .iter()
        .map(|p| {
            p.links
                .iter()
                .map(|l| {
                    s.pools
                        .get(l)
                        .map_or(0, |x| x.capacity(s.pools.pool_seconds()))
                })
                .min()
                .unwrap_or(0)
                / key_bytes
        })
        .max()
        .unwrap_or(0);
    let mut ext = unit_extension(&mut s, &view, now, &paths);
    ext["role"] = json!(if as_master { "master" } else { "slave" });
    Reply::ok(json!({
        "source_KME_ID": view.master_node,
        "target_KME_ID": view.slave_node,
        "master_SAE_ID": view.master_sae,
        "slave_SAE_ID": view.slave_sae,
        "key_size": view.key_size(),
        "stored_key_count": stored,
        "max_key_count": max_count,
        "max_key_per_request": view.max_per_request(),
        "max_key_size": view.key_size(),
        "min_key_size": view.min_key_size(),
        "max_SAE_ID_count": if as_master { other_slaves(&s, node, caller, other) } else { 0 },
        "strata_service_unit": ext,
    }))
}

// ---------------------------------------------------------------- enc_keys

struct KeyRequest {
    number: Option<u64>,
    size: Option<u64>,
    additional: Vec<String>,
    /// Service unit asked for by extension.
    unit: Option<String>,
}

fn parse_key_request(request: Request<'_>) -> Result<KeyRequest, Reply> {
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

fn enc_keys(kms: &Kms, node: &str, caller: &str, slave: &str, request: Request<'_>) -> Reply {
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
    if waiting + number as usize > super::store::MAX_WAITING_KEYS_PER_UNIT {
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

/// The other slaves master SAE `master` is joined to at `node` by key service units
/// (`max_SAE_ID_count` towards `slave`).
fn other_slaves(s: &KmsState, node: &str, master: &str, slave: &str) -> usize {
    let Some(cfg) = s.configs.get(node) else {
        return 0;
    };
    let mut peers: Vec<String> = Vec::new();
    for u in cfg
        .service
        .service_units
        .iter()
        .filter(|u| u.kind == UnitKind::Keys && u.role == EndRole::Master)
        .filter(|u| names(master, session_app(cfg, &u.id), &u.urns.local))
    {
        let far = s.configs.get(&u.peer).and_then(|p| {
            p.service
                .service_units
                .iter()
                .find(|x| x.id == u.id && x.role == EndRole::Slave)
                .map(|x| session_app(p, &x.id).unwrap_or(&x.urns.local).to_string())
        });
        if let Some(f) = far
            && f != slave
            && !peers.contains(&f)
        {
            peers.push(f);
        }
    }
    peers.len()
}

/// The service unit joining master SAE `master` to each additional slave, checked: none
/// repeated or equal to `slave`, each joined to the master here, each taking keys of `size`.
fn additional_units(
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

// ---------------------------------------------------------------- dec_keys

fn parse_key_ids(request: Request<'_>) -> Result<Vec<String>, Reply> {
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

fn dec_keys(kms: &Kms, node: &str, caller: &str, master: &str, request: Request<'_>) -> Reply {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_query_strings() {
        let id = new_uuid();
        assert!(is_uuid(&id), "{id}");
        assert_eq!(&id[14..15], "4");
        assert!(!is_uuid("abc"));
        assert!(!is_uuid("zzzzzzzz-0000-4000-8000-000000000000"));
        assert_ne!(new_uuid(), id);
        assert_eq!(
            query_pairs(Some("number=2&size=256"), &["number", "size"]).unwrap(),
            vec![
                ("number".to_string(), "2".to_string()),
                ("size".to_string(), "256".to_string())
            ]
        );
        assert_eq!(
            query_pairs(Some("x=1"), &["number"]).unwrap_err().status,
            400
        );
        assert_eq!(percent_decode("a%3Ab").as_deref(), Some("a:b"));
        assert_eq!(parse_count("number", "-1").unwrap_err().status, 400);
        assert_eq!(parse_count("number", "1a").unwrap_err().status, 400);
        assert_eq!(parse_count("number", "12").unwrap(), 12);
        assert_eq!(json_count("size", &json!(1.5)).unwrap_err().status, 400);
        assert_eq!(json_count("size", &json!(-8)).unwrap_err().status, 400);
        assert_eq!(json_count("size", &json!("8")).unwrap_err().status, 400);
    }
}
