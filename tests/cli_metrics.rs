//! `/metrics` of `strata run --metrics` and `strata twin up --metrics`, fetched over HTTP
//! and read back with an independent Prometheus text parser (`prometheus-parse`): every
//! intent of the intent file, every link and node of the inventory, counters ending in
//! `_total`, units at the end of the names, and the series following a cut link.

mod common;

use common::*;
use prometheus_parse::{Sample, Scrape, Value};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `strata ARGS` and returns it with the first line of its output (stdout or
/// stderr) that holds `marker`.
fn start_until(args: &[&str], marker: &str) -> (Killed, String) {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(marker) => {
                // Keep draining so the child never blocks on a full pipe.
                std::thread::spawn(move || while rx.recv().is_ok() {});
                return (Killed(child), line);
            }
            Ok(line) => seen.push(line),
            Err(_) => panic!(
                "`strata {}` never said `{marker}`:\n{}",
                args.join(" "),
                seen.join("\n")
            ),
        }
    }
}

/// The `host:port` in a line `… http://HOST:PORT/metrics`.
fn metrics_addr(line: &str) -> String {
    let start = line.find("http://").expect("a metrics URL") + "http://".len();
    let rest = &line[start..];
    rest[..rest.find("/metrics").expect("a /metrics path")].to_string()
}

/// `GET path` over plain HTTP/1.1: status line, headers and body.
fn get(addr: &str, path: &str) -> (String, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (status.to_string(), headers.to_lowercase(), body.to_string())
}

fn fetch_metrics(addr: &str) -> (String, Scrape) {
    let (status, headers, body) = get(addr, "/metrics");
    assert!(status.contains(" 200 "), "{status}");
    assert!(
        headers.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{headers}"
    );
    let parsed = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("parses");
    (body, parsed)
}

fn gauge(s: &Sample) -> f64 {
    match s.value {
        Value::Gauge(v) | Value::Counter(v) | Value::Untyped(v) => v,
        _ => panic!("{} is not a single value", s.metric),
    }
}

fn samples<'a>(scrape: &'a Scrape, metric: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
    scrape.samples.iter().filter(move |s| s.metric == metric)
}

fn label<'a>(s: &'a Sample, name: &str) -> &'a str {
    s.labels.get(name).unwrap_or("")
}

/// Names in the inventory's list `key` (nodes, qkd_links, entanglement_links).
fn inventory_names(network: &str, key: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(network);
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc[key]
        .as_sequence()
        .map(|s| {
            s.iter()
                .map(|n| n["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The Prometheus conventions every family must follow: the `strata_` prefix, counters
/// exposed as `_total`, a declared unit at the end of the name, HELP for every family, and
/// the network label on every series.
fn assert_conventions(body: &str, scrape: &Scrape, network: &str) {
    assert!(
        body.trim_end().ends_with("# EOF"),
        "OpenMetrics ends in # EOF"
    );
    let mut types = std::collections::BTreeMap::new();
    for line in body.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["#", "TYPE", name, kind] => {
                assert!(name.starts_with("strata_"), "{line}");
                types.insert(name.to_string(), kind.to_string());
            }
            ["#", "UNIT", name, unit] => {
                assert!(name.ends_with(&format!("_{unit}")), "{line}");
            }
            _ => {}
        }
    }
    for (name, kind) in &types {
        assert!(
            scrape.docs.contains_key(name.as_str()),
            "no HELP for {name}"
        );
        if kind == "counter" {
            assert!(
                body.lines()
                    .any(|l| l.starts_with(&format!("{name}_total"))),
                "counter {name} has no _total sample"
            );
        }
    }
    for s in &scrape.samples {
        assert_eq!(label(s, "network"), network, "{}", s.metric);
    }
}

#[test]
fn run_serves_every_intent_link_and_node_and_follows_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.json");
    let state = dir.path().join("state.json");
    let (_twin, _) = start_until(
        &[
            "twin",
            "up",
            "examples/metro/network.yaml",
            "--speed",
            "20",
            "--no-kme",
            "--agents-file",
            agents.to_str().unwrap(),
        ],
        "stop with Ctrl-C",
    );
    let (_run, line) = start_until(
        &[
            "run",
            "intents/metro.qi",
            "--agents",
            agents.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
            "--hold-off",
            "1000",
        ],
        "/metrics",
    );
    let addr = metrics_addr(&line);
    let (status, _, _) = get(&addr, "/elsewhere");
    assert!(status.contains(" 404 "), "{status}");

    // The intents the file declares.
    let intents: BTreeSet<String> =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("intents/metro.qi"))
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("intent "))
            .map(|l| l.split([':', ' ']).next().unwrap().to_string())
            .collect();
    assert!(!intents.is_empty());

    // Wait for every intent to be installed.
    let mut last = None;
    for _ in 0..600 {
        let (body, scrape) = fetch_metrics(&addr);
        let installed: BTreeSet<String> = samples(&scrape, "strata_intent_state")
            .filter(|s| label(s, "state") == "installed" && gauge(s) == 1.0)
            .map(|s| label(s, "intent").to_string())
            .collect();
        if installed == intents {
            last = Some((body, scrape));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (body, scrape) = last.expect("every intent installed, as /metrics says");
    assert_conventions(&body, &scrape, "madrid-metro");

    // One state per intent, out of the five.
    for intent in &intents {
        let states: Vec<&Sample> = samples(&scrape, "strata_intent_state")
            .filter(|s| label(s, "intent") == intent)
            .collect();
        assert_eq!(states.len(), 5, "{intent}");
        assert_eq!(states.iter().map(|s| gauge(s)).sum::<f64>(), 1.0);
        for metric in [
            "strata_intent_requested_keys_per_second",
            "strata_intent_target_keys_per_second",
            "strata_intent_measured_keys_per_second",
            "strata_intent_fidelity_ratio",
        ] {
            let v: Vec<f64> = samples(&scrape, metric)
                .filter(|s| label(s, "intent") == intent)
                .map(gauge)
                .collect();
            assert_eq!(v.len(), 1, "{metric} {intent}");
            assert!(v[0] > 0.0, "{metric} {intent}");
        }
    }
    // Measured at least what was admitted, less the tolerance, for an installed intent.
    for s in samples(&scrape, "strata_intent_measured_keys_per_second") {
        let target = samples(&scrape, "strata_intent_target_keys_per_second")
            .find(|t| label(t, "intent") == label(s, "intent"))
            .map(gauge)
            .unwrap();
        assert!(gauge(s) >= target * 0.99, "{}", label(s, "intent"));
    }

    // Every QKD link of the inventory, from both of its ends.
    let links = inventory_names("examples/metro/network.yaml", "qkd_links");
    for metric in [
        "strata_qkd_link_secret_key_rate_bits_per_second",
        "strata_qkd_link_effective_secret_key_rate_bits_per_second",
        "strata_qkd_link_qber_ratio",
        "strata_qkd_link_key_pool_bits",
        "strata_qkd_link_up",
    ] {
        let seen: BTreeSet<String> = samples(&scrape, metric)
            .map(|s| label(s, "link").to_string())
            .collect();
        assert_eq!(seen, links, "{metric}");
        assert_eq!(
            samples(&scrape, metric).count(),
            2 * links.len(),
            "{metric}"
        );
    }
    for s in samples(&scrape, "strata_qkd_link_qber_ratio") {
        assert!((0.0..0.11).contains(&gauge(s)), "{s:?}");
    }
    // Every node up, on the generation the state file records.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let generation = saved["generation"].as_f64().unwrap();
    let nodes = inventory_names("examples/metro/network.yaml", "nodes");
    let up: BTreeSet<String> = samples(&scrape, "strata_node_up")
        .filter(|s| gauge(s) == 1.0)
        .map(|s| label(s, "node").to_string())
        .collect();
    assert_eq!(up, nodes);
    let controller = |scrape: &Scrape, m: &str| samples(scrape, m).map(gauge).next().unwrap();
    assert_eq!(
        controller(&scrape, "strata_controller_generation"),
        generation
    );
    assert_eq!(controller(&scrape, "strata_controller_leader"), 1.0);
    let count = controller(&scrape, "strata_controller_apply_duration_seconds_count");
    assert!(count >= 1.0, "{body}");

    // A cut link shows down, and the loop re-plans around it.
    let used = saved["summary"]["intents"][0]["paths"][0]["links"][0]
        .as_str()
        .expect("the first intent's first link");
    assert!(links.contains(used));
    let cut = strata(&[
        "twin",
        "fault",
        "cut",
        used,
        "--agents",
        agents.to_str().unwrap(),
    ]);
    assert!(cut.status.success(), "{}", text(&cut));
    let mut followed = false;
    for _ in 0..600 {
        let (_, scrape) = fetch_metrics(&addr);
        let down = samples(&scrape, "strata_qkd_link_up")
            .filter(|s| label(s, "link") == used)
            .all(|s| gauge(s) == 0.0);
        let replans = samples(&scrape, "strata_controller_replans_total")
            .map(gauge)
            .next()
            .unwrap_or(0.0);
        if down && replans >= 1.0 {
            followed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        followed,
        "the cut link never showed down with a re-plan counted"
    );
}

#[test]
fn twin_up_serves_its_entanglement_links_and_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.json");
    let network = "examples/continental/network.yaml";
    let (_twin, line) = start_until(
        &[
            "twin",
            "up",
            network,
            "--speed",
            "20",
            "--no-kme",
            "--agents-file",
            agents.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
        ],
        "/metrics",
    );
    let addr = metrics_addr(&line);
    let links = inventory_names(network, "entanglement_links");
    let nodes = inventory_names(network, "nodes");
    assert!(!links.is_empty());
    let mut ok = None;
    for _ in 0..600 {
        let (body, scrape) = fetch_metrics(&addr);
        let seen: BTreeSet<String> = samples(&scrape, "strata_entanglement_link_up")
            .map(|s| label(s, "link").to_string())
            .collect();
        let up: BTreeSet<String> = samples(&scrape, "strata_node_up")
            .filter(|s| gauge(s) == 1.0)
            .map(|s| label(s, "node").to_string())
            .collect();
        if seen == links && up == nodes {
            ok = Some((body, scrape));
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (body, scrape) = ok.expect("every entanglement link and node reported");
    assert_conventions(&body, &scrape, "continental");
    for s in samples(&scrape, "strata_entanglement_link_fidelity_ratio") {
        assert!((0.25..=1.0).contains(&gauge(s)), "{s:?}");
    }
    for s in samples(
        &scrape,
        "strata_entanglement_link_pair_rate_pairs_per_second",
    ) {
        assert!(gauge(s) > 0.0, "{s:?}");
    }
    // Nothing applied to the twin yet: generation 0 everywhere, and no controller leads.
    for s in samples(&scrape, "strata_node_generation") {
        assert_eq!(gauge(s), 0.0);
    }
}

/// The metric families `strata run FILE --metrics` declares once its intents have a state.
fn families_of_run(intents: &str) -> BTreeSet<String> {
    let (_run, line) = start_until(
        &["run", intents, "--metrics", "127.0.0.1:0", "--speed", "50"],
        "/metrics",
    );
    let addr = metrics_addr(&line);
    for _ in 0..600 {
        let (body, scrape) = fetch_metrics(&addr);
        if samples(&scrape, "strata_intent_state").count() > 0
            && samples(&scrape, "strata_node_up").count() > 0
        {
            return body
                .lines()
                .filter_map(|l| l.strip_prefix("# TYPE "))
                .map(|l| l.split(' ').next().unwrap().to_string())
                .collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("`strata run {intents}` never reported its intents on /metrics");
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_strata_serves() {
    let mut families = families_of_run("intents/metro.qi");
    families.extend(families_of_run("intents/continental.qi"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/grafana/strata-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v.as_str()) {
                        ("expr" | "definition", Some(e)) => out.push(e.to_string()),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&dashboard, &mut exprs);
    assert!(exprs.len() >= 15, "{exprs:?}");
    let mut used = BTreeSet::new();
    for e in &exprs {
        let mut rest = e.as_str();
        while let Some(at) = rest.find("strata_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            used.insert(name);
        }
    }
    for name in &used {
        let family = ["_bucket", "_total", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| families.contains(*f)))
            .unwrap_or(name);
        assert!(
            families.contains(family),
            "the dashboard queries `{name}`, which strata does not serve ({families:?})"
        );
    }
    // Every family strata serves appears on the dashboard.
    for family in &families {
        assert!(
            used.iter().any(|u| u.starts_with(family.as_str())),
            "the dashboard shows nothing of `{family}`"
        );
    }
}
