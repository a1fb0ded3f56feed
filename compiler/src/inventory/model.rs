//! The network inventory as the compiler sees it: domains, nodes, applications and the
//! quantum and classical links between them. Every name and reference keeps the span it was
//! read from so that inventory and intent diagnostics can point at the YAML. Values are in
//! SI-style units named by the field (`_km`, `_db`, `_bps`, `_hz`, `_ms`, `_s`).

pub use crate::physics::{DecoyBb84, Heralding};
use strata_grammar::{FileId, Span, Spanned};

#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    pub file: FileId,
    pub name: String,
    pub domains: Vec<Domain>,
    pub nodes: Vec<Node>,
    pub applications: Vec<Application>,
    pub qkd_links: Vec<QkdLink>,
    pub entanglement_links: Vec<EntanglementLink>,
    pub classical_links: Vec<ClassicalLink>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trust {
    /// The operator trusts nodes in this domain to see relayed keys in clear.
    Trusted,
    /// Keys must not be relayed in clear through this domain's nodes.
    Untrusted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    pub name: Spanned<String>,
    pub operator: String,
    pub trust: Trust,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// A KME serving applications; terminates keys and pairs.
    Endpoint,
    /// Relays keys hop by hop with a one-time pad; sees them in clear.
    TrustedRelay,
    /// Forwards photons (switch, amplifier-free optical bypass) but may not see keys.
    UntrustedRelay,
    /// Entanglement repeater with quantum memories; swaps and purifies.
    Repeater,
}

impl Role {
    pub fn describe(self) -> &'static str {
        match self {
            Role::Endpoint => "endpoint KME",
            Role::TrustedRelay => "trusted relay",
            Role::UntrustedRelay => "untrusted relay",
            Role::Repeater => "entanglement repeater",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    pub qubits: u32,
    pub coherence_time_s: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: Spanned<String>,
    pub domain: Spanned<String>,
    pub role: Spanned<Role>,
    pub memory: Option<Memory>,
    /// `host:port` of the node's agent, when it runs one outside the twin.
    pub agent: Option<Spanned<String>>,
    /// Where the node is, for pictures of the network.
    pub location: Option<Location>,
    pub span: Span,
}

/// A node's geographic position, WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    /// Latitude, −90 to 90 (north positive).
    pub lat: f64,
    /// Longitude, −180 to 180 (east positive).
    pub lon: f64,
}

/// An application (SAE) attached to a node's KME.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub name: Spanned<String>,
    /// RFC 8141 URN without q-component, e.g. `urn:qkd:madqci:ccips`.
    pub urn: Spanned<String>,
    pub node: Spanned<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeyRate {
    /// A secret key rate measured on the deployed system, in bit/s.
    Measured(Spanned<f64>),
    /// Computed from physics; `derating` (≥ 1) divides the ideal rate, as field systems
    /// deliver 10–20× less than the asymptotic formula.
    Protocol {
        params: DecoyBb84,
        derating: f64,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct QkdLink {
    pub name: Spanned<String>,
    pub ends: [Spanned<String>; 2],
    pub length_km: f64,
    pub loss_db_per_km: f64,
    pub extra_loss_db: f64,
    pub key_rate: KeyRate,
    pub qber: Spanned<f64>,
    /// Classical links (in order) that carry this link's sifting/EC/authentication channel.
    pub classical_path: Vec<Spanned<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum PairRate {
    /// Heralded elementary pairs per second, measured.
    Measured(Spanned<f64>),
    /// From physics: midpoint heralding over the link's fibre, with this emission×detection
    /// efficiency per side.
    Physical { efficiency: f64, span: Span },
}

#[derive(Debug, Clone, PartialEq)]
pub struct EntanglementLink {
    pub name: Spanned<String>,
    pub ends: [Spanned<String>; 2],
    pub length_km: f64,
    pub loss_db_per_km: f64,
    pub pair_rate: PairRate,
    /// How the link heralds its pairs: sets the attempt period (and so the physical pair
    /// rate) and the heralding messages per second.
    pub heralding: Heralding,
    /// Fidelity of the elementary pairs this link delivers.
    pub fidelity: Spanned<f64>,
    pub classical_path: Vec<Spanned<String>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassicalLink {
    pub name: Spanned<String>,
    pub ends: [Spanned<String>; 2],
    pub bandwidth_bps: f64,
    pub latency_ms: f64,
    pub span: Span,
}

/// A quantum link as [`Inventory::quantum_links`] lists it.
#[derive(Debug, Clone, Copy)]
pub struct QuantumLinkRef<'a> {
    pub name: &'a str,
    pub ends: [&'a str; 2],
    pub classical_path: &'a [Spanned<String>],
}

impl Inventory {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name.value == name)
    }

    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.name.value == name)
    }

    pub fn application(&self, name: &str) -> Option<&Application> {
        self.applications.iter().find(|a| a.name.value == name)
    }

    /// Names of every quantum and classical link.
    /// Every quantum link with the nodes at its two ends and the classical links its
    /// channel runs over.
    pub fn quantum_links(&self) -> impl Iterator<Item = QuantumLinkRef<'_>> {
        let q = self
            .qkd_links
            .iter()
            .map(|l| (&l.name, &l.ends, &l.classical_path));
        let e = self
            .entanglement_links
            .iter()
            .map(|l| (&l.name, &l.ends, &l.classical_path));
        q.chain(e).map(|(name, ends, path)| QuantumLinkRef {
            name: name.value.as_str(),
            ends: [ends[0].value.as_str(), ends[1].value.as_str()],
            classical_path: path,
        })
    }

    /// Names of the quantum links (QKD and entanglement), the links a failure analysis cuts.
    pub fn quantum_link_names(&self) -> impl Iterator<Item = &str> {
        self.quantum_links().map(|l| l.name)
    }

    /// The quantum links whose classical channel runs over classical link `name`: a cut of
    /// it takes them down.
    pub fn quantum_links_over(&self, name: &str) -> Vec<&str> {
        self.quantum_links()
            .filter(|l| l.classical_path.iter().any(|c| c.value == name))
            .map(|l| l.name)
            .collect()
    }

    /// The quantum links that end at `node`.
    pub fn quantum_links_at(&self, node: &str) -> Vec<&str> {
        self.quantum_links()
            .filter(|l| l.ends.contains(&node))
            .map(|l| l.name)
            .collect()
    }

    /// The two ends of quantum link `name`, if there is one.
    pub fn quantum_link_ends(&self, name: &str) -> Option<[&str; 2]> {
        self.quantum_links()
            .find(|l| l.name == name)
            .map(|l| l.ends)
    }

    pub fn link_names(&self) -> impl Iterator<Item = &str> {
        self.qkd_links
            .iter()
            .map(|l| l.name.value.as_str())
            .chain(
                self.entanglement_links
                    .iter()
                    .map(|l| l.name.value.as_str()),
            )
            .chain(self.classical_links.iter().map(|l| l.name.value.as_str()))
    }
}
