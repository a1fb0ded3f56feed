//! `strata compile` writes an ETSI GS QKD 015 document per node with QKD links; it
//! validates against the ETSI YANG modules with yanglint, carries the standard's
//! identities and name-derived UUIDs, and `strata verify` checks it against the strata
//! documents.

mod common;
#[path = "common/yang.rs"]
mod yang;

use common::*;
use serde_json::Value;
use std::path::Path;
use yang::{Modules, validate, without_when_guarded};

fn compile(intents: &str, out: &Path) {
    let o = strata(&["compile", intents, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// (node directory, document text) of every `qkd_node.json` under `dir`.
fn documents(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let f = e.path().join("qkd_node.json");
        if f.is_file() {
            out.push((
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(f).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

/// A version 5 UUID in the URL namespace (RFC 9562 §5.5), computed here with a SHA-1 of
/// its own rather than the `uuid` crate strata uses.
fn uuid5(name: &str) -> String {
    let ns = [
        0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];
    let mut h = sha1_smol::Sha1::new();
    h.update(&ns);
    h.update(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.digest().bytes()[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[test]
fn every_metro_document_validates_against_the_etsi_modules() {
    let dir = tempfile::tempdir().unwrap();
    compile("intents/metro.qi", dir.path());
    let docs = documents(dir.path());
    assert!(
        docs.len() >= 8,
        "one document per node with QKD links: {docs:?}"
    );
    let mut virt = 0;
    for (node, text) in &docs {
        // Every leaf the published text can accept, validated against it unchanged.
        validate(Modules::Published, "data", &without_when_guarded(text))
            .unwrap_or_else(|e| panic!("{node}: {e}\n{text}"));
        // The whole document, with the `when` conditions comparing to the prefixed identity.
        validate(Modules::WhenPrefixed, "data", text)
            .unwrap_or_else(|e| panic!("{node}: {e}\n{text}"));
        let v: Value = serde_json::from_str(text).unwrap();
        let links = v["etsi-qkd-sdn-node:qkd_node"]["qkd_links"]["qkd_link"]
            .as_array()
            .unwrap();
        virt += links
            .iter()
            .filter(|l| l["qkdl_type"] == "etsi-qkd-node-types:VIRT")
            .count();
    }
    assert!(virt > 0, "the metro intents relay keys over trusted nodes");
}

#[test]
fn broken_documents_are_rejected_by_the_validator() {
    let dir = tempfile::tempdir().unwrap();
    compile("intents/metro.qi", dir.path());
    let (_, text) = documents(dir.path()).remove(0);
    for (from, to) in [
        ("etsi-qkd-node-types:PHYS", "etsi-qkd-node-types:DIRECT"),
        ("\"qkdn_id\": \"", "\"qkdn_id\": \"not-a-uuid-"),
        ("\"skr\": ", "\"skr\": -"),
    ] {
        assert!(text.contains(from), "{from}");
        let broken = text.replacen(from, to, 1);
        assert!(
            validate(Modules::WhenPrefixed, "data", &broken).is_err(),
            "yanglint accepted {to}"
        );
    }
    // State leaves are not configuration.
    assert!(validate(Modules::WhenPrefixed, "config", &text).is_err());
}

#[test]
fn metro_identities_and_ids_follow_the_standard() {
    let dir = tempfile::tempdir().unwrap();
    compile("intents/metro.qi", dir.path());
    let text = std::fs::read_to_string(dir.path().join("Norte/qkd_node.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let n = &v["etsi-qkd-sdn-node:qkd_node"];
    assert_eq!(n["qkdn_id"], uuid5("urn:strata:qkdn:Norte").as_str());
    assert_eq!(n["qkdn_location_id"], "Norte");
    let links = n["qkd_links"]["qkd_link"].as_array().unwrap();
    let forwarding = std::fs::read_to_string(dir.path().join("Norte/forwarding.yaml")).unwrap();
    let fw: serde_yaml::Value = serde_yaml::from_str(&forwarding).unwrap();
    for l in fw["qkd_links"].as_sequence().unwrap() {
        let name = l["qkdl_id"].as_str().unwrap();
        let id = uuid5(&format!("urn:strata:qkdl:{name}"));
        let d = links
            .iter()
            .find(|x| x["qkdl_id"] == id.as_str())
            .unwrap_or_else(|| panic!("PHYS link {name}"));
        assert_eq!(d["qkdl_type"], "etsi-qkd-node-types:PHYS");
        assert_eq!(
            d["qkdl_remote"]["qkdn_id"],
            uuid5(&format!(
                "urn:strata:qkdn:{}",
                l["remote_qkdn_id"].as_str().unwrap()
            ))
            .as_str()
        );
        assert_eq!(
            d["qkdl_performance"]["skr"].as_f64().unwrap(),
            l["skr"].as_f64().unwrap().round()
        );
        assert_eq!(
            d["qkdl_performance"]["phys_perf"][0]["perf_type"],
            "etsi-qkd-node-types:QBER"
        );
    }
    // Norte relays: every relayed path through it has a VIRT link with both hops.
    let relays: Vec<&Value> = links
        .iter()
        .filter(|l| l["qkdl_type"] == "etsi-qkd-node-types:VIRT")
        .collect();
    let through = fw["forwarding_table"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|e| !e["virt_prev_hop"].is_null() && !e["virt_next_hop"].is_null())
        .count();
    assert_eq!(relays.len(), through, "{text}");
    for r in relays {
        assert!(r["virt_prev_hop"].is_string() && r["virt_next_hop"].is_array());
        assert!(r["virt_bandwidth"].as_u64().unwrap() > 0);
    }
}

#[test]
fn applications_carry_the_intent_at_both_ends() {
    let dir = tempfile::tempdir().unwrap();
    compile("intents/metro.qi", dir.path());
    let app = |node: &str| -> Value {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(node).join("qkd_node.json")).unwrap(),
        )
        .unwrap();
        v["etsi-qkd-sdn-node:qkd_node"]["qkd_applications"]["qkd_app"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["app_id"] == uuid5("urn:strata:app:vpn-core").as_str())
            .cloned()
            .unwrap_or_else(|| panic!("vpn-core at {node}"))
    };
    let (m, s) = (app("Distrito-Telefonica"), app("Moncloa"));
    assert_eq!(m["app_type"], "etsi-qkd-node-types:CLIENT");
    assert_eq!(m["server_app_id"], s["server_app_id"]);
    assert_eq!(m["client_app_id"], s["client_app_id"]);
    assert_eq!(m["local_qkdn_id"], s["remote_qkdn_id"]);
    // 10 keys/s of 256 bits.
    assert_eq!(m["app_qos"]["min_bandwidth"], 2560);
    assert!(!m["backing_qkdl_id"].as_array().unwrap().is_empty());
}

#[test]
fn verify_checks_the_015_documents_against_the_strata_ones() {
    let dir = tempfile::tempdir().unwrap();
    compile("intents/metro.qi", dir.path());
    let cfg = dir.path().to_str().unwrap();
    let ok = strata(&["verify", "intents/metro.qi", "--config", cfg]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));

    let file = dir.path().join("Norte/qkd_node.json");
    let original = std::fs::read_to_string(&file).unwrap();
    let mut v: Value = serde_json::from_str(&original).unwrap();
    let skr =
        &mut v["etsi-qkd-sdn-node:qkd_node"]["qkd_links"]["qkd_link"][0]["qkdl_performance"]["skr"];
    *skr = Value::from(skr.as_u64().unwrap() + 1000);
    std::fs::write(&file, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    let bad = strata(&["verify", "intents/metro.qi", "--config", cfg, "--json"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let found: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["code"] == "strata::verify-etsi015"
                && x["node"] == "Norte"
                && x["message"].as_str().unwrap().contains("skr")),
        "{found}"
    );

    std::fs::remove_file(&file).unwrap();
    let missing = strata(&["verify", "intents/metro.qi", "--config", cfg]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing).contains("qkd_node.json"),
        "{}",
        text(&missing)
    );
}
