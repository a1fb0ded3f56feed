//! strata compiler: from checked intents and a network inventory to per-node, per-stratum
//! configuration.
//!
//! Invariant: the compiler does no network or file IO; callers hand in source texts.

pub mod assess;
pub mod change;
pub mod check;
pub mod compile;
pub mod config;
pub mod etsi015;
pub mod frontend;
pub mod graph;
pub mod inventory;
pub mod physics;
pub mod plan;
pub mod synth;
pub mod topology;
pub mod units;
pub mod verify;

/// The longest name, in characters, of an intent, policy, assertion or inventory element:
/// names become file names, table cells and gRPC fields, and none of those wants a novel.
pub const MAX_NAME_CHARS: usize = 256;
