//! Checks that need the whole inventory: unique names, references that resolve, links
//! between two different nodes, RFC 8141 application URNs, classical paths that walk from
//! one end of their quantum link to the other, and memory on every repeater. Runs on the
//! converted model and reports every problem it finds; it never changes the inventory.

use super::codes;
use super::model::{ClassicalLink, Inventory, Role};
use super::urn;
use std::collections::{BTreeMap, BTreeSet};
use strata_grammar::diag::did_you_mean;
use strata_grammar::{Diagnostic, Span, Spanned};

/// Checks `inv`, read from `text`, and appends what it finds to `diags`.
pub(super) fn validate(inv: &Inventory, text: &str, diags: &mut Vec<Diagnostic>) {
    let index = Index::new(inv);
    duplicates(inv, diags);
    references(inv, &index, diags);
    link_ends(inv, diags);
    urns(inv, text, diags);
    classical_paths(inv, &index, diags);
    memories(inv, diags);
}

/// Names looked up by the checks, so that a large inventory validates in n·log n.
struct Index<'a> {
    domains: BTreeSet<&'a str>,
    nodes: BTreeSet<&'a str>,
    /// The first classical link of each name.
    classical: BTreeMap<&'a str, &'a ClassicalLink>,
    /// The first quantum link of each name.
    quantum: BTreeMap<&'a str, &'a Spanned<String>>,
}

impl<'a> Index<'a> {
    fn new(inv: &'a Inventory) -> Self {
        let mut classical = BTreeMap::new();
        for link in &inv.classical_links {
            classical.entry(link.name.value.as_str()).or_insert(link);
        }
        let mut quantum = BTreeMap::new();
        let quantum_names = inv
            .qkd_links
            .iter()
            .map(|l| &l.name)
            .chain(inv.entanglement_links.iter().map(|l| &l.name));
        for name in quantum_names {
            quantum.entry(name.value.as_str()).or_insert(name);
        }
        Index {
            domains: inv.domains.iter().map(|d| d.name.value.as_str()).collect(),
            nodes: inv.nodes.iter().map(|n| n.name.value.as_str()).collect(),
            classical,
            quantum,
        }
    }
}

/// A quantum or classical link seen through what every kind shares.
struct LinkView<'a> {
    kind: &'static str,
    name: &'a Spanned<String>,
    ends: &'a [Spanned<String>; 2],
    classical_path: Option<&'a [Spanned<String>]>,
}

fn links(inv: &Inventory) -> impl Iterator<Item = LinkView<'_>> {
    let qkd = inv.qkd_links.iter().map(|l| LinkView {
        kind: "QKD link",
        name: &l.name,
        ends: &l.ends,
        classical_path: Some(&l.classical_path),
    });
    let ent = inv.entanglement_links.iter().map(|l| LinkView {
        kind: "entanglement link",
        name: &l.name,
        ends: &l.ends,
        classical_path: Some(&l.classical_path),
    });
    let classical = inv.classical_links.iter().map(|l| LinkView {
        kind: "classical link",
        name: &l.name,
        ends: &l.ends,
        classical_path: None,
    });
    qkd.chain(ent).chain(classical)
}

fn duplicates(inv: &Inventory, diags: &mut Vec<Diagnostic>) {
    unique(
        inv.domains.iter().map(|d| &d.name),
        "domain name",
        "domain names must be unique; rename or merge one of the two domains",
        diags,
    );
    unique(
        inv.nodes.iter().map(|n| &n.name),
        "node name",
        "node names must be unique; rename one of the two nodes",
        diags,
    );
    unique(
        inv.applications.iter().map(|a| &a.name),
        "application name",
        "application names must be unique; rename one of the two applications",
        diags,
    );
    // An endpoint is looked up as an application, then as a node: an application with a
    // node's name would silently stand for one of the two.
    let nodes: BTreeMap<&str, Span> = inv
        .nodes
        .iter()
        .map(|n| (n.name.value.as_str(), n.name.span))
        .collect();
    for app in &inv.applications {
        if let Some(node) = nodes.get(app.name.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE,
                    app.name.span,
                    format!(
                        "application `{}` has the name of a node",
                        app.name.value
                    ),
                )
                .label("application named like a node")
                .related(*node, "the node")
                .help("an intent endpoint naming it could mean the application or the node; give the application a name of its own"),
            );
        }
    }
    unique(
        inv.applications.iter().map(|a| &a.urn),
        "application URN",
        "each URN identifies one application; give the second one its own URN",
        diags,
    );
    unique(
        links(inv).map(|l| l.name),
        "link name",
        "QKD, entanglement and classical links share one namespace; rename one of the two links",
        diags,
    );
}

fn unique<'a>(
    names: impl Iterator<Item = &'a Spanned<String>>,
    what: &str,
    help: &str,
    diags: &mut Vec<Diagnostic>,
) {
    // "First" means first in the file, whatever section the names come from.
    let mut names: Vec<&Spanned<String>> = names.collect();
    names.sort_by_key(|n| n.span.start);
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    for name in names {
        match seen.get(name.value.as_str()) {
            Some(first) => diags.push(
                Diagnostic::error(
                    codes::DUPLICATE,
                    name.span,
                    format!("duplicate {what} `{}`", name.value),
                )
                .label("defined again here")
                .related(*first, "first defined here")
                .help(help.to_string()),
            ),
            None => {
                seen.insert(&name.value, name.span);
            }
        }
    }
}

/// A reference to something that is not defined: what refers (`subject`), what kind of
/// thing it names and the names it could have meant.
fn unknown<'a>(
    reference: &Spanned<String>,
    subject: String,
    kind: &str,
    candidates: impl Iterator<Item = &'a str> + Clone,
) -> Diagnostic {
    let name = &reference.value;
    let help = match did_you_mean(name, candidates.clone()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => {
            let all: Vec<&str> = candidates.collect();
            match all.len() {
                0 => format!("no {kind} is defined yet; add one to the inventory"),
                1..=8 => format!("defined {kind}s: {}", all.join(", ")),
                n => format!("define the {kind} first ({n} {kind}s are defined)"),
            }
        }
    };
    Diagnostic::error(
        codes::UNKNOWN_REFERENCE,
        reference.span,
        format!("{subject} refers to {kind} `{name}`, which is not defined"),
    )
    .label(format!("no {kind} named `{name}`"))
    .help(help)
}

fn references(inv: &Inventory, index: &Index<'_>, diags: &mut Vec<Diagnostic>) {
    let domain_names = inv.domains.iter().map(|d| d.name.value.as_str());
    let node_names = inv.nodes.iter().map(|n| n.name.value.as_str());
    let classical_names = inv.classical_links.iter().map(|l| l.name.value.as_str());

    for node in &inv.nodes {
        if !index.domains.contains(node.domain.value.as_str()) {
            let subject = format!("node `{}`", node.name.value);
            diags.push(unknown(
                &node.domain,
                subject,
                "domain",
                domain_names.clone(),
            ));
        }
    }
    for app in &inv.applications {
        if !index.nodes.contains(app.node.value.as_str()) {
            let subject = format!("application `{}`", app.name.value);
            diags.push(unknown(&app.node, subject, "node", node_names.clone()));
        }
    }
    for link in links(inv) {
        for end in link.ends {
            if !index.nodes.contains(end.value.as_str()) {
                let subject = format!("{} `{}`", link.kind, link.name.value);
                diags.push(unknown(end, subject, "node", node_names.clone()));
            }
        }
        for entry in link.classical_path.unwrap_or_default() {
            if index.classical.contains_key(entry.value.as_str()) {
                continue;
            }
            let subject = format!("the classical path of {} `{}`", link.kind, link.name.value);
            let quantum = index.quantum.get(entry.value.as_str());
            let diag = unknown(entry, subject, "classical link", classical_names.clone());
            diags.push(match quantum {
                Some(q) => diag
                    .related(q.span, "a quantum link of this name is defined here")
                    .help(
                        "a classical path lists classical links (under `classical_links`), \
                         not quantum links",
                    ),
                None => diag,
            });
        }
    }
}

fn link_ends(inv: &Inventory, diags: &mut Vec<Diagnostic>) {
    for link in links(inv) {
        let [a, b] = link.ends;
        if a.value == b.value {
            diags.push(
                Diagnostic::error(
                    codes::LINK_ENDS,
                    b.span,
                    format!(
                        "{} `{}` starts and ends at the same node `{}`",
                        link.kind, link.name.value, a.value
                    ),
                )
                .label("same node as the first end")
                .related(a.span, "first end")
                .help("a link joins two different nodes; fix the second end"),
            );
        }
    }
}

fn urns(inv: &Inventory, text: &str, diags: &mut Vec<Diagnostic>) {
    for app in &inv.applications {
        let Err(problem) = urn::check(&app.urn.value) else {
            continue;
        };
        diags.push(
            Diagnostic::error(
                codes::URN,
                narrow(text, &app.urn, problem.offset),
                format!(
                    "the URN of application `{}` is not valid: {}",
                    app.name.value, problem.message
                ),
            )
            .label(problem.label)
            .help(
                "write `urn:` NID `:` NSS, e.g. `urn:qkd:madqci:ccips` — NID is 2–32 letters, \
                 digits or `-`; the nonce (`?=nonce=…`) is added by strata per service unit",
            ),
        );
    }
}

/// The span of the character at `offset` in a value, when the value is written in the file
/// as is (plain or simply quoted); else the value's whole span.
fn narrow(text: &str, value: &Spanned<String>, offset: usize) -> Span {
    let span = value.span;
    let Some(written) = text.get(span.start..span.end) else {
        return span;
    };
    let inner = if written == value.value {
        span.start
    } else if written.len() >= 2
        && (written.starts_with('"') || written.starts_with('\''))
        && written.get(1..written.len() - 1) == Some(value.value.as_str())
    {
        span.start + 1
    } else {
        return span;
    };
    let Some(rest) = value.value.get(offset..) else {
        return span;
    };
    let width = rest.chars().next().map_or(0, char::len_utf8);
    Span::new(span.file, inner + offset, inner + offset + width)
}

fn classical_paths(inv: &Inventory, index: &Index<'_>, diags: &mut Vec<Diagnostic>) {
    for link in links(inv) {
        let Some(path) = link.classical_path else {
            continue;
        };
        let [a, b] = link.ends;
        if path.is_empty() {
            diags.push(missing_path(inv, &link));
            continue;
        }
        // Unknown entries and degenerate links are reported elsewhere; a walk over them
        // would only repeat those errors.
        let steps: Option<Vec<[&str; 2]>> = path
            .iter()
            .map(|e| {
                index
                    .classical
                    .get(e.value.as_str())
                    .map(|c| [c.ends[0].value.as_str(), c.ends[1].value.as_str()])
            })
            .collect();
        let Some(steps) = steps else {
            continue;
        };
        let known = |n: &Spanned<String>| index.nodes.contains(n.value.as_str());
        if a.value == b.value || !known(a) || !known(b) {
            continue;
        }
        let forward = walk(&steps, &a.value, &b.value);
        let backward = walk(&steps, &b.value, &a.value);
        let (Err(f), Err(r)) = (forward, backward) else {
            continue;
        };
        let failure = if r.reached > f.reached { r } else { f };
        diags.push(broken_walk(&link, path, &failure));
    }
}

fn missing_path(inv: &Inventory, link: &LinkView<'_>) -> Diagnostic {
    let [a, b] = link.ends;
    let direct = inv.classical_links.iter().find(|c| {
        let [x, y] = &c.ends;
        (x.value == a.value && y.value == b.value) || (x.value == b.value && y.value == a.value)
    });
    let help = match direct {
        Some(c) => format!(
            "classical link `{}` joins `{}` and `{}`: add `classical_path: [{}]`",
            c.name.value, a.value, b.value, c.name.value
        ),
        None => format!(
            "list, in order, the classical links that carry its sifting, error-correction, \
             authentication and heralding traffic from `{}` to `{}`, e.g. \
             `classical_path: [fibre-1, fibre-2]`",
            a.value, b.value
        ),
    };
    Diagnostic::error(
        codes::CLASSICAL_PATH,
        link.name.span,
        format!("{} `{}` has no classical path", link.kind, link.name.value),
    )
    .label("needs `classical_path`")
    .help(help)
}

/// How far a walk along a classical path got before it went wrong.
struct WalkFailure<'a> {
    /// Index of the first entry that does not continue the walk, or `len` when every entry
    /// does but the walk finishes at the wrong node.
    reached: usize,
    /// Where the walk stood when it failed.
    at: &'a str,
    /// The node the walk should finish at.
    goal: &'a str,
}

/// Walks `steps` from `start`; each step must leave from the node the walk stands on.
fn walk<'a>(steps: &[[&'a str; 2]], start: &'a str, goal: &'a str) -> Result<(), WalkFailure<'a>> {
    let mut at = start;
    for (i, [x, y]) in steps.iter().enumerate() {
        at = if *x == at {
            y
        } else if *y == at {
            x
        } else {
            return Err(WalkFailure {
                reached: i,
                at,
                goal,
            });
        };
    }
    if at == goal {
        Ok(())
    } else {
        Err(WalkFailure {
            reached: steps.len(),
            at,
            goal,
        })
    }
}

fn broken_walk(link: &LinkView<'_>, path: &[Spanned<String>], f: &WalkFailure<'_>) -> Diagnostic {
    let [a, b] = link.ends;
    let help = format!(
        "list the classical links in order, so that the first touches `{}` or `{}`, each \
         next one starts where the previous one ends, and the last reaches the other end",
        a.value, b.value
    );
    let (span, message, label) = match path.get(f.reached) {
        Some(entry) => (
            entry.span,
            format!(
                "the classical path of {} `{}` breaks at `{}`: it does not touch `{}`, where \
                 the walk stands",
                link.kind, link.name.value, entry.value, f.at
            ),
            format!("does not continue from `{}`", f.at),
        ),
        None => {
            let last = path.last().map_or(link.name.span, |e| e.span);
            (
                last,
                format!(
                    "the classical path of {} `{}` ends at `{}`, not at `{}`",
                    link.kind, link.name.value, f.at, f.goal
                ),
                format!("the walk ends at `{}` here", f.at),
            )
        }
    };
    Diagnostic::error(codes::CLASSICAL_PATH, span, message)
        .label(label)
        .related(link.name.span, format!("{} defined here", link.kind))
        .help(help)
}

fn memories(inv: &Inventory, diags: &mut Vec<Diagnostic>) {
    for node in &inv.nodes {
        if node.role.value == Role::Repeater && node.memory.is_none() {
            diags.push(
                Diagnostic::error(
                    codes::MEMORY,
                    node.role.span,
                    format!("repeater `{}` has no quantum memory", node.name.value),
                )
                .label("a repeater needs `memory`")
                .related(node.name.span, "node defined here")
                .help(
                    "add `memory: { qubits: 50, coherence_time_s: 1.0 }` with the node's memory \
                     size and coherence time",
                ),
            );
        }
    }
}
