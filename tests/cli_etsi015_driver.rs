//! `strata agent --driver etsi015` against a deliberately minimal RESTCONF server written
//! here (std sockets, hand-parsed HTTP/1.1, one resource): apply writes a valid 015
//! document to every device, a device refusing a commit rolls the apply back everywhere,
//! and an unreachable device aborts it before anything is written. Then against the
//! twin's RESTCONF servers over HTTPS with the twin's CA and the controller's certificate.

mod common;
#[path = "common/yang.rs"]
mod yang;

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RESOURCE: &str = "/restconf/data/etsi-qkd-sdn-node:qkd_node";

/// One SD-QKD node's RESTCONF server, as little of one as a controller can talk to.
#[derive(Default)]
struct Device {
    doc: Mutex<Option<Value>>,
    /// Every write: (method, body).
    writes: Mutex<Vec<(String, Value)>>,
    refuse_put: AtomicBool,
    stopped: AtomicBool,
}

impl Device {
    fn start() -> (Arc<Device>, u16) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let dev = Arc::new(Device::default());
        let d = dev.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if d.stopped.load(Ordering::SeqCst) {
                    drop(stream);
                    continue;
                }
                let _ = d.serve(stream);
            }
        });
        (dev, port)
    }

    fn error(tag: &str, message: &str) -> Value {
        json!({"ietf-restconf:errors": {"error": [
            {"error-type": "application", "error-tag": tag, "error-message": message}
        ]}})
    }

    fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let mut length = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            if h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let (status, reply) = self.answer(&method, &path, &body);
        let text = reply.map(|v| v.to_string()).unwrap_or_default();
        let mut out = stream;
        write!(
            out,
            "HTTP/1.1 {status} X\r\nContent-Type: application/yang-data+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )?;
        out.flush()
    }

    fn answer(&self, method: &str, path: &str, body: &[u8]) -> (u16, Option<Value>) {
        if path != RESOURCE {
            return (404, Some(Self::error("invalid-value", "no such resource")));
        }
        let mut doc = self.doc.lock().unwrap();
        match method {
            "GET" => match &*doc {
                Some(d) => (200, Some(d.clone())),
                None => (404, Some(Self::error("invalid-value", "no qkd_node yet"))),
            },
            "PUT" => {
                let Ok(v) = serde_json::from_slice::<Value>(body) else {
                    return (400, Some(Self::error("malformed-message", "not JSON")));
                };
                if v.get("etsi-qkd-sdn-node:qkd_node").is_none() {
                    return (
                        400,
                        Some(Self::error("malformed-message", "not a qkd_node")),
                    );
                }
                self.writes.lock().unwrap().push(("PUT".into(), v.clone()));
                if self.refuse_put.load(Ordering::SeqCst) {
                    return (
                        500,
                        Some(Self::error("operation-failed", "optical switch busy")),
                    );
                }
                let created = doc.is_none();
                *doc = Some(v);
                (if created { 201 } else { 204 }, None)
            }
            "DELETE" => {
                self.writes
                    .lock()
                    .unwrap()
                    .push(("DELETE".into(), Value::Null));
                match doc.take() {
                    Some(_) => (204, None),
                    None => (404, Some(Self::error("invalid-value", "nothing to delete"))),
                }
            }
            _ => (405, Some(Self::error("operation-not-supported", method))),
        }
    }

    fn doc(&self) -> Option<Value> {
        self.doc.lock().unwrap().clone()
    }

    fn puts(&self) -> usize {
        self.writes.lock().unwrap().len()
    }
}

struct Agent(Child);

impl Agent {
    fn start(node: &str, port: u16, device: u16, dir: &std::path::Path) -> Agent {
        Self::start_with(node, port, &format!("http://127.0.0.1:{device}"), &[], dir)
    }

    fn start_with(
        node: &str,
        port: u16,
        device: &str,
        tls: &[&str],
        dir: &std::path::Path,
    ) -> Agent {
        let child = bin()
            .args([
                "agent",
                "--node",
                node,
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--state-dir",
                dir.to_str().unwrap(),
                "--driver",
                "etsi015",
                "--device",
                device,
                // The control channel is not what this test is about: a plaintext agent.
                "--insecure-dev",
            ])
            .args(tls)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "agent {node} did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Agent(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const NETWORK: &str = "name: trio\ndomains: [{ name: d, operator: Op, trust: trusted }]\nnodes:\n  - { name: A, domain: d, role: endpoint }\n  - { name: R, domain: d, role: trusted-relay }\n  - { name: B, domain: d, role: endpoint }\nclassical_links:\n  - { name: c1, ends: [A, R], bandwidth_bps: 1.0e9, latency_ms: 1 }\n  - { name: c2, ends: [R, B], bandwidth_bps: 1.0e9, latency_ms: 1 }\nqkd_links:\n  - { name: q1, ends: [A, R], length_km: 20, skr_bps: 1.0e5, qber: 0.02, classical_path: [c1] }\n  - { name: q2, ends: [R, B], length_km: 20, skr_bps: 1.0e5, qber: 0.02, classical_path: [c2] }\n";

#[test]
fn apply_writes_015_documents_and_a_refused_commit_rolls_back_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("net.yaml"), NETWORK).unwrap();
    let write_qi = |rate: u32| {
        let qi = dir.path().join(format!("x{rate}.qi"));
        std::fs::write(
            &qi,
            format!(
                "use network \"net.yaml\"\nintent x: keys of 256 bits between A and B, {rate}/s\n"
            ),
        )
        .unwrap();
        qi.to_str().unwrap().to_string()
    };
    let (q10, q12, q14) = (write_qi(10), write_qi(12), write_qi(14));
    let state_dir = dir.path().join("agents");
    let mut devices = Vec::new();
    let mut agents = Vec::new();
    let mut addrs = Vec::new();
    for node in ["A", "R", "B"] {
        let (dev, dport) = Device::start();
        let port = free_port();
        agents.push(Agent::start(node, port, dport, &state_dir));
        devices.push((node, dev));
        addrs.push(format!("\"{node}\": \"127.0.0.1:{port}\""));
    }
    let agents_file = dir.path().join("agents.json");
    std::fs::write(
        &agents_file,
        format!(
            "{{\"network\": \"trio\", \"agents\": {{{}}}}}",
            addrs.join(", ")
        ),
    )
    .unwrap();
    let state = dir.path().join("state.json");
    let (ag, st) = (agents_file.to_str().unwrap(), state.to_str().unwrap());
    let apply = |qi: &str| {
        strata(&[
            "apply",
            qi,
            "--agents",
            ag,
            "--state",
            st,
            "--intervals",
            "1",
        ])
    };

    // Generation 1: every device holds a document valid against the ETSI modules.
    let first = apply(&q10);
    assert!(
        text(&first).contains("applied generation 1"),
        "{}",
        text(&first)
    );
    let mut gen1 = Vec::new();
    for (node, dev) in &devices {
        let doc = dev
            .doc()
            .unwrap_or_else(|| panic!("device {node} got nothing"));
        let s = serde_json::to_string_pretty(&doc).unwrap();
        yang::validate(yang::Modules::WhenPrefixed, "config", &s)
            .unwrap_or_else(|e| panic!("{node}: {e}\n{s}"));
        yang::validate(
            yang::Modules::Published,
            "config",
            &yang::without_when_guarded(&s),
        )
        .unwrap_or_else(|e| panic!("{node}: {e}\n{s}"));
        assert_eq!(doc["etsi-qkd-sdn-node:qkd_node"]["qkdn_location_id"], *node);
        gen1.push(doc);
    }
    let relay = &gen1[1]["etsi-qkd-sdn-node:qkd_node"]["qkd_links"]["qkd_link"];
    assert!(
        relay
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["qkdl_type"] == "etsi-qkd-node-types:VIRT" && l["virt_bandwidth"] == 2560),
        "the relay R carries x's virtual link at 10 × 256 bit/s: {relay}"
    );

    // The relay's device refuses the next write: nobody keeps generation 2.
    devices[1].1.refuse_put.store(true, Ordering::SeqCst);
    let refused = apply(&q12);
    assert_ne!(refused.status.code(), Some(0), "{}", text(&refused));
    assert!(
        text(&refused).contains("optical switch busy"),
        "the device's own message reaches the operator: {}",
        text(&refused)
    );
    for ((node, dev), before) in devices.iter().zip(&gen1) {
        assert_eq!(
            dev.doc().as_ref(),
            Some(before),
            "device {node} is back on generation 1"
        );
    }
    let status = strata(&[
        "status", "--agents", ag, "--state", st, "--json", "--wait", "1",
    ]);
    let json: Value =
        serde_json::from_slice(&status.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&status)));
    for n in json["nodes"].as_array().unwrap() {
        assert_eq!(n["generation"], 1, "{json:#}");
    }

    // An unreachable device fails the prepare: the apply aborts before any write.
    devices[1].1.refuse_put.store(false, Ordering::SeqCst);
    devices[2].1.stopped.store(true, Ordering::SeqCst);
    let writes: Vec<usize> = devices.iter().map(|(_, d)| d.puts()).collect();
    let aborted = apply(&q14);
    assert_ne!(aborted.status.code(), Some(0), "{}", text(&aborted));
    assert!(text(&aborted).contains("device"), "{}", text(&aborted));
    let after: Vec<usize> = devices.iter().map(|(_, d)| d.puts()).collect();
    assert_eq!(writes, after, "nothing was written to any device");

    // Back up, the same change goes through. Generation 2 was decided and rolled back, so
    // its number is never reused for other contents: the change lands as generation 3.
    devices[2].1.stopped.store(false, Ordering::SeqCst);
    let second = apply(&q14);
    assert!(
        text(&second).contains("applied generation 3"),
        "{}",
        text(&second)
    );
    let b = devices[2].1.doc().unwrap();
    let app = &b["etsi-qkd-sdn-node:qkd_node"]["qkd_applications"]["qkd_app"][0];
    assert_eq!(app["app_qos"]["min_bandwidth"], 14 * 256);
    drop(agents);
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET of a twin node's resource with the controller's certificate.
fn twin_get(url: &str, r: &Value) -> Value {
    let a = twin_request(url, r);
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

/// GET of a twin node's resource with the certificate and key `r` names.
fn twin_request(url: &str, r: &Value) -> strata_runtime::agent::driver::restconf::Answer {
    use strata_runtime::agent::driver::restconf::{Restconf, TlsFiles};
    let tls = TlsFiles {
        ca: Some(r["ca"].as_str().unwrap().into()),
        cert: Some(r["cert"].as_str().unwrap().into()),
        key: Some(r["key"].as_str().unwrap().into()),
    };
    let client = Restconf::new(url, &tls).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(client.request("GET", RESOURCE, None)).unwrap()
}

#[test]
fn the_driver_configures_the_twins_restconf_nodes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("net.yaml"), NETWORK).unwrap();
    let qi = dir.path().join("x.qi");
    std::fs::write(
        &qi,
        "use network \"net.yaml\"\nintent x: keys of 256 bits between A and B, 10/s\n",
    )
    .unwrap();
    let twin_file = dir.path().join("twin.json");
    let _twin = Process(
        bin()
            .args(["twin", "up", dir.path().join("net.yaml").to_str().unwrap()])
            .args(["--agents-file", twin_file.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    let restconf = loop {
        if let Ok(text) = std::fs::read_to_string(&twin_file)
            && let Ok(v) = serde_json::from_str::<Value>(&text)
            && v["restconf"].is_object()
        {
            break v["restconf"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "twin did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let tls: Vec<String> = ["ca", "cert", "key"]
        .iter()
        .flat_map(|k| {
            [
                format!("--device-{k}"),
                restconf[*k].as_str().unwrap().to_string(),
            ]
        })
        .collect();
    let tls: Vec<&str> = tls.iter().map(String::as_str).collect();
    let state_dir = dir.path().join("agents");
    let mut agents = Vec::new();
    let mut addrs = Vec::new();
    for node in ["A", "R", "B"] {
        let port = free_port();
        let url = restconf["nodes"][node].as_str().unwrap();
        assert!(url.starts_with("https://"), "{url}");
        agents.push(Agent::start_with(node, port, url, &tls, &state_dir));
        addrs.push(format!("\"{node}\": \"127.0.0.1:{port}\""));
    }
    let drivers = dir.path().join("drivers.json");
    std::fs::write(
        &drivers,
        format!(
            "{{\"network\": \"trio\", \"agents\": {{{}}}}}",
            addrs.join(", ")
        ),
    )
    .unwrap();
    let state = dir.path().join("state.json");
    let applied = strata(&[
        "apply",
        qi.to_str().unwrap(),
        "--agents",
        drivers.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--intervals",
        "1",
    ]);
    assert!(
        text(&applied).contains("applied generation 1"),
        "{}",
        text(&applied)
    );
    for node in ["A", "R", "B"] {
        let doc = twin_get(restconf["nodes"][node].as_str().unwrap(), &restconf);
        let s = serde_json::to_string_pretty(&doc).unwrap();
        yang::validate(yang::Modules::WhenPrefixed, "data", &s)
            .unwrap_or_else(|e| panic!("{node}: {e}\n{s}"));
        let n = &doc["etsi-qkd-sdn-node:qkd_node"];
        assert_eq!(n["qkdn_location_id"], node, "{s}");
        for l in n["qkd_links"]["qkd_link"].as_array().unwrap() {
            if l["qkdl_type"] == "etsi-qkd-node-types:PHYS" {
                assert_eq!(l["qkdl_status"], "etsi-qkd-node-types:ACTIVE", "{s}");
                assert!(l["qkdl_performance"]["skr"].as_u64().unwrap() > 0, "{s}");
            }
        }
        if node != "R" {
            assert_eq!(
                n["qkd_applications"]["qkd_app"].as_array().unwrap().len(),
                1,
                "{s}"
            );
        }
    }

    // A cut link shows in the node's live state.
    let cut = strata(&[
        "twin",
        "fault",
        "--agents",
        twin_file.to_str().unwrap(),
        "cut",
        "q2",
    ]);
    assert_eq!(cut.status.code(), Some(0), "{}", text(&cut));
    let b = twin_get(restconf["nodes"]["B"].as_str().unwrap(), &restconf);
    let q2 = b["etsi-qkd-sdn-node:qkd_node"]["qkd_links"]["qkd_link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["qkdl_type"] == "etsi-qkd-node-types:PHYS")
        .cloned()
        .unwrap();
    assert_eq!(q2["qkdl_status"], "etsi-qkd-node-types:OFF", "{q2}");

    // The driver's telemetry reads the device: q2 down at B, q1 up with its rate at A.
    let sample = |port: &str| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let mut c =
                strata_runtime::pb::agent_client::AgentClient::connect(format!("http://{port}"))
                    .await
                    .unwrap();
            let mut stream = c
                .telemetry(strata_runtime::pb::TelemetryRequest { interval_ms: 0 })
                .await
                .unwrap()
                .into_inner();
            stream.message().await.unwrap().unwrap()
        })
    };
    let ports: Vec<String> = addrs
        .iter()
        .map(|a| a.rsplit('"').nth(1).unwrap().to_string())
        .collect();
    let at_b = sample(&ports[2]);
    let q2 = at_b.links.iter().find(|l| l.link == "q2").unwrap();
    assert!(!q2.up, "{at_b:?}");
    let at_a = sample(&ports[0]);
    let q1 = at_a.links.iter().find(|l| l.link == "q1").unwrap();
    assert!(q1.up && q1.skr > 0.0 && q1.qber > 0.0, "{at_a:?}");

    // An SAE's certificate is not the controller's: the node refuses it.
    let kme = strata_runtime::kme::KmeDirectory::load(&twin_file).unwrap();
    let sae = &kme.saes["A"];
    let mut as_sae = restconf.clone();
    as_sae["cert"] = Value::from(sae.cert.to_str().unwrap());
    as_sae["key"] = Value::from(sae.key.to_str().unwrap());
    let refused = twin_request(restconf["nodes"]["A"].as_str().unwrap(), &as_sae);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        refused.body["ietf-restconf:errors"]["error"][0]["error-tag"],
        "access-denied"
    );
    drop(agents);
}
