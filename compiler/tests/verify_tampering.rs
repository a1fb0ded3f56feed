//! Every kind of tampering with compiled configuration is caught with its own code:
//! conservation, links, capacities, reservations, purification, policies, disjointness and
//! the service stratum; violations come sorted and print as one line each.

mod common;

use common::lab::{INTENTS, NET, assert_has, checked, inventory, lab};
use strata_compiler::config::ConfigSet;
use strata_compiler::verify::{codes, verify};

/// Index of the forwarding entry of `unit` at `node`.
fn entry(cfg: &ConfigSet, node: &str, unit: &str) -> usize {
    cfg.nodes[node]
        .forwarding
        .forwarding_table
        .iter()
        .position(|e| e.service_unit == unit)
        .unwrap_or_else(|| panic!("no entry of `{unit}` at `{node}`"))
}

#[test]
fn raising_a_rate_at_one_node_breaks_conservation() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "R", "t");
    cfg.nodes.get_mut("R").unwrap().forwarding.forwarding_table[i].rate += 1.0;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::RATE_MISMATCH);
}

#[test]
fn raising_a_path_rate_everywhere_overbooks_the_link() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    // `z` took what `r-b` had left: any more on its links exceeds the usable key rate.
    for node in ["A", "R", "B"] {
        for e in &mut cfg.nodes.get_mut(node).unwrap().forwarding.forwarding_table {
            if e.service_unit == "y" {
                e.rate *= 1.5;
            }
        }
    }
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::QKD_CAPACITY);
    assert_has(&v, codes::RESERVATION);
    // 225/s on the path of an intent that asked for 150/s and was admitted at 150/s.
    assert_has(&v, codes::ADMITTED_RATE);
    assert_has(&v, codes::SESSION);
}

#[test]
fn dropping_a_hop_breaks_the_path() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "R", "y");
    cfg.nodes
        .get_mut("R")
        .unwrap()
        .forwarding
        .forwarding_table
        .remove(i);
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::BROKEN_PATH);
}

#[test]
fn a_link_that_does_not_join_the_hop_is_caught() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "A", "y");
    let hop = cfg.nodes.get_mut("A").unwrap().forwarding.forwarding_table[i]
        .virt_next_hop
        .as_mut()
        .unwrap();
    assert_eq!(hop.link, "a-r");
    hop.link = "x-b".into();
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::LINK_NOT_JOINING);
}

#[test]
fn a_pair_hop_over_a_qkd_link_is_caught() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "P", "e");
    let hop = cfg.nodes.get_mut("P").unwrap().forwarding.forwarding_table[i]
        .virt_next_hop
        .as_mut()
        .unwrap();
    hop.link = "a-r".into();
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::LINK_NOT_JOINING);
}

#[test]
fn exceeding_a_classical_link_is_caught() {
    let case = lab();
    // Traffic written on a hop's classical path beyond the link's bandwidth.
    let mut cfg = case.out.configs.clone();
    let paths = &mut cfg.nodes.get_mut("A").unwrap().connectivity.classical_paths;
    let p = paths.iter_mut().find(|p| p.quantum_link == "a-r").unwrap();
    p.bandwidth_bps = 2e9;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::CLASSICAL_CAPACITY);
    assert_has(&v, codes::CLASSICAL_PATH);

    // The same configuration against a network whose classical link has shrunk since.
    let shrunk = NET.replace(
        "{ name: c-a-r, ends: [A, R], bandwidth_bps: 1e9",
        "{ name: c-a-r, ends: [A, R], bandwidth_bps: 1e5",
    );
    let v = verify(
        &case.program,
        &inventory(&shrunk),
        &case.out.configs,
        &case.out.summary,
    );
    assert_has(&v, codes::CLASSICAL_CAPACITY);
}

#[test]
fn reservations_and_link_ends_must_agree() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let link = cfg
        .nodes
        .get_mut("R")
        .unwrap()
        .forwarding
        .qkd_links
        .iter_mut()
        .find(|l| l.qkdl_id == "r-b")
        .unwrap();
    link.expected_consumption += 100.0;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::RESERVATION);
    assert_has(&v, codes::LINK_ENDS);

    let mut cfg = case.out.configs.clone();
    cfg.nodes
        .get_mut("B")
        .unwrap()
        .forwarding
        .qkd_links
        .retain(|l| l.qkdl_id != "x-b");
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::LINK_ENDS,
    );

    let mut cfg = case.out.configs.clone();
    cfg.nodes
        .get_mut("M")
        .unwrap()
        .forwarding
        .entanglement_links[0]
        .pair_rate *= 10.0;
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::FIGURES,
    );
}

#[test]
fn overbooked_pairs_and_memories_are_caught() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    for node in ["P", "M", "Q"] {
        for e in &mut cfg.nodes.get_mut(node).unwrap().forwarding.forwarding_table {
            if e.service_unit == "e" {
                e.rate = 400.0;
            }
        }
    }
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::PAIR_CAPACITY);
    assert_has(&v, codes::SWAP_SCHEDULE);

    // A memory too small for what the paths hold: the repeater keeps both halves of
    // every pair for the path's classical round trip.
    for doc in cfg.nodes.values_mut() {
        for e in &mut doc.forwarding.forwarding_table {
            if e.service_unit == "e" {
                e.rate = 1000.0;
            }
        }
    }
    let small = NET.replace(
        "qubits: 20, coherence_time_s: 2.0",
        "qubits: 1, coherence_time_s: 2.0",
    );
    let v = verify(&case.program, &inventory(&small), &cfg, &case.out.summary);
    assert_has(&v, codes::MEMORY_CAPACITY);
}

#[test]
fn purification_must_match_at_both_ends() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let p = &mut cfg.nodes.get_mut("Q").unwrap().forwarding.purification;
    assert_eq!(p.len(), 1, "{p:#?}");
    p[0].rounds = 2;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::PURIFICATION);

    // Without its purification, `f` falls short of its fidelity bound.
    let mut cfg = case.out.configs.clone();
    for node in ["P", "Q"] {
        cfg.nodes
            .get_mut(node)
            .unwrap()
            .forwarding
            .purification
            .clear();
    }
    let v = case.verify_tampered(&cfg, &case.out.summary);
    assert_has(&v, codes::FIDELITY);
}

#[test]
fn policies_are_rechecked_against_the_intents() {
    let case = lab();
    // `x` has two equally good routes, A–R–B and A–X–B; which one carries it depends on the
    // LP solver's vertex. A `via` rule for the relay it does not cross is broken.
    let x = case
        .out
        .summary
        .intents
        .iter()
        .find(|i| i.name == "x")
        .unwrap();
    let crosses = |n: &str| {
        x.paths
            .iter()
            .any(|p| p.rate > 0.0 && p.nodes.iter().any(|m| m == n))
    };
    let via = if crosses("X") { "R" } else { "X" };
    assert!(!crosses(via), "{x:#?}");
    let via_line = format!("intent x: keys of 256 bits between A and B, 10/s, via {via}");
    // The same configuration, judged against stricter intents than it was compiled for.
    let stricter = [
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, avoid node X",
            codes::AVOID,
        ),
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, avoid link a-x",
            codes::AVOID,
        ),
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, never via domain far",
            codes::AVOID,
        ),
        (via_line.as_str(), codes::VIA),
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, relay via trusted nodes only",
            codes::TRUSTED_RELAY,
        ),
        (
            "intent y: keys of 256 bits between app-a and B, 150/s, priority 5, fidelity >= 0.975",
            codes::FIDELITY,
        ),
        (
            "intent e: entangled pairs between P and Q, fidelity >= 0.99, rate >= 2/s",
            codes::FIDELITY,
        ),
        (
            "intent e: entangled pairs between P and Q, rate >= 2/s, latency <= 0.1 ms",
            codes::LATENCY,
        ),
        (
            "intent x: keys of 256 bits between A and B, 8/s",
            codes::ADMITTED_RATE,
        ),
        (
            "intent x: keys of 256 bits between A and B, 20/s",
            codes::ADMISSION,
        ),
    ];
    let mut hops = case.program.clone();
    hops.intents
        .iter_mut()
        .find(|i| i.name == "x")
        .unwrap()
        .constraints
        .max_hops = Some(1);
    let v = verify(&hops, &case.inv, &case.out.configs, &case.out.summary);
    assert_has(&v, codes::MAX_HOPS);
    for (line, code) in stricter {
        // The intent the stricter line replaces: `intent NAME:`.
        let name = &line[..=line.find(':').unwrap()];
        let text: String = INTENTS
            .lines()
            .map(|l| if l.starts_with(name) { line } else { l })
            .collect::<Vec<_>>()
            .join("\n");
        let program = checked(&case.inv, &text).unwrap_or_else(|d| panic!("`{line}`: {d:#?}"));
        let v = verify(&program, &case.inv, &case.out.configs, &case.out.summary);
        assert_has(&v, code);
    }
}

#[test]
fn shared_disjoint_paths_are_caught() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let mut summary = case.out.summary.clone();
    // Put `z`'s second path on the first one's links.
    for doc in cfg.nodes.values_mut() {
        let table = &mut doc.forwarding.forwarding_table;
        table.retain(|e| !(e.service_unit == "z" && e.path == 1));
        let copies: Vec<_> = table
            .iter()
            .filter(|e| e.service_unit == "z" && e.path == 0)
            .map(|e| strata_compiler::config::ForwardingEntry {
                path: 1,
                ..e.clone()
            })
            .collect();
        table.extend(copies);
    }
    let z = summary.intents.iter_mut().find(|i| i.name == "z").unwrap();
    z.paths[1] = z.paths[0].clone();
    let v = case.verify_tampered(&cfg, &summary);
    assert_has(&v, codes::DISJOINT);
}

/// A disjoint intent's entry moved to a path index no other node knows leaves paths with
/// no nodes at all; the verifier reports them instead of failing on them.
#[test]
fn a_disjoint_entry_moved_to_an_unknown_path_is_reported() {
    let case = lab();
    for node in ["A", "R", "B"] {
        let mut cfg = case.out.configs.clone();
        let Some(e) = cfg
            .nodes
            .get_mut(node)
            .unwrap()
            .forwarding
            .forwarding_table
            .iter_mut()
            .find(|e| e.service_unit == "z")
        else {
            continue;
        };
        e.path += 7;
        let v = case.verify_tampered(&cfg, &case.out.summary);
        assert_has(&v, codes::BROKEN_PATH);
    }
}

#[test]
fn service_stratum_tampering_is_caught() {
    let case = lab();
    let swap_urn = |cfg: &mut ConfigSet| {
        let u = &mut cfg.nodes.get_mut("B").unwrap().service.service_units;
        let y = u.iter_mut().find(|u| u.id == "y").unwrap();
        std::mem::swap(&mut y.urns.local, &mut y.urns.remote);
    };
    let mut cfg = case.out.configs.clone();
    swap_urn(&mut cfg);
    assert_has(&case.verify_tampered(&cfg, &case.out.summary), codes::URN);

    let mut cfg = case.out.configs.clone();
    let u = &mut cfg.nodes.get_mut("A").unwrap().service.service_units;
    u.iter_mut().find(|u| u.id == "x").unwrap().urns.local = "urn:x:no-nid?=nonce=1".into();
    assert_has(&case.verify_tampered(&cfg, &case.out.summary), codes::URN);

    let mut cfg = case.out.configs.clone();
    let u = &mut cfg.nodes.get_mut("A").unwrap().service.service_units;
    let x = u.iter_mut().find(|u| u.id == "x").unwrap();
    x.urns.local = x.urns.local.split("?=").next().unwrap().to_string();
    assert_has(&case.verify_tampered(&cfg, &case.out.summary), codes::URN);

    let mut cfg = case.out.configs.clone();
    let u = &mut cfg.nodes.get_mut("B").unwrap().service.service_units;
    u.iter_mut().find(|u| u.id == "x").unwrap().role = strata_compiler::config::EndRole::Master;
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::SERVICE_UNIT,
    );

    let mut cfg = case.out.configs.clone();
    cfg.nodes
        .get_mut("B")
        .unwrap()
        .service
        .service_units
        .retain(|u| u.id != "t");
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::SERVICE_UNIT,
    );

    let mut cfg = case.out.configs.clone();
    let s = &mut cfg.nodes.get_mut("A").unwrap().service.sessions;
    s.iter_mut()
        .find(|s| s.service_unit == "y")
        .unwrap()
        .token_bucket
        .rate *= 2.0;
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::SESSION,
    );

    let mut summary = case.out.summary.clone();
    summary
        .intents
        .iter_mut()
        .find(|i| i.name == "z")
        .unwrap()
        .admission = strata_compiler::config::Admission::Met;
    let v = case.verify_tampered(&case.out.configs, &summary);
    assert_has(&v, codes::ADMISSION);
    assert_has(&v, codes::SUMMARY);

    let mut cfg = case.out.configs.clone();
    let mut stray = cfg.nodes["A"].forwarding.forwarding_table[0].clone();
    stray.service_unit = "ghost".into();
    cfg.nodes
        .get_mut("A")
        .unwrap()
        .forwarding
        .forwarding_table
        .push(stray);
    assert_has(
        &case.verify_tampered(&cfg, &case.out.summary),
        codes::UNKNOWN_UNIT,
    );
}

#[test]
fn violations_are_sorted_and_displayed() {
    let case = lab();
    let mut cfg = case.out.configs.clone();
    let i = entry(&cfg, "R", "t");
    cfg.nodes.get_mut("R").unwrap().forwarding.forwarding_table[i].rate += 1.0;
    let i = entry(&cfg, "A", "y");
    cfg.nodes.get_mut("A").unwrap().forwarding.forwarding_table[i].rate += 1.0;
    let v = case.verify_tampered(&cfg, &case.out.summary);
    let mut sorted = v.clone();
    sorted.sort();
    assert_eq!(v, sorted);
    assert_eq!(v, case.verify_tampered(&cfg, &case.out.summary));
    let line = v[0].to_string();
    assert!(line.starts_with(v[0].code), "{line}");
    assert!(line.contains(&v[0].message), "{line}");
}
