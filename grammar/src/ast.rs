//! The syntax tree of an intent file. Every node carries the [`Span`] it was parsed from so
//! that later phases can point diagnostics at the exact source text. The tree records what
//! was written, not what it means: units, ranges and names are resolved by the compiler.

use crate::span::{FileId, Span};

/// One parsed `.qi` file.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceUnit {
    pub file: FileId,
    pub items: Vec<Item>,
    /// Every `# ...` comment in the file, in source order (kept for the formatter).
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub span: Span,
    /// The comment text including the leading `#`, without the line break.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Use(UseNetwork),
    Intent(Intent),
    Policy(Policy),
    Assert(Assertion),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Use(u) => u.span,
            Item::Intent(i) => i.span,
            Item::Policy(p) => p.span,
            Item::Assert(a) => a.span,
        }
    }
}

/// `use network "path/to/network.yaml"`
#[derive(Debug, Clone, PartialEq)]
pub struct UseNetwork {
    pub path: String,
    pub path_span: Span,
    pub span: Span,
}

/// A name as written: a bare identifier or a quoted string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name {
    pub text: String,
    pub quoted: bool,
    pub span: Span,
}

/// How an intent was written; the formatter keeps the operator's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `intent x: keys of 256 bits between A and B, 10/s`
    Line,
    /// `intent x { ... }`
    Block,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    pub name: Name,
    pub form: Form,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

/// `assert …`: a property the compiled network must have.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub kind: AssertKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AssertKind {
    /// `SUBJECT survive N [link|node] failure(s) [at SHARE]`: every selected intent keeps
    /// its rate (or the share of it) after any N failed elements and the repair.
    Survive {
        subject: Selector,
        count: Quantity,
        element: Option<TargetKind>,
        share: Option<Quantity>,
    },
    /// `link [NAME] utilisation <= X %`
    Utilisation { link: Option<Name>, bound: Bound },
    /// `no [keys|pairs] via TARGET`: no admitted path relays through it.
    NoVia {
        service: Option<Selector>,
        target: Target,
    },
    /// `SUBJECT admitted >= RATE`
    Admitted { subject: Selector, bound: Bound },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub name: Name,
    pub clauses: Vec<Clause>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub kind: ClauseKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClauseKind {
    /// `keys of 256 bits` (size may be missing, which the checker reports)
    Keys(Option<Quantity>),
    /// `entangled pairs`
    Pairs,
    /// `between X and Y`
    Between(Endpoint, Endpoint),
    /// `rate >= 10/s`, or a bare `10/s` in a one-line intent (written as `>=`)
    Rate(Bound),
    /// `fidelity >= 0.9`
    Fidelity(Bound),
    /// `latency <= 20 ms`
    Latency(Bound),
    /// `valid for 1h` / `lifetime 1h`
    ValidFor(Quantity),
    /// `priority 10`
    Priority(Quantity),
    /// `burst 20` (service units a session may draw at once)
    Burst(Quantity),
    /// `relay via trusted nodes only`
    TrustedRelaysOnly,
    /// `avoid node X` / `never via domain D`
    Avoid { target: Target, never_via: bool },
    /// `via node X`
    Via(Target),
    /// `max hops 4`
    MaxHops(Quantity),
    /// `disjoint paths 2`
    DisjointPaths(Quantity),
    /// `objective fair` / `objective throughput`: how the optimiser shares capacity
    Objective(ObjectiveKind),
    /// `applies to ...` (policies only)
    AppliesTo(Selector),
}

impl ClauseKind {
    /// The clause's keyword as an operator would name it in a message.
    pub fn keyword(&self) -> &'static str {
        match self {
            ClauseKind::Keys(_) => "keys",
            ClauseKind::Pairs => "entangled pairs",
            ClauseKind::Between(..) => "between",
            ClauseKind::Rate(_) => "rate",
            ClauseKind::Fidelity(_) => "fidelity",
            ClauseKind::Latency(_) => "latency",
            ClauseKind::ValidFor(_) => "valid for",
            ClauseKind::Priority(_) => "priority",
            ClauseKind::Burst(_) => "burst",
            ClauseKind::TrustedRelaysOnly => "relay via trusted nodes only",
            ClauseKind::Avoid {
                never_via: false, ..
            } => "avoid",
            ClauseKind::Avoid {
                never_via: true, ..
            } => "never via",
            ClauseKind::Via(_) => "via",
            ClauseKind::MaxHops(_) => "max hops",
            ClauseKind::DisjointPaths(_) => "disjoint paths",
            ClauseKind::Objective(_) => "objective",
            ClauseKind::AppliesTo(_) => "applies to",
        }
    }
}

/// What `objective` asks of the optimiser for the intents it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectiveKind {
    /// Max-min fair shares of requested rate within a priority class, then the total.
    Fair,
    /// The total alone: these intents take no part in fair sharing.
    Throughput,
}

impl ObjectiveKind {
    pub fn word(self) -> &'static str {
        match self {
            ObjectiveKind::Fair => "fair",
            ObjectiveKind::Throughput => "throughput",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    AtLeast,
    AtMost,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    pub cmp: Cmp,
    pub cmp_span: Span,
    pub value: Quantity,
}

/// A number with an optional unit, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub value: f64,
    /// The number's text exactly as written (the formatter reprints it verbatim).
    pub number: String,
    pub unit: Option<Unit>,
    /// The further parts of a compound duration (`30min` of `1h30min`), each with a unit.
    pub rest: Vec<Quantity>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub text: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    Name(Name),
    Urn(Urn),
}

impl Endpoint {
    pub fn span(&self) -> Span {
        match self {
            Endpoint::Name(n) => n.span,
            Endpoint::Urn(u) => u.span,
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Endpoint::Name(n) => &n.text,
            Endpoint::Urn(u) => &u.text,
        }
    }
}

/// An RFC 8141 URN split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urn {
    pub text: String,
    pub nid: String,
    pub nss: String,
    pub r_component: Option<String>,
    pub q_component: Option<String>,
    pub span: Span,
}

impl Urn {
    /// The URN without r-/q-components, lower-casing the case-insensitive parts
    /// (`urn:` and the NID) as RFC 8141 §3.1 prescribes for equivalence.
    pub fn assigned_name(&self) -> String {
        format!("urn:{}:{}", self.nid.to_ascii_lowercase(), self.nss)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TargetKind {
    Node,
    Link,
    Domain,
}

impl TargetKind {
    pub fn word(self) -> &'static str {
        match self {
            TargetKind::Node => "node",
            TargetKind::Link => "link",
            TargetKind::Domain => "domain",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// `None` when written without `node`/`link`/`domain`: a node.
    pub kind: Option<TargetKind>,
    pub name: Name,
}

impl Target {
    pub fn kind(&self) -> TargetKind {
        self.kind.unwrap_or(TargetKind::Node)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    All,
    Keys,
    Pairs,
    Intents(Vec<Name>),
}
