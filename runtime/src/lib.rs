//! strata runtime: everything that touches the world outside the compiler — the state
//! store that remembers what was applied, saved plans bound to that state, and (as the
//! runtime grows) agents, the digital twin and the telemetry loop.
//!
//! Invariant: only the runtime knows about files of state, clocks, gRPC and HTTP; the
//! compiler stays pure.

pub mod saved_plan;
pub mod state;
