//! Unit tests of the comparison on hand-made snapshots.

use super::*;
use std::collections::BTreeMap;

fn path(nodes: &[&str], rate: f64) -> PathState {
    PathState {
        nodes: nodes.iter().map(|s| s.to_string()).collect(),
        links: nodes
            .windows(2)
            .map(|w| format!("q-{}-{}", w[0], w[1]))
            .collect(),
        rate,
    }
}

fn intent(name: &str, admitted: f64, admission: Admission, paths: Vec<PathState>) -> IntentState {
    IntentState {
        name: name.into(),
        requested: Some(10.0),
        admitted,
        admission,
        fidelity: Some(0.97),
        latency_ms: Some(0.2),
        paths,
        disjoint_wanted: None,
        min_fidelity: Some(0.9),
        max_latency_ms: None,
        reason: None,
    }
}

fn qkd(a: &str, b: &str, rate: f64, reserved: f64) -> (String, LinkState) {
    (
        format!("q-{a}-{b}"),
        LinkState {
            kind: QuantumKind::Qkd,
            ends: [a.into(), b.into()],
            rate,
            usable: rate * 0.9,
            qber: 0.02,
            length_km: 5.0,
            reserved,
        },
    )
}

fn snapshot(intents: Vec<IntentState>, links: Vec<(String, LinkState)>) -> Snapshot {
    let nodes = ["A", "B", "C", "D"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                NodeState {
                    role: "trusted-relay".into(),
                    domain: "d".into(),
                },
            )
        })
        .collect();
    Snapshot {
        network: "net".into(),
        intents,
        links: links.into_iter().collect(),
        nodes,
        assertions: BTreeMap::new(),
    }
}

#[test]
fn identical_revisions_are_the_same_everywhere() {
    let s = snapshot(
        vec![intent(
            "x",
            10.0,
            Admission::Met,
            vec![path(&["A", "B"], 10.0)],
        )],
        vec![qkd("A", "B", 1000.0, 500.0)],
    );
    let r = compare(&s, &s);
    assert_eq!(r.intents.len(), 1);
    assert_eq!(r.intents[0].verdict, Verdict::Same);
    assert!(r.intents[0].why.is_empty());
    assert!(r.links.is_empty() && r.inventory.is_empty() && r.assertions.is_empty());
    assert!(!r.worse);
    assert_eq!(r.counts.same, 1);
}

#[test]
fn lower_rate_is_worse_and_names_the_link_that_lost_capacity() {
    let base = snapshot(
        vec![
            intent(
                "x",
                10.0,
                Admission::Met,
                vec![path(&["A", "B", "C"], 10.0)],
            ),
            intent("y", 5.0, Admission::Met, vec![path(&["C", "D"], 5.0)]),
        ],
        vec![
            qkd("A", "B", 50000.0, 2560.0),
            qkd("B", "C", 50000.0, 2560.0),
            qkd("C", "D", 50000.0, 1280.0),
        ],
    );
    let mut head = base.clone();
    head.intents[0].admitted = 3.5;
    head.intents[0].admission = Admission::Partial;
    head.intents[0].paths[0].rate = 3.5;
    let ab = head.links.get_mut("q-A-B").unwrap();
    ab.rate = 1000.0;
    ab.usable = 900.0;
    ab.reserved = 896.0;
    head.links.get_mut("q-B-C").unwrap().reserved = 896.0;
    let r = compare(&base, &head);
    let x = &r.intents[0];
    assert_eq!(x.verdict, Verdict::Worse);
    assert_eq!(
        x.why,
        ["admitted rate 10 → 3.5/s", "admission met → partial"]
    );
    assert_eq!(x.attribution, ["link q-A-B: key rate 50000 → 1000 bit/s"]);
    assert_eq!(r.intents[1].verdict, Verdict::Same);
    assert!(r.intents[1].attribution.is_empty());
    assert!(r.worse);
    // q-A-B went from 5.7 % to 99.6 %, q-B-C fell from 5.7 % to 2 %; q-C-D is unchanged.
    let names: Vec<_> = r.links.iter().map(|l| l.link.as_str()).collect();
    assert_eq!(names, ["q-A-B", "q-B-C"]);
    assert!(r.links[0].change_pp > 90.0 && r.links[1].change_pp < 0.0);
    assert_eq!(r.inventory.len(), 1);
    assert_eq!(r.inventory[0].change, "key_rate");
}

#[test]
fn higher_rate_is_better_and_added_and_removed_intents_are_listed() {
    let base = snapshot(
        vec![
            intent("x", 4.0, Admission::Partial, vec![path(&["A", "B"], 4.0)]),
            intent("gone", 1.0, Admission::Met, vec![path(&["A", "B"], 1.0)]),
        ],
        vec![qkd("A", "B", 1000.0, 0.0)],
    );
    let mut head = base.clone();
    head.intents[0].admitted = 10.0;
    head.intents[0].admission = Admission::Met;
    head.intents.remove(1);
    head.intents.push(intent(
        "new",
        1.0,
        Admission::Met,
        vec![path(&["A", "B"], 1.0)],
    ));
    let r = compare(&base, &head);
    let verdicts: Vec<_> = r
        .intents
        .iter()
        .map(|i| (i.name.as_str(), i.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("x", Verdict::Better),
            ("gone", Verdict::Removed),
            ("new", Verdict::Added)
        ]
    );
    assert!(
        !r.worse,
        "added and removed intents do not make a change worse"
    );
    assert_eq!(r.counts.added + r.counts.removed + r.counts.better, 3);
}

#[test]
fn a_protected_intent_that_loses_its_second_path_is_worse_even_at_full_rate() {
    let mut x = intent(
        "x",
        10.0,
        Admission::Met,
        vec![path(&["A", "B", "D"], 10.0), path(&["A", "C", "D"], 10.0)],
    );
    x.disjoint_wanted = Some(2);
    let base = snapshot(vec![x.clone()], vec![]);
    let mut head = base.clone();
    // Both paths now through B: only one of them counts as disjoint.
    head.intents[0].paths[1] = path(&["A", "B", "C", "D"], 10.0);
    head.nodes.get_mut("B").unwrap().role = "untrusted-relay".into();
    let r = compare(&base, &head);
    let i = &r.intents[0];
    assert_eq!(i.verdict, Verdict::Worse);
    let p = i.protection.as_ref().unwrap();
    assert_eq!(
        (p.configured.before, p.configured.after),
        (Some(2), Some(1))
    );
    assert_eq!(i.why, ["disjoint paths 2 → 1 of 2"]);
    assert_eq!(
        i.attribution,
        ["node B: role trusted-relay → untrusted-relay"]
    );
    // Back again: better.
    let r = compare(&head, &base);
    assert_eq!(r.intents[0].verdict, Verdict::Better);
}

#[test]
fn an_intent_that_cannot_be_served_any_more_is_rejected_with_the_removed_link_named() {
    let base = snapshot(
        vec![intent(
            "x",
            10.0,
            Admission::Met,
            vec![path(&["A", "B"], 10.0)],
        )],
        vec![qkd("A", "B", 1000.0, 100.0)],
    );
    let mut head = snapshot(vec![], vec![]);
    head.add_unservable("x", "no allowed path");
    let r = compare(&base, &head);
    let i = &r.intents[0];
    assert_eq!(i.verdict, Verdict::Worse);
    assert_eq!(i.admission.after, Some(Admission::Rejected));
    assert_eq!(i.reason.after.as_deref(), Some("no allowed path"));
    assert_eq!(i.attribution, ["link q-A-B was removed"]);
    assert_eq!(r.links.len(), 1, "the removed link's 11 % went away");
    assert_eq!(r.links[0].utilisation_pct.after, None);
}

#[test]
fn a_fidelity_bound_newly_violated_is_worse_and_small_rate_noise_is_not() {
    let base = snapshot(
        vec![intent(
            "x",
            10.0,
            Admission::Met,
            vec![path(&["A", "B"], 10.0)],
        )],
        vec![],
    );
    let mut head = base.clone();
    head.intents[0].admitted = 10.0 * (1.0 - 1e-9);
    assert_eq!(compare(&base, &head).intents[0].verdict, Verdict::Same);
    head.intents[0].min_fidelity = Some(0.98);
    let r = compare(&base, &head);
    assert_eq!(r.intents[0].verdict, Verdict::Worse);
    assert_eq!(r.intents[0].why, ["fidelity 0.97 below its bound 0.98"]);
}

#[test]
fn the_report_serialises_with_stable_field_names() {
    let s = snapshot(
        vec![intent(
            "x",
            10.0,
            Admission::Met,
            vec![path(&["A", "B"], 10.0)],
        )],
        vec![],
    );
    let v = serde_json::to_value(compare(&s, &s)).unwrap();
    for k in [
        "schema",
        "base_network",
        "head_network",
        "intents",
        "links",
        "inventory",
        "assertions",
        "counts",
        "worse",
    ] {
        assert!(v.get(k).is_some(), "{k}");
    }
    let i = &v["intents"][0];
    assert_eq!(i["verdict"], "same");
    assert_eq!(i["admitted"]["before"], 10.0);
    assert_eq!(i["admission"]["after"], "met");
    assert_eq!(i["paths"]["after"][0][1], "B");
}

#[test]
fn numbers_read_as_people_write_them() {
    assert_eq!(num(50000.0), "50000");
    assert_eq!(num(53211.77), "53212");
    assert_eq!(num(9.765625), "9.7656");
    assert_eq!(num(0.021), "0.021");
    assert_eq!(num(10.0), "10");
}
