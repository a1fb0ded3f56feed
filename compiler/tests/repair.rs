//! The repair after failures, as the runtime's loop and `strata check` both make it: a
//! protected intent keeps its surviving path and is never torn down while it delivers,
//! unprotected intents move off the failed element, and untouched intents stay put.

use std::collections::BTreeSet;
use strata_compiler::check::{Program, check};
use strata_compiler::compile::optimise::Objective;
use strata_compiler::compile::repair::{Failed, delivered, repair, replan_options};
use strata_compiler::compile::{CompileOptions, Compiled, compile};
use strata_compiler::config::{Admission, IntentSummary};
use strata_compiler::inventory::{Inventory, load};
use strata_grammar::{FileId, parse};

fn metro() -> (Program, Inventory) {
    let (inv, diags) = load(FileId(0), include_str!("../../examples/metro/network.yaml"));
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    let inv = inv.unwrap();
    let text: String = include_str!("../../intents/metro.qi")
        .lines()
        .filter(|l| !l.starts_with("use network"))
        .collect::<Vec<_>>()
        .join("\n");
    let (unit, diags) = parse(FileId(1), &text);
    assert!(diags.is_empty(), "{diags:#?}");
    let (program, diags) = check(&[&unit], &inv);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    (program, inv)
}

fn intent<'a>(c: &'a Compiled, name: &str) -> &'a IntentSummary {
    c.summary.intents.iter().find(|i| i.name == name).unwrap()
}

fn cut(link: &str) -> Failed {
    Failed {
        links: BTreeSet::from([link.to_string()]),
        nodes: BTreeSet::new(),
    }
}

#[test]
fn a_cut_keeps_the_protected_survivor_and_moves_the_unprotected() {
    let (program, inv) = metro();
    let base = compile(&program, &inv, &CompileOptions::default());
    let failed = cut("q-norte-moncloa");
    let r = repair(&program, &inv, &base.summary, &failed, Objective::Fair);
    let dc = intent(&r, "dc-backup");
    assert_eq!(dc.admission, Admission::Met);
    // Both paths stay configured under their numbers; the one over the cut carries again
    // when it returns.
    assert_eq!(dc.paths, intent(&base, "dc-backup").paths);
    assert!(dc.protection_lost.is_some());
    assert_eq!(delivered(dc, &failed), 10.0);
    let vpn = intent(&r, "vpn-core");
    assert!(
        vpn.paths
            .iter()
            .all(|p| !p.links.contains(&"q-norte-moncloa".to_string()))
    );
    assert_eq!(delivered(vpn, &failed), 10.0);
    // campus-backup does not use the link and stays exactly where it was.
    assert_eq!(
        intent(&r, "campus-backup").paths,
        intent(&base, "campus-backup").paths
    );
}

#[test]
fn a_later_unrelated_re_plan_never_tears_down_an_unprotected_survivor() {
    let (program, inv) = metro();
    let base = compile(&program, &inv, &CompileOptions::default());
    let failed = cut("q-norte-moncloa");
    let after_cut = repair(&program, &inv, &base.summary, &failed, Objective::Fair);
    // Another repair while the link is still down moves only vpn-core; dc-backup is pinned
    // with no word about its lost path, as an unrelated re-plan pins it.
    let moved = BTreeSet::from(["vpn-core".to_string()]);
    let again = compile(
        &program,
        &failed.overlay(&inv),
        &replan_options(
            &after_cut.summary,
            &moved,
            Default::default(),
            Objective::Fair,
        ),
    );
    let dc = intent(&again, "dc-backup");
    assert_eq!(dc.admission, Admission::Met, "{dc:#?}");
    assert_eq!(delivered(dc, &failed), 10.0);
    assert_eq!(dc.paths, intent(&after_cut, "dc-backup").paths);
}

#[test]
fn a_lost_path_is_replaced_where_a_disjoint_route_exists() {
    let (inv, _) = load(FileId(0), include_str!("../../examples/metro/network.yaml"));
    let inv = inv.unwrap();
    let (unit, _) = parse(
        FileId(1),
        "intent guarded: keys of 256 bits between Distrito-Telefonica and Moncloa, 10/s, relay via trusted nodes only, disjoint paths 2\n",
    );
    let (program, diags) = check(&[&unit], &inv);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    let base = compile(&program, &inv, &CompileOptions::default());
    let before = intent(&base, "guarded").clone();
    let lost = before
        .paths
        .iter()
        .find(|p| p.links.contains(&"q-distrito-norte".to_string()))
        .unwrap();
    let failed = cut("q-distrito-norte");
    let r = repair(&program, &inv, &base.summary, &failed, Objective::Fair);
    let after = intent(&r, "guarded");
    assert!(after.protection_lost.is_none(), "{after:#?}");
    let replacement = after.paths.iter().find(|p| p.path == lost.path).unwrap();
    assert!(failed.path_down(replacement).is_none(), "{replacement:#?}");
    assert_eq!(replacement.rate, lost.rate);
    let survivor = before.paths.iter().find(|p| p.path != lost.path).unwrap();
    assert!(after.paths.contains(survivor));
}
