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
//! base64 keys); `status` has the standard's fields and, in its `status_extension`, the
//! service unit (`strata_service_unit`: URNs, token bucket, paths). Errors carry `{"message", "details"}`: 400 for a malformed request (a size
//! that is not a multiple of 8 or outside `min_key_size..=max_key_size`, a number of 0 or
//! above `max_key_per_request`, a value that is negative or not a number, an unknown or
//! expired key_ID, an unsupported `extension_mandatory`), 401 for a caller that is not the
//! master (enc_keys) or slave (dec_keys) of the service unit, 503 when the KME cannot serve
//! now (the session's token bucket is empty, a link pool is short, no path is up, a KME on
//! the path cannot be reached or refuses the relay).
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

mod dec_keys;
mod enc_keys;
mod status;
mod units;

use super::Kms;
use serde_json::{Value, json};

use dec_keys::dec_keys;
use enc_keys::enc_keys;
use status::status;

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
pub async fn handle(kms: &Kms, node: &str, caller: Option<&str>, request: Request<'_>) -> Reply {
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
        ("enc_keys", "GET" | "POST") => enc_keys(kms, node, caller, &id, request).await,
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
