//! Wire types and gRPC stubs generated from `proto/agent.proto` (this module) and
//! `proto/kme_relay.proto` ([`relay`]). They stay inside the runtime: the rest of strata
//! converts to and from its own types at this edge.

#![allow(clippy::all, missing_docs)]
tonic::include_proto!("strata.agent.v1");

/// The KME-to-KME key relay (`strata.kme.v1`).
pub mod relay {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("strata.kme.v1");
}
