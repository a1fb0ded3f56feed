//! Wire types and gRPC stubs generated from `proto/agent.proto`. They stay inside the
//! runtime: the rest of strata converts to and from its own types at this edge.

#![allow(clippy::all, missing_docs)]
tonic::include_proto!("strata.agent.v1");
