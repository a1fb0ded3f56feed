//! The ETSI GS QKD 015 driver: configures an SD-QKD node through RESTCONF by writing the
//! whole `etsi-qkd-sdn-node:qkd_node` resource.
//!
//! - prepare: build the node's 015 document from the generation's strata documents, check
//!   it, and read what the device has now;
//! - commit: `PUT` the document (its configuration leaves), read it back and check the
//!   device holds it; on any failure `PUT` back what the device had (or `DELETE` what it
//!   did not have) and fail the commit;
//! - abort: nothing was written, forget the staged document;
//! - telemetry: `qkdl_status` and `qkdl_performance` (`skr`, `eskr`, QBER from
//!   `phys_perf`) of the device's physical links, read at every sample.
//!
//! The backend's calls are synchronous; each request runs on the calling Tokio worker
//! with `block_in_place`, so the agent needs the multi-threaded runtime.

use super::restconf::{Answer, Restconf};
use crate::agent::Backend;
use crate::pb;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use strata_compiler::config::NodeConfig;
use strata_compiler::etsi015::model::{Document, identity_name};
use strata_compiler::etsi015::{QKD_NODE, document, ids};

/// What the driver holds between prepare and commit.
#[derive(Default)]
struct Held {
    /// The configuration the device was last given.
    running: NodeConfig,
    /// The document to write at commit.
    staged: Option<Value>,
    /// The device's resource as read at prepare (`None`: it had none).
    before: Option<Value>,
}

pub struct Etsi015Driver {
    device: Restconf,
    held: Mutex<Held>,
}

impl Etsi015Driver {
    pub fn new(device: Restconf) -> Etsi015Driver {
        Etsi015Driver {
            device,
            held: Mutex::new(Held::default()),
        }
    }

    fn path(&self) -> String {
        self.device.data_path(QKD_NODE)
    }

    fn call(&self, method: &str, body: Option<&Value>) -> Result<Answer, String> {
        let path = self.path();
        let run = || {
            tokio::runtime::Handle::try_current()
                .map_err(|_| "the 015 driver runs inside the agent's runtime".to_string())?
                .block_on(self.device.request(method, &path, body))
        };
        tokio::task::block_in_place(run)
    }

    /// The device's resource now (`None` when it has none).
    fn read(&self) -> Result<Option<Value>, String> {
        let a = self.call("GET", None)?;
        match a.status {
            200 => {
                Document::parse(&a.body.to_string())
                    .map_err(|e| format!("the device at {} sent {e}", self.device.url()))?;
                Ok(Some(a.body))
            }
            404 => Ok(None),
            _ => Err(self.device.refused("GET", &self.path(), &a)),
        }
    }

    fn write(&self, doc: &Value) -> Result<(), String> {
        let a = self.call("PUT", Some(doc))?;
        if matches!(a.status, 200 | 201 | 204) {
            Ok(())
        } else {
            Err(self.device.refused("PUT", &self.path(), &a))
        }
    }

    /// Puts the device back to `before`.
    fn restore(&self, before: &Option<Value>) -> Result<(), String> {
        match before {
            Some(doc) => self.write(&config_part(doc)),
            None => {
                let a = self.call("DELETE", None)?;
                if matches!(a.status, 200 | 204 | 404) {
                    Ok(())
                } else {
                    Err(self.device.refused("DELETE", &self.path(), &a))
                }
            }
        }
    }

    fn install_staged(&self, doc: &Value) -> Result<(), String> {
        self.write(doc)?;
        let back = self.read()?.ok_or_else(|| {
            format!(
                "the device at {} lost the document it accepted",
                self.device.url()
            )
        })?;
        holds(doc, &back).map_err(|e| {
            format!(
                "the device at {} accepted the document but {e}",
                self.device.url()
            )
        })
    }
}

/// The configuration leaves of a device's document, for writing it back.
fn config_part(doc: &Value) -> Value {
    match Document::parse(&doc.to_string()) {
        Ok(d) => serde_json::to_value(d.config_only()).unwrap_or_else(|_| doc.clone()),
        Err(_) => doc.clone(),
    }
}

/// Whether the device's document `back` holds what `sent` configures: the node id, every
/// link with its type and ends, every application with its peers.
fn holds(sent: &Value, back: &Value) -> Result<(), String> {
    let sent = Document::parse(&sent.to_string())?.qkd_node;
    let back = Document::parse(&back.to_string())?.qkd_node;
    if sent.qkdn_id != back.qkdn_id {
        return Err(format!(
            "reports qkdn_id {}, not {}",
            back.qkdn_id, sent.qkdn_id
        ));
    }
    for l in &sent.qkd_links.qkd_link {
        let Some(b) = back
            .qkd_links
            .qkd_link
            .iter()
            .find(|b| b.qkdl_id == l.qkdl_id)
        else {
            return Err(format!("does not report link {}", l.qkdl_id));
        };
        let kind = |x: &Option<String>| x.as_deref().map(identity_name).map(str::to_string);
        if kind(&l.qkdl_type) != kind(&b.qkdl_type)
            || l.qkdl_remote.as_ref().and_then(|e| e.qkdn_id.clone())
                != b.qkdl_remote.as_ref().and_then(|e| e.qkdn_id.clone())
            || l.virt_next_hop != b.virt_next_hop
            || l.virt_prev_hop != b.virt_prev_hop
        {
            return Err(format!(
                "reports link {} otherwise than it was written",
                l.qkdl_id
            ));
        }
    }
    for a in &sent.qkd_applications.qkd_app {
        let Some(b) = back
            .qkd_applications
            .qkd_app
            .iter()
            .find(|b| b.app_id == a.app_id)
        else {
            return Err(format!("does not report application {}", a.app_id));
        };
        if a.server_app_id != b.server_app_id || a.client_app_id != b.client_app_id {
            return Err(format!(
                "reports application {} otherwise than it was written",
                a.app_id
            ));
        }
    }
    Ok(())
}

impl Backend for Etsi015Driver {
    fn install(&self, _node: &str, config: &NodeConfig) {
        if let Ok(mut h) = self.held.lock() {
            h.running = config.clone();
        }
    }

    fn prepare(&self, node: &str, config: &NodeConfig) -> Result<(), String> {
        let doc = document(node, config).config_only();
        strata_compiler::etsi015::model::check(&doc)
            .map_err(|e| format!("the 015 document of node `{node}` is not valid: {e}"))?;
        let doc = serde_json::to_value(&doc).map_err(|e| e.to_string())?;
        let before = self.read()?;
        let mut h = self.held.lock().map_err(|_| "driver state poisoned")?;
        h.staged = Some(doc);
        h.before = before;
        Ok(())
    }

    fn commit(&self, _node: &str, config: &NodeConfig) -> Result<(), String> {
        let (doc, before) = {
            let mut h = self.held.lock().map_err(|_| "driver state poisoned")?;
            (h.staged.take(), h.before.take())
        };
        let doc = doc.ok_or("no 015 document was prepared")?;
        if let Err(e) = self.install_staged(&doc) {
            return Err(match self.restore(&before) {
                Ok(()) => format!("{e}; the device's previous document was put back"),
                Err(r) => format!("{e}; putting the previous document back failed too: {r}"),
            });
        }
        self.install("", config);
        Ok(())
    }

    fn abort(&self, _node: &str) {
        if let Ok(mut h) = self.held.lock() {
            h.staged = None;
            h.before = None;
        }
    }

    fn sample(&self, node: &str, generation: u64) -> pb::TelemetrySample {
        let cfg = self
            .held
            .lock()
            .map(|h| h.running.clone())
            .unwrap_or_default();
        let device = self.read();
        let up = device.is_ok();
        let doc = device
            .ok()
            .flatten()
            .and_then(|d| Document::parse(&d.to_string()).ok());
        let by_id: BTreeMap<String, &strata_compiler::config::QkdLinkConfig> = cfg
            .forwarding
            .qkd_links
            .iter()
            .map(|l| (ids::link(&l.qkdl_id), l))
            .collect();
        let mut links = Vec::new();
        if let Some(d) = &doc {
            for l in &d.qkd_node.qkd_links.qkd_link {
                let Some(c) = by_id.get(&l.qkdl_id) else {
                    continue;
                };
                let perf = l.qkdl_performance.clone().unwrap_or_default();
                let up = l
                    .qkdl_status
                    .as_deref()
                    .is_none_or(|s| identity_name(s) == "ACTIVE")
                    && l.qkdl_enable != Some(false);
                let qber = Document::qber(l).unwrap_or(c.qber);
                links.push(pb::LinkSample {
                    link: c.qkdl_id.clone(),
                    peer: c.remote_qkdn_id.clone(),
                    kind: "qkd".into(),
                    up,
                    skr: perf.skr.map_or(0.0, f64::from),
                    eskr: perf.eskr.map_or(0.0, f64::from),
                    qber,
                    pool: 0.0,
                    fidelity: 1.0 - qber,
                });
            }
        }
        let units = crate::agent::unmeasured_units(&cfg);
        pb::TelemetrySample {
            node: node.into(),
            generation,
            time_s: 0.0,
            up,
            links,
            units,
        }
    }

    fn fault(&self, _fault: &pb::FaultRequest) -> Result<(), String> {
        Err("faults can only be injected into the digital twin".into())
    }
}
