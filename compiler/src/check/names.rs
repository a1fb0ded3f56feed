//! Name resolution: the endpoints and targets an intent or policy names, found in the
//! inventory (nodes, applications and their URNs, links, domains) or reported with "did
//! you mean".

use super::checked::Endpoint;
use super::codes;
use crate::inventory::Inventory;
use strata_grammar::Diagnostic;
use strata_grammar::ast::{self, Target, TargetKind};
use strata_grammar::diag::did_you_mean;

pub(crate) fn resolve_target(
    target: &Target,
    inv: &Inventory,
    diags: &mut Vec<Diagnostic>,
) -> Option<TargetKind> {
    let name = &target.name.text;
    let kind = target.kind();
    let (found, code, candidates): (bool, &'static str, Vec<&str>) = match kind {
        TargetKind::Node => (
            inv.node(name).is_some(),
            codes::UNKNOWN_NODE,
            inv.nodes.iter().map(|n| n.name.value.as_str()).collect(),
        ),
        TargetKind::Link => (
            inv.link_names().any(|l| l == name),
            codes::UNKNOWN_LINK,
            inv.link_names().collect(),
        ),
        TargetKind::Domain => (
            inv.domain(name).is_some(),
            codes::UNKNOWN_DOMAIN,
            inv.domains.iter().map(|d| d.name.value.as_str()).collect(),
        ),
    };
    if found {
        return Some(kind);
    }
    let mut d = Diagnostic::error(
        code,
        target.name.span,
        format!(
            "there is no {} named `{name}` in network `{}`",
            kind.word(),
            inv.name
        ),
    )
    .label(format!("unknown {}", kind.word()));
    d = suggest(d, name, candidates);
    diags.push(d);
    None
}

pub(super) fn resolve_endpoint(
    ep: &ast::Endpoint,
    inv: &Inventory,
    diags: &mut Vec<Diagnostic>,
) -> Option<Endpoint> {
    match ep {
        ast::Endpoint::Name(n) => {
            if inv.node(&n.text).is_some() {
                return Some(Endpoint {
                    node: n.text.clone(),
                    application: None,
                    urn: None,
                    span: n.span,
                });
            }
            if let Some(app) = inv.application(&n.text) {
                return Some(Endpoint {
                    node: app.node.value.clone(),
                    application: Some(app.name.value.clone()),
                    urn: Some(app.urn.value.clone()),
                    span: n.span,
                });
            }
            let candidates = inv
                .nodes
                .iter()
                .map(|n| n.name.value.as_str())
                .chain(inv.applications.iter().map(|a| a.name.value.as_str()));
            let d = Diagnostic::error(
                codes::UNKNOWN_ENDPOINT,
                n.span,
                format!(
                    "`{}` is neither a node nor an application of network `{}`",
                    n.text, inv.name
                ),
            )
            .label("unknown endpoint");
            diags.push(suggest(d, &n.text, candidates));
            None
        }
        ast::Endpoint::Urn(u) => {
            let wanted = u.assigned_name();
            let app = inv
                .applications
                .iter()
                .find(|a| urn_key(&a.urn.value) == wanted);
            if let Some(app) = app {
                return Some(Endpoint {
                    node: app.node.value.clone(),
                    application: Some(app.name.value.clone()),
                    urn: Some(u.text.clone()),
                    span: u.span,
                });
            }
            let d = Diagnostic::error(
                codes::UNKNOWN_ENDPOINT,
                u.span,
                format!(
                    "no application of network `{}` has the URN `{wanted}`",
                    inv.name
                ),
            )
            .label("unknown URN");
            diags.push(suggest(
                d,
                &wanted,
                inv.applications.iter().map(|a| a.urn.value.as_str()),
            ));
            None
        }
    }
}

/// RFC 8141 equivalence key of an inventory URN: `urn:` and the NID are case-insensitive.
fn urn_key(urn: &str) -> String {
    let mut parts = urn.splitn(3, ':');
    let (_, nid, nss) = (
        parts.next(),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let nss = nss
        .split("?+")
        .next()
        .unwrap_or("")
        .split("?=")
        .next()
        .unwrap_or("");
    format!("urn:{}:{}", nid.to_ascii_lowercase(), nss)
}

pub(super) fn suggest<'a>(
    d: Diagnostic,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Diagnostic {
    match did_you_mean(name, candidates) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help("check the spelling against the inventory"),
    }
}
