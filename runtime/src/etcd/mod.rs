//! The etcd client that the state store on etcd ([`crate::etcd_store`]) and the election of
//! replicated controllers ([`crate::election`]) share: the few etcd v3 calls generated from
//! the trimmed protos of `proto/etcd/` (key-value, lease, auth and election), where a
//! network's keys live (`location.rs`), and the cluster's members with TLS and auth tokens
//! (`members.rs`). It knows nothing of strata's state or of leadership; both build on it.

#[allow(clippy::all, missing_docs)]
pub(crate) mod pb {
    pub mod mvccpb {
        tonic::include_proto!("mvccpb");
    }
    pub mod etcdserverpb {
        tonic::include_proto!("etcdserverpb");
    }
    pub mod v3electionpb {
        tonic::include_proto!("v3electionpb");
    }
}

mod location;
mod members;

pub use location::EtcdLocation;
pub use members::EtcdTls;
pub(crate) use members::{Members, Svc};

use pb::etcdserverpb::{
    PutRequest, RangeRequest, RequestOp, TxnResponse, kv_client::KvClient, request_op, response_op,
};
use std::time::Duration;

/// The largest answer strata reads from etcd: a whole state, well above what etcd takes in
/// one request even when its `--max-request-bytes` is raised.
const MAX_ANSWER_BYTES: usize = 256 << 20;

/// A key-value client on `ch` that reads answers as large as a state can be.
pub(crate) fn kv(ch: Svc) -> KvClient<Svc> {
    KvClient::new(ch).max_decoding_message_size(MAX_ANSWER_BYTES)
}

/// How long one etcd call may take on one member before strata gives up on it.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn put(key: Vec<u8>, value: impl Into<Vec<u8>>) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key,
            value: value.into(),
            ..PutRequest::default()
        })),
    }
}

pub(crate) fn range(key: Vec<u8>) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key,
            ..RangeRequest::default()
        })),
    }
}

/// The first key-value of range answer `i` of a transaction.
pub(crate) fn kv_of(r: &TxnResponse, i: usize) -> Option<&pb::mvccpb::KeyValue> {
    match r.responses.get(i)?.response.as_ref()? {
        response_op::Response::ResponseRange(rr) => rr.kvs.first(),
        _ => None,
    }
}
