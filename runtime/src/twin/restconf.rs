//! The twin's emulated SD-QKD nodes speak ETSI GS QKD 015 over RESTCONF: every node serves
//! `GET`, `PUT` and `PATCH` of `/restconf/data/etsi-qkd-sdn-node:qkd_node` in RFC 7951 JSON
//! over HTTPS with the twin's CA, accepting only the SDN controller's client certificate.
//! `GET` answers the node's document — the last one written, or else the one its agent's
//! committed configuration implies — with its live state: link status and current `skr`,
//! `eskr` and QBER from the emulated network. A stopped node answers nothing.

use crate::pki::{self, CONTROLLER, Pki};
use crate::world::World;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_compiler::config::NodeConfig;
use strata_compiler::etsi015::model::{
    Document, Performance, PhysPerf, decimal3, identity, uint32,
};
use strata_compiler::etsi015::{QKD_NODE, document, ids};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// Largest request body taken, bytes.
const MAX_BODY_BYTES: usize = 4 << 20;

/// Where the twin's RESTCONF servers are: the `"restconf"` entry of the agents file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestconfDirectory {
    /// The CA that issued every server's certificate.
    pub ca: PathBuf,
    /// The controller's client certificate and key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Node → `https://127.0.0.1:PORT`.
    pub nodes: BTreeMap<String, String>,
}

/// The emulated nodes' 015 resources.
pub struct Devices {
    world: Arc<World>,
    /// What each node's agent committed.
    installed: Mutex<BTreeMap<String, NodeConfig>>,
    /// What a controller wrote with `PUT`/`PATCH`.
    written: Mutex<BTreeMap<String, Value>>,
}

impl Devices {
    pub fn new(world: Arc<World>) -> Devices {
        Devices {
            world,
            installed: Mutex::new(BTreeMap::new()),
            written: Mutex::new(BTreeMap::new()),
        }
    }

    /// `node`'s agent committed `config`.
    pub fn installed(&self, node: &str, config: &NodeConfig) {
        if let Ok(mut m) = self.installed.lock() {
            m.insert(node.to_string(), config.clone());
        }
    }

    /// The node's resource with its live state.
    fn current(&self, node: &str) -> Value {
        let base = self
            .written
            .lock()
            .ok()
            .and_then(|m| m.get(node).cloned())
            .and_then(|v| Document::parse(&v.to_string()).ok());
        let installed = self
            .installed
            .lock()
            .ok()
            .and_then(|m| m.get(node).cloned())
            .unwrap_or_default();
        let mut doc = base.unwrap_or_else(|| document(node, &installed).config_only());
        let sample = self.world.sample(node);
        let up = sample.as_ref().is_some_and(|s| s.up);
        doc.qkd_node.qkdn_status = Some(identity(if up { "OPERATING" } else { "DOWN" }));
        let consumption: BTreeMap<String, f64> = installed
            .forwarding
            .qkd_links
            .iter()
            .map(|l| (ids::link(&l.qkdl_id), l.expected_consumption))
            .collect();
        let live: BTreeMap<String, _> = sample
            .map(|s| s.links)
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.kind == "qkd")
            .map(|l| (ids::link(&l.link), l))
            .collect();
        for link in &mut doc.qkd_node.qkd_links.qkd_link {
            let Some(l) = live.get(&link.qkdl_id) else {
                continue;
            };
            link.qkdl_status = Some(identity(if l.up { "ACTIVE" } else { "OFF" }));
            link.qkdl_performance = Some(Performance {
                expected_consumption: consumption.get(&link.qkdl_id).map(|c| uint32(*c)),
                skr: Some(uint32(l.skr)),
                eskr: Some(uint32(l.eskr)),
                phys_perf: vec![PhysPerf {
                    perf_type: identity("QBER"),
                    value: decimal3(l.qber),
                }],
            });
        }
        serde_json::to_value(doc).unwrap_or(Value::Null)
    }

    fn answer(&self, node: &str, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        if path.trim_end_matches('/') != format!("/restconf/data/{QKD_NODE}") {
            return error(404, "invalid-value", &format!("no resource `{path}`"));
        }
        match method {
            "GET" => (200, self.current(node)),
            "PUT" | "PATCH" => {
                let v: Value = match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(e) => return error(400, "malformed-message", &e.to_string()),
                };
                let mut written = match self.written.lock() {
                    Ok(w) => w,
                    Err(_) => return error(500, "operation-failed", "server state poisoned"),
                };
                let new = if method == "PUT" {
                    v
                } else {
                    let mut base = written
                        .get(node)
                        .cloned()
                        .unwrap_or_else(|| self.current(node));
                    merge(&mut base, &v);
                    base
                };
                let doc = match Document::parse(&new.to_string()) {
                    Ok(d) => d,
                    Err(e) => return error(400, "invalid-value", &e),
                };
                if let Err(e) = strata_compiler::etsi015::model::check(&doc) {
                    return error(400, "invalid-value", &e);
                }
                let created = written.insert(node.to_string(), new).is_none();
                (if created { 201 } else { 204 }, Value::Null)
            }
            "DELETE" => match self.written.lock().ok().and_then(|mut w| w.remove(node)) {
                Some(_) => (204, Value::Null),
                None => error(404, "invalid-value", "nothing was written"),
            },
            _ => error(
                405,
                "operation-not-supported",
                &format!("{method} is not supported"),
            ),
        }
    }
}

/// An RFC 8040 §7.1 error body.
fn error(status: u16, tag: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"ietf-restconf:errors": {"error": [{
            "error-type": if status == 400 { "protocol" } else { "application" },
            "error-tag": tag,
            "error-message": message,
        }]}}),
    )
}

/// The list key of the 015 lists strata writes.
const LIST_KEYS: [&str; 4] = ["qkdl_id", "app_id", "qkdi_id", "perf_type"];

/// A plain-patch merge (RFC 8040 §4.6.1): containers merge member by member, list entries
/// merge by key, everything else is replaced.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(p)) if p.iter().all(|e| key_of(e).is_some()) => {
            for entry in p {
                match b.iter_mut().find(|x| key_of(x) == key_of(entry)) {
                    Some(existing) => merge(existing, entry),
                    None => b.push(entry.clone()),
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn key_of(v: &Value) -> Option<(&'static str, &Value)> {
    let o: &Map<String, Value> = v.as_object()?;
    LIST_KEYS
        .iter()
        .find_map(|k| o.get(*k).map(|val| (*k, val)))
}

/// Starts a RESTCONF server for every node on `127.0.0.1`.
pub async fn start(
    devices: Arc<Devices>,
    pki: &Pki,
    nodes: &[String],
    stop: watch::Receiver<bool>,
) -> Result<(RestconfDirectory, Vec<JoinHandle<()>>), String> {
    let mut tasks = Vec::new();
    let mut addrs = BTreeMap::new();
    for node in nodes {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        addrs.insert(node.clone(), format!("https://{addr}"));
        let tls = pki.server_config(node)?;
        tasks.push(tokio::spawn(serve(
            listener,
            TlsAcceptor::from(tls),
            devices.clone(),
            node.clone(),
            stop.clone(),
        )));
    }
    let directory = RestconfDirectory {
        ca: pki.ca_path.clone(),
        cert: pki.controller.cert_path.clone(),
        key: pki.controller.key_path.clone().unwrap_or_default(),
        nodes: addrs,
    };
    Ok((directory, tasks))
}

async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    devices: Arc<Devices>,
    node: String,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok((tcp, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if !devices.world.node_up(&node) {
            continue;
        }
        let (acceptor, devices, node) = (acceptor.clone(), devices.clone(), node.clone());
        connections.spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let caller = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .and_then(|c| pki::common_name(c));
            let controller = caller.as_deref() == Some(CONTROLLER);
            let service = service_fn(move |req: Request<Incoming>| {
                let (devices, node) = (devices.clone(), node.clone());
                async move { Ok::<_, Infallible>(respond(&devices, &node, controller, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
    connections.abort_all();
}

async fn respond(
    devices: &Devices,
    node: &str,
    controller: bool,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let (status, value) = if !controller {
        error(
            403,
            "access-denied",
            "only the SDN controller's certificate may configure this node",
        )
    } else {
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(b) => devices.answer(node, parts.method.as_str(), parts.uri.path(), &b.to_bytes()),
            Err(e) => error(400, "malformed-message", &e.to_string()),
        }
    };
    let bytes = if value.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&value).unwrap_or_default()
    };
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/yang-data+json"),
    );
    response
}

impl RestconfDirectory {
    /// Adds this directory to the agents file at `path` as its `"restconf"` entry.
    pub fn save_into(&self, path: &std::path::Path) -> Result<(), String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let mut doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("`{}` is not JSON: {e}", path.display()))?;
        doc["restconf"] = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
        std::fs::write(path, bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
    }

    /// Reads the `"restconf"` entry of an agents file.
    pub fn load(path: &std::path::Path) -> Result<RestconfDirectory, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("`{}` is not JSON: {e}", path.display()))?;
        serde_json::from_value(doc["restconf"].clone()).map_err(|e| {
            format!(
                "`{}` has no usable \"restconf\" entry (a twin started with KMEs writes one): {e}",
                path.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_patch_merges_containers_and_list_entries_by_key() {
        let mut base = json!({"n": {"qkdn_id": "a", "qkd_links": {"qkd_link": [
            {"qkdl_id": "1", "qkdl_enable": true},
            {"qkdl_id": "2", "qkdl_enable": true}
        ]}}});
        merge(
            &mut base,
            &json!({"n": {"qkdn_location_id": "x", "qkd_links": {"qkd_link": [
                {"qkdl_id": "2", "qkdl_enable": false},
                {"qkdl_id": "3"}
            ]}}}),
        );
        assert_eq!(
            base,
            json!({"n": {"qkdn_id": "a", "qkdn_location_id": "x", "qkd_links": {"qkd_link": [
                {"qkdl_id": "1", "qkdl_enable": true},
                {"qkdl_id": "2", "qkdl_enable": false},
                {"qkdl_id": "3"}
            ]}}})
        );
    }
}
