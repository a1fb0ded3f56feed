//! strata runtime: everything that touches the world outside the compiler — node agents
//! and their gRPC protocol, the digital twin, two-phase apply, the telemetry loop, the
//! state store that remembers what was applied and saved plans bound to it, and what the
//! agents run set against it.
//!
//! Invariant: only the runtime knows about files of state, clocks, gRPC and HTTP; the
//! compiler stays pure.
//!
//! Invariant: every module sits on one layer — no two of the modules below use each other,
//! directly or through others; what several share has a module of its own beneath them
//! ([`pki`], [`agents`], [`world`], [`etcd`]). ARCHITECTURE.md lists the layers and the
//! workspace's `tests/layers.rs` checks them.

pub mod agent;
pub mod agents;
pub mod apply;
pub mod conn_limits;
pub mod control;
pub mod crash_point;
pub mod election;
pub mod etcd;
pub mod etcd_store;
pub mod input_file;
pub mod kme;
pub mod metrics;
pub mod monitor;
pub mod pb;
pub mod pki;
pub mod running;
pub mod saved_plan;
pub mod state;
pub mod store;
pub mod twin;
pub mod world;
