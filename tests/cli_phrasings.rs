//! What `strata check` says about the phrasings a newcomer writes: the accepted ones check
//! clean, and each near miss gets one diagnostic, with the form to write and readable
//! numbers.

mod common;

use common::*;
use serde_json::Value;

/// Checks `intent` (one line) against the metro network; returns the diagnostics.
fn check(intent: &str, compile: bool) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.qi");
    std::fs::write(
        &file,
        format!(
            "use network \"{}/examples/metro/network.yaml\"\n{intent}\n",
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let mut args = vec!["check", "--format", "json"];
    if !compile {
        args.push("--no-compile");
    }
    args.push(file);
    let out = strata(&args);
    let json: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    json["diagnostics"].as_array().unwrap().clone()
}

const HEAD: &str = "intent a: keys of 256 bits between Distrito-Telefonica and Moncloa";

#[test]
fn operators_phrasings_check_clean() {
    for tail in [
        "at least 10/s",
        "rate >= 10/s and <= 20/s",
        "10/s, fidelity 90%",
        "10/s, fidelity >= 90 %",
        "10/s, latency <= 500 µs",
        "10/s, latency <= 500 us",
        "10/s, valid for 1h30min",
        "10/s, valid for 1 hour",
        "10/s, valid for 2 minutes",
        "10 Hz",
        "10/s, avoid nodes Quintin, Getafe",
    ] {
        let diags = check(&format!("{HEAD}, {tail}"), false);
        assert!(diags.is_empty(), "{tail}: {diags:#?}");
    }
    let diags = check(
        "intent a: keys of 256 bits from Distrito-Telefonica to Moncloa, 10/s",
        false,
    );
    assert!(diags.is_empty(), "{diags:#?}");
}

/// The one diagnostic of `intent`.
#[track_caller]
fn one(intent: &str, compile: bool) -> Value {
    let diags = check(intent, compile);
    assert_eq!(diags.len(), 1, "{intent}: {diags:#?}");
    diags[0].clone()
}

#[test]
fn an_upper_bound_alone_is_a_missing_rate() {
    let d = one(&format!("{HEAD}, rate <= 20/s"), true);
    assert_eq!(d["code"], "strata::missing-rate");
    assert!(
        d["help"].as_str().unwrap().contains("rate >= 10/s"),
        "{d:#}"
    );
}

#[test]
fn one_mistake_is_one_diagnostic_with_the_accepted_form() {
    let d = one(
        "intent a: keys 256 bits between Distrito-Telefonica and Moncloa, rate >= 20/s",
        false,
    );
    assert_eq!(d["code"], "strata::key-size");
    assert!(
        d["help"].as_str().unwrap().contains("`keys of 256 bits`"),
        "{d:#}"
    );

    let d = one(&format!("{HEAD}, 10/s, valid for 2h 15min"), false);
    assert_eq!(d["code"], "strata::wrong-dimension");
    assert!(
        d["help"].as_str().unwrap().contains("`valid for 2h15min`"),
        "{d:#}"
    );

    let d = one(&format!("{HEAD}, 10 keys per second"), false);
    assert_eq!(d["code"], "strata::syntax");
    assert!(d["help"].as_str().unwrap().contains("`10 keys/s`"), "{d:#}");
}

#[test]
fn a_key_fidelity_no_link_meets_names_the_qber() {
    let d = one(&format!("{HEAD}, 10/s, fidelity >= 0.99"), true);
    assert_eq!(d["code"], "strata::no-allowed-path");
    let message = d["message"].as_str().unwrap();
    assert!(message.contains("QBER of at most 1 %"), "{message}");
    // The help names the best bound some path meets; it must be met and not exceeded.
    let help = d["help"].as_str().unwrap();
    let best: f64 = help
        .split("`fidelity >= ")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(best < 0.99, "{help}");
    assert!(check(&format!("{HEAD}, 10/s, fidelity >= {best}"), false).is_empty());
    let above = best + 0.001;
    assert_eq!(
        one(&format!("{HEAD}, 10/s, fidelity >= {above}"), false)["code"],
        "strata::no-allowed-path"
    );
}

#[test]
fn a_key_fidelity_out_of_range_is_explained_for_keys() {
    let d = one(&format!("{HEAD}, 10/s, fidelity >= 0.2"), false);
    assert_eq!(d["code"], "strata::fidelity-range");
    let help = d["help"].as_str().unwrap();
    assert!(help.contains("QBER") && !help.contains("pair"), "{help}");
}

#[test]
fn magnitudes_read_as_operators_write_them() {
    let d = one(&format!("{HEAD}, 1 Gbit/s"), true);
    let message = d["message"].as_str().unwrap();
    assert!(message.contains(" Mbit/s of key more needed"), "{message}");
    let d = one(
        "intent a: keys of 256 bits between Distrito-Telefonica and Montegancedo, 10/s, latency <= 100 us",
        true,
    );
    let message = d["message"].as_str().unwrap();
    assert!(message.contains("over the 0.1 ms allowed"), "{message}");
}
