//! Checked intents: what an intent means once names, units and policies are resolved.
//! This is what the optimiser consumes.

use std::collections::BTreeSet;
use strata_grammar::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Secret keys of this many bits.
    Keys { size_bits: u32 },
    /// Entangled pairs.
    Pairs,
}

/// One end of an intent, resolved to the node whose KME (or memory) serves it.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub node: String,
    /// The application (SAE) named or addressed by URN, if any.
    pub application: Option<String>,
    /// The application's URN, including the q-component when one was written.
    pub urn: Option<String>,
    pub span: Span,
}

/// Path constraints after merging the intent's own clauses with its policies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraints {
    pub avoid_nodes: BTreeSet<String>,
    pub avoid_links: BTreeSet<String>,
    pub avoid_domains: BTreeSet<String>,
    pub via_nodes: Vec<String>,
    pub trusted_relays_only: bool,
    pub max_hops: Option<u32>,
    /// Number of link- and relay-disjoint paths the intent must be spread over (≥ 1).
    pub disjoint_paths: u32,
    /// How the optimiser shares capacity with this intent, when its clauses or policies
    /// say (`objective fair|throughput`); otherwise the compile's objective.
    pub objective: Option<Objective>,
}

/// What the optimiser maximises within a priority class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Objective {
    /// Max-min fair shares of requested rate (water-filling), then, with every intent kept
    /// at its share, the total.
    #[default]
    Fair,
    /// The total admitted fraction alone: which intent starves does not matter.
    Throughput,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CheckedIntent {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    pub service: Service,
    pub endpoints: [Endpoint; 2],
    /// Service units per second.
    pub min_rate: f64,
    pub max_rate: Option<f64>,
    pub rate_span: Span,
    pub min_fidelity: Option<f64>,
    pub fidelity_span: Option<Span>,
    pub max_latency_s: Option<f64>,
    pub latency_span: Option<Span>,
    pub lifetime_s: Option<f64>,
    pub priority: i64,
    /// Service units a session may draw at once (token-bucket depth).
    pub burst: Option<u32>,
    pub constraints: Constraints,
    /// Names of the policies that apply to this intent.
    pub policies: Vec<String>,
}

/// Which intents an assertion speaks of.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    All,
    Keys,
    Pairs,
    /// Named intents (those that failed their own checks are left out).
    Intents(Vec<String>),
}

impl Subject {
    pub fn selects(&self, intent: &CheckedIntent) -> bool {
        match self {
            Subject::All => true,
            Subject::Keys => matches!(intent.service, Service::Keys { .. }),
            Subject::Pairs => intent.service == Service::Pairs,
            Subject::Intents(names) => names.contains(&intent.name),
        }
    }
}

/// Which elements a failure scenario takes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Elements {
    Links,
    Nodes,
    /// Links and nodes.
    Both,
}

/// A rate bound of an assertion: units per second, or bits per second (keys only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateBound {
    PerSecond(f64),
    BitsPerSecond(f64),
}

/// What an assertion claims about the compiled network.
#[derive(Debug, Clone, PartialEq)]
pub enum Property {
    /// Every selected intent keeps at least `share` of its admitted rate after any
    /// `failures` failed elements and the repair the runtime would make.
    Survive {
        subject: Subject,
        failures: u32,
        elements: Elements,
        share: f64,
    },
    /// Reserved / usable capacity of every quantum link (or of one) stays within `max`.
    Utilisation { link: Option<String>, max: f64 },
    /// No admitted path of the selected service relays through the target (a node or a
    /// domain as an intermediate hop, or a link anywhere on the path).
    NoVia {
        subject: Subject,
        kind: strata_grammar::ast::TargetKind,
        name: String,
    },
    /// Every selected intent is admitted at least (or at most) this rate.
    Admitted {
        subject: Subject,
        at_least: bool,
        rate: RateBound,
    },
}

/// An `assert` item, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedAssertion {
    /// The assertion in canonical form without `assert` (`all survive 1 link failure`): its
    /// stable name in reports.
    pub text: String,
    pub span: Span,
    pub property: Property,
}

/// Every intent of one network, checked, and the assertions about them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Program {
    pub intents: Vec<CheckedIntent>,
    pub assertions: Vec<CheckedAssertion>,
}
