//! Wire structs → model: applies defaults, turns serde-saphyr locations into our spans and
//! reports every value that is out of its physical range (`strata::inventory-range`), a
//! rate given both or neither way (`strata::inventory-rate-source`), blank names and bad
//! agent addresses. Checks that need the whole inventory (names, references, topology)
//! live in `validate`. Always returns an inventory: an invalid value is kept as written, a
//! missing rate becomes zero, so later checks still run and nothing is invented.
//!
//! `cx.rs` holds the context and the checks of single values (names, numbers against their
//! ranges); `links.rs` converts links, QKD and entanglement links along one path (the
//! fields they share, and their rate given measured or computed, with both or neither
//! reported in the same words); this file converts the inventory, its domains, nodes and
//! applications.

mod cx;
mod links;

use super::codes;
use super::locate::Locator;
use super::model::{Application, Domain, Inventory, Location, Memory, Node, Role, Trust};
use super::raw::{RawApplication, RawDomain, RawInventory, RawMemory, RawNode, RawRole, RawTrust};
use cx::{Cx, LATITUDE, LONGITUDE, POSITIVE, cover};
use serde_saphyr::Spanned as S;
use strata_grammar::{Diagnostic, Span, Spanned};

pub(super) fn convert(
    raw: RawInventory,
    locator: &Locator<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Inventory {
    let mut cx = Cx { locator, diags };
    let name = cx.name(&raw.name, "inventory");
    Inventory {
        file: locator.file,
        name: name.value,
        domains: raw.domains.into_iter().map(|d| cx.domain(d)).collect(),
        nodes: raw.nodes.into_iter().map(|n| cx.node(n)).collect(),
        applications: raw
            .applications
            .into_iter()
            .map(|a| cx.application(a))
            .collect(),
        qkd_links: raw.qkd_links.into_iter().map(|l| cx.qkd_link(l)).collect(),
        entanglement_links: raw
            .entanglement_links
            .into_iter()
            .map(|l| cx.entanglement_link(l))
            .collect(),
        classical_links: raw
            .classical_links
            .into_iter()
            .map(|l| cx.classical_link(l))
            .collect(),
    }
}

impl Cx<'_, '_> {
    fn domain(&mut self, raw: S<RawDomain>) -> Domain {
        let entry = self.locator.span(&raw.referenced);
        let d = raw.value;
        let name = self.name(&d.name, "domain");
        let operator = self.string(&d.operator);
        let trust_span = self.span(&d.trust);
        let trust = match d.trust.value {
            RawTrust::Trusted => Trust::Trusted,
            RawTrust::Untrusted => Trust::Untrusted,
        };
        Domain {
            span: cover(entry, &[name.span, operator.span, trust_span]),
            name,
            operator: operator.value,
            trust,
        }
    }

    fn node(&mut self, raw: S<RawNode>) -> Node {
        let entry = self.locator.span(&raw.referenced);
        let n = raw.value;
        let name = self.name(&n.name, "node");
        let domain = self.string(&n.domain);
        let role_span = self.span(&n.role);
        let role = Spanned::new(
            match n.role.value {
                RawRole::Endpoint => Role::Endpoint,
                RawRole::TrustedRelay => Role::TrustedRelay,
                RawRole::UntrustedRelay => Role::UntrustedRelay,
                RawRole::Repeater => Role::Repeater,
            },
            role_span,
        );
        let mut parts = vec![name.span, domain.span, role_span];
        let memory = n.memory.map(|m| {
            parts.push(self.span(&m));
            self.memory(m.value, &mut parts)
        });
        let agent = n.agent.map(|a| self.agent(a));
        if let Some(a) = &agent {
            parts.push(a.span);
        }
        let location = n.location.map(|l| {
            parts.push(self.span(&l));
            Location {
                lat: self.num(
                    "lat",
                    &l.value.lat,
                    LATITUDE,
                    "latitude in degrees, −90 (south) to 90 (north), e.g. `40.45`",
                ),
                lon: self.num(
                    "lon",
                    &l.value.lon,
                    LONGITUDE,
                    "longitude in degrees, −180 (west) to 180 (east), e.g. `-3.69`",
                ),
            }
        });
        Node {
            span: cover(entry, &parts),
            name,
            domain,
            role,
            memory,
            agent,
            location,
        }
    }

    fn memory(&mut self, m: RawMemory, parts: &mut Vec<Span>) -> Memory {
        let qubits_span = self.span(&m.qubits);
        parts.push(qubits_span);
        parts.push(self.span(&m.coherence_time_s));
        if m.qubits.value == 0 {
            self.push(
                Diagnostic::error(
                    codes::RANGE,
                    qubits_span,
                    "`qubits` must be at least 1, got `0`",
                )
                .label("out of range: must be at least 1")
                .help("give the number of memory qubits the node can hold at once"),
            );
        }
        let coherence_time_s = self.num(
            "coherence_time_s",
            &m.coherence_time_s,
            POSITIVE,
            "memory coherence time in seconds (1/e decay of the Werner parameter), e.g. `1.5`",
        );
        Memory {
            qubits: m.qubits.value,
            coherence_time_s,
        }
    }

    fn agent(&mut self, raw: S<String>) -> Spanned<String> {
        let agent = self.string(&raw);
        if let Err(problem) = check_agent(&agent.value) {
            self.push(
                Diagnostic::error(
                    codes::AGENT,
                    agent.span,
                    format!(
                        "agent address `{}` is not `host:port`: {problem}",
                        agent.value
                    ),
                )
                .label(problem)
                .help("write the agent's gRPC address as `host:port`, e.g. `10.0.3.7:50051`"),
            );
        }
        agent
    }

    fn application(&mut self, raw: S<RawApplication>) -> Application {
        let entry = self.locator.span(&raw.referenced);
        let a = raw.value;
        let name = self.name(&a.name, "application");
        let urn = self.string(&a.urn);
        let node = self.string(&a.node);
        Application {
            span: cover(entry, &[name.span, urn.span, node.span]),
            name,
            urn,
            node,
        }
    }
}

/// Why an agent address is not `host:port`, if it is not.
fn check_agent(addr: &str) -> Result<(), &'static str> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err("no `:port`");
    };
    if host.is_empty() || host == "[]" {
        return Err("no host");
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("whitespace in the host");
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err("an IPv6 host must be in brackets, e.g. `[fd00::7]:50051`");
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err("the port must be a number from 1 to 65535"),
        Ok(_) => Ok(()),
    }
}
