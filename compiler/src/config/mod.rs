//! The emitted configuration: its versioned schema (`schema.rs`, every item re-exported
//! here) and reading it back — the paths the forwarding tables chain
//! ([`paths_from_forwarding`], in `paths.rs`), the one rebuild every reader of emitted tables
//! shares.

mod paths;
mod schema;

pub use paths::{Chain, Defect, ForwardedPaths, PathEntries, paths_from_forwarding};
pub use schema::*;
