//! The state store on etcd (`etcd://HOST:PORT[,HOST:PORT…]/PREFIX`), for controllers that
//! share one network's state. Under PREFIX it keeps the whole state (`state`), its generation
//! (`generation`), configuration digest (`config-digest`), what each node runs
//! (`nodes/<node>`) and the digest a saved plan is bound to (`state-digest`), all written in
//! one transaction that compares the revision of `state` read by the last load: two
//! controllers that read the same generation cannot both commit the next one. The apply lock
//! is the key `lock` on a lease kept alive while it is held; its value names the holder, and
//! a holder that dies releases it when the lease expires. It logs in with a user name and
//! password and speaks TLS (with a client certificate) when the cluster asks for them.
//!
//! A store whose candidate won an election ([`crate::election`], replicated `strata run`)
//! is fenced: every save also compares the creation revision of its leader key, in the same
//! transaction, so a controller whose election lease has ended cannot record anything, and
//! its apply lock lives on the election lease, so it ends with the leadership.
//!
//! Where the state lives, the members, TLS and tokens are the etcd client's
//! ([`crate::etcd`]); the election this store can be fenced on is [`crate::election`]'s.
//!
//! [`StateStore`] is synchronous (file-like); the etcd calls run on a small runtime of the
//! store's own, so a caller on any runtime (or none) waits for them without nesting runtimes.

use crate::election::{Candidate, LeaderInfo, Leadership};
use crate::etcd::pb::etcdserverpb::{
    Compare, DeleteRangeRequest, LeaseGrantRequest, PutRequest, RangeRequest, RequestOp,
    TxnRequest, compare, lease_client::LeaseClient, request_op,
};
use crate::etcd::{CALL_TIMEOUT, EtcdLocation, EtcdTls, Members, kv, kv_of, pb, put, range};
use crate::state::{LockGuard, State, StateStore, StoreError};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Default lifetime of the apply lock's lease: how long a dead holder keeps the lock.
pub const DEFAULT_LOCK_TTL_S: i64 = 10;

/// State under a key prefix of an etcd cluster.
pub struct EtcdStore {
    location: EtcdLocation,
    runtime: Option<tokio::runtime::Runtime>,
    members: Members,
    /// `mod_revision` of the state key at the last load (0: no state); what a save compares.
    read_revision: Mutex<Option<i64>>,
    /// The lease of the apply lock while this store holds it; a save also requires it.
    held_lease: Arc<Mutex<Option<i64>>>,
    lock_ttl: i64,
    /// The election this store's controller leads, if any: every save requires its leader
    /// key, and the apply lock is taken on its lease.
    leadership: Arc<Mutex<Option<Leadership>>>,
}

impl EtcdStore {
    /// A store at `location`. Connections are made on first use, so an unreachable cluster
    /// is reported by the first load, save or lock.
    pub fn new(location: EtcdLocation) -> Result<Self, StoreError> {
        Self::connect(location, None)
    }

    /// A store at `location`, over TLS (`https`) when `tls` is given.
    pub fn connect(location: EtcdLocation, tls: Option<&EtcdTls>) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("strata-etcd")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Etcd(location.to_string(), e.to_string()))?;
        let members = {
            let _entered = runtime.enter();
            Members::lazy(&location, tls).map_err(|e| StoreError::Etcd(location.to_string(), e))?
        };
        Ok(EtcdStore {
            location,
            runtime: Some(runtime),
            members,
            read_revision: Mutex::new(None),
            held_lease: Arc::new(Mutex::new(None)),
            lock_ttl: DEFAULT_LOCK_TTL_S,
            leadership: Arc::new(Mutex::new(None)),
        })
    }

    /// Logs in to etcd as `user` (for a cluster with authentication enabled).
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.members.log_in_as(user, password);
        self
    }

    /// Sets the apply lock's lease TTL in seconds (at least 1).
    pub fn with_lock_ttl(mut self, seconds: i64) -> Self {
        self.lock_ttl = seconds.max(1);
        self
    }

    pub fn location(&self) -> &EtcdLocation {
        &self.location
    }

    /// The etcd store `store` is, for what only etcd offers (electing one of several
    /// controllers, who leads them); `None` for a file or memory.
    pub fn of(store: &dyn StateStore) -> Option<&EtcdStore> {
        let any: &dyn std::any::Any = store;
        any.downcast_ref()
    }

    /// A candidate in the election of the controllers of this store's network, named
    /// `holder` (what `strata status` shows while it leads), on a lease of `ttl` seconds.
    /// Once it wins, this store fences every lock and save on that leadership (and keeps
    /// refusing them after the leadership ends, until the candidate wins again).
    pub fn candidate(&self, holder: &str, ttl: i64) -> Result<Candidate, StoreError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Etcd(self.location.to_string(), "store shut down".into()))?;
        Ok(Candidate::new(
            self.members.clone(),
            runtime.handle().clone(),
            &self.location,
            holder,
            ttl,
            self.leadership.clone(),
        ))
    }

    /// Who leads the election of this network's controllers now, and in which term; `None`
    /// when no `strata run` leads.
    pub fn leader(&self) -> Result<Option<LeaderInfo>, StoreError> {
        let members = self.members.clone();
        let location = self.location.clone();
        self.block(async move { crate::election::leader(&members, &location).await })?
            .map_err(|e| self.error(e))
    }

    fn error(&self, status: tonic::Status) -> StoreError {
        StoreError::Etcd(self.location.to_string(), status.message().to_string())
    }

    /// Runs `fut` on the store's runtime and waits for it.
    fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Etcd(self.location.to_string(), "store shut down".into()))?;
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| {
            StoreError::Etcd(
                self.location.to_string(),
                "the etcd client stopped before answering".into(),
            )
        })
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The key range of every key starting with `prefix` (etcd's prefix convention).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn generation_of(kv: Option<&pb::mvccpb::KeyValue>) -> String {
    kv.and_then(|kv| serde_json::from_slice::<State>(&kv.value).ok())
        .map_or_else(|| "none".into(), |s| s.generation.to_string())
}

impl StateStore for EtcdStore {
    fn load(&self) -> Result<Option<State>, StoreError> {
        let members = self.members.clone();
        let key = self.location.key("state");
        let kv = self
            .block(async move { members.get(key).await })?
            .map_err(|e| self.error(e))?;
        let Some(kv) = kv else {
            *self.read_revision.lock().unwrap_or_else(|p| p.into_inner()) = Some(0);
            return Ok(None);
        };
        let state = serde_json::from_slice(&kv.value).map_err(|e| {
            StoreError::Corrupt(
                format!("{}/state", self.location).into(),
                format!("etcd key: {e}"),
            )
        })?;
        *self.read_revision.lock().unwrap_or_else(|p| p.into_inner()) = Some(kv.mod_revision);
        Ok(Some(state))
    }

    fn save(&self, state: &State) -> Result<(), StoreError> {
        let loc = &self.location;
        let state_key = loc.key("state");
        let lock_key = loc.key("lock");
        let nodes_prefix = loc.key("nodes/");
        let expected = self
            .read_revision
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(0);
        let held = *self.held_lease.lock().unwrap_or_else(|p| p.into_inner());
        let leading = self
            .leadership
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // Compact: etcd takes one request of 1.5 MiB unless told otherwise.
        let json = serde_json::to_vec(state)
            .map_err(|e| StoreError::Corrupt(format!("{loc}/state").into(), e.to_string()))?;

        let mut compare = vec![Compare {
            result: compare::CompareResult::Equal as i32,
            target: compare::CompareTarget::Mod as i32,
            key: state_key.clone(),
            target_union: Some(compare::TargetUnion::ModRevision(expected)),
            ..Compare::default()
        }];
        if let Some(lease) = held {
            compare.push(Compare {
                result: compare::CompareResult::Equal as i32,
                target: compare::CompareTarget::Lease as i32,
                key: lock_key.clone(),
                target_union: Some(compare::TargetUnion::Lease(lease)),
                ..Compare::default()
            });
        }
        let mut failure = vec![range(state_key.clone()), range(lock_key.clone())];
        if let Some(l) = &leading {
            // The fence: the leader key this controller won is still there, unchanged.
            compare.push(leader_key_holds(l));
            failure.push(range(l.key.clone()));
        }
        let mut success = vec![
            put(state_key.clone(), json.clone()),
            put(loc.key("generation"), state.generation.to_string()),
            put(loc.key("config-digest"), state.config_digest.clone()),
            put(loc.key("state-digest"), state.digest()),
        ];
        for (node, g) in &state.nodes {
            let value = serde_json::to_vec(g).unwrap_or_default();
            success.push(put(loc.key(&format!("nodes/{node}")), value));
        }
        let members = self.members.clone();
        let nodes: std::collections::BTreeSet<Vec<u8>> = state
            .nodes
            .keys()
            .map(|n| loc.key(&format!("nodes/{n}")))
            .collect();
        let answer = self.block(async move {
            // Nodes no longer in the state lose their key in the same transaction.
            let listed = members
                .call(|ch| {
                    let key = nodes_prefix.clone();
                    async move {
                        kv(ch)
                            .range(RangeRequest {
                                range_end: prefix_end(&key),
                                key,
                                keys_only: true,
                                ..RangeRequest::default()
                            })
                            .await
                    }
                })
                .await?;
            for kv in listed.kvs.into_iter().filter(|kv| !nodes.contains(&kv.key)) {
                success.push(RequestOp {
                    request: Some(request_op::Request::RequestDeleteRange(
                        DeleteRangeRequest {
                            key: kv.key,
                            ..DeleteRangeRequest::default()
                        },
                    )),
                });
            }
            members
                .txn(TxnRequest {
                    compare,
                    success,
                    failure,
                })
                .await
        })?;
        let answer = answer.map_err(|e| {
            // etcd's own limit ("request is too large"), or gRPC's above it.
            let message = e.message();
            if message.contains("request is too large") || message.contains("larger than max") {
                StoreError::TooLarge(loc.to_string(), json.len(), message.to_string())
            } else {
                self.error(e)
            }
        })?;
        if answer.succeeded {
            let revision = answer.header.map_or(0, |h| h.revision);
            *self.read_revision.lock().unwrap_or_else(|p| p.into_inner()) = Some(revision);
            return Ok(());
        }
        let now = kv_of(&answer, 0);
        if let Some(kv) = now
            && kv.value == json
            && kv.mod_revision != expected
        {
            // A repeat of this very write, committed but not answered the first time.
            *self.read_revision.lock().unwrap_or_else(|p| p.into_inner()) = Some(kv.mod_revision);
            return Ok(());
        }
        if let Some(l) = &leading
            && kv_of(&answer, 2).map(|kv| kv.create_revision) != Some(l.rev)
        {
            return Err(StoreError::Deposed(
                loc.to_string(),
                format!(
                    "this controller no longer leads: its term {} ended (its election lease ran out or was revoked) before generation {} was written, so nothing of this apply is recorded; the controller that leads now carries on",
                    l.term, state.generation
                ),
            ));
        }
        if now.map_or(0, |kv| kv.mod_revision) != expected {
            return Err(StoreError::Conflict(
                loc.to_string(),
                format!(
                    "another controller committed generation {} since this one read the state; generation {} was not written. Nothing of this apply is recorded: run `strata plan` again to see what changed",
                    generation_of(now),
                    state.generation
                ),
            ));
        }
        Err(StoreError::Conflict(
            loc.to_string(),
            format!(
                "this controller's apply lock expired (its lease ran out) before generation {} was written; nothing was recorded. Apply again",
                state.generation
            ),
        ))
    }

    fn lock(&self, holder: &str) -> Result<LockGuard, StoreError> {
        let leading = self
            .leadership
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(l) = leading {
            return self.lock_on_leadership(holder, &l);
        }
        let members = self.members.clone();
        let lock_key = self.location.key("lock");
        let ttl = self.lock_ttl;
        let value = holder.as_bytes().to_vec();
        let key = lock_key.clone();
        let taken = self.block(async move {
            let lease = members
                .call(|ch| async move {
                    LeaseClient::new(ch)
                        .lease_grant(LeaseGrantRequest { ttl, id: 0 })
                        .await
                })
                .await?;
            let txn = members
                .txn(TxnRequest {
                    compare: vec![Compare {
                        result: compare::CompareResult::Equal as i32,
                        target: compare::CompareTarget::Create as i32,
                        key: key.clone(),
                        target_union: Some(compare::TargetUnion::CreateRevision(0)),
                        ..Compare::default()
                    }],
                    success: vec![RequestOp {
                        request: Some(request_op::Request::RequestPut(PutRequest {
                            key: key.clone(),
                            value,
                            lease: lease.id,
                            ..PutRequest::default()
                        })),
                    }],
                    failure: vec![range(key)],
                })
                .await;
            match txn {
                Ok(t) if t.succeeded => Ok(Ok(lease.id)),
                // A repeat of a put that was committed but not answered: ours.
                Ok(t) if kv_of(&t, 0).is_some_and(|kv| kv.lease == lease.id) => Ok(Ok(lease.id)),
                Ok(t) => {
                    let _ = members.revoke(lease.id).await;
                    let who = kv_of(&t, 0)
                        .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
                        .unwrap_or_default();
                    Ok(Err(who))
                }
                Err(e) => {
                    let _ = members.revoke(lease.id).await;
                    Err(e)
                }
            }
        })?;
        let lease = match taken.map_err(|e| self.error(e))? {
            Ok(lease) => lease,
            Err(who) => {
                return Err(StoreError::LeaseLocked(
                    format!("{}/lock", self.location),
                    who,
                    ttl,
                ));
            }
        };
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Etcd(self.location.to_string(), "store shut down".into()))?;
        let renewal = runtime.spawn(self.members.clone().keep_alive(lease, ttl));
        *self.held_lease.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease);
        let handle = runtime.handle().clone();
        let members = self.members.clone();
        let held = self.held_lease.clone();
        Ok(LockGuard::releasing(move || {
            renewal.abort();
            *held.lock().unwrap_or_else(|p| p.into_inner()) = None;
            let (tx, rx) = std::sync::mpsc::channel();
            handle.spawn(async move {
                let _ = tx.send(members.revoke(lease).await);
            });
            // If etcd cannot be reached the lease runs out by itself.
            let _ = rx.recv_timeout(CALL_TIMEOUT * 2);
        }))
    }
}

/// The comparison that holds while leadership `l` does: its leader key still has the
/// creation revision it was won with.
pub(crate) fn leader_key_holds(l: &Leadership) -> Compare {
    Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Create as i32,
        key: l.key.clone(),
        target_union: Some(compare::TargetUnion::CreateRevision(l.rev)),
        ..Compare::default()
    }
}

impl EtcdStore {
    /// The apply lock of a leading controller: the key `lock` on its election lease, taken
    /// only while its leader key holds, so that the lock ends with the leadership and no
    /// lease of its own outlives a killed leader. Released by deleting the key.
    fn lock_on_leadership(&self, holder: &str, l: &Leadership) -> Result<LockGuard, StoreError> {
        let members = self.members.clone();
        let key = self.location.key("lock");
        let lease = l.lease;
        let txn = TxnRequest {
            compare: vec![
                Compare {
                    result: compare::CompareResult::Equal as i32,
                    target: compare::CompareTarget::Create as i32,
                    key: key.clone(),
                    target_union: Some(compare::TargetUnion::CreateRevision(0)),
                    ..Compare::default()
                },
                leader_key_holds(l),
            ],
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: key.clone(),
                    value: holder.as_bytes().to_vec(),
                    lease,
                    ..PutRequest::default()
                })),
            }],
            failure: vec![range(key.clone()), range(l.key.clone())],
        };
        let answer = self
            .block(async move { members.txn(txn).await })?
            .map_err(|e| self.error(e))?;
        // Taken now, or by a repeat of this call that was committed but not answered.
        let ours = answer.succeeded || kv_of(&answer, 0).is_some_and(|kv| kv.lease == lease);
        if !ours {
            if kv_of(&answer, 1).map(|kv| kv.create_revision) != Some(l.rev) {
                return Err(StoreError::Deposed(
                    self.location.to_string(),
                    format!(
                        "this controller no longer leads: its term {} ended (its election lease ran out or was revoked), so it applies nothing",
                        l.term
                    ),
                ));
            }
            let who = kv_of(&answer, 0)
                .map(|kv| String::from_utf8_lossy(&kv.value).into_owned())
                .unwrap_or_default();
            return Err(StoreError::LeaseLocked(
                format!("{}/lock", self.location),
                who,
                self.lock_ttl,
            ));
        }
        *self.held_lease.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease);
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Etcd(self.location.to_string(), "store shut down".into()))?;
        let handle = runtime.handle().clone();
        let members = self.members.clone();
        let held = self.held_lease.clone();
        Ok(LockGuard::releasing(move || {
            *held.lock().unwrap_or_else(|p| p.into_inner()) = None;
            let (tx, rx) = std::sync::mpsc::channel();
            handle.spawn(async move {
                // Only this leadership's lock: one whose lease ended is someone else's now.
                let release = TxnRequest {
                    compare: vec![Compare {
                        result: compare::CompareResult::Equal as i32,
                        target: compare::CompareTarget::Lease as i32,
                        key: key.clone(),
                        target_union: Some(compare::TargetUnion::Lease(lease)),
                        ..Compare::default()
                    }],
                    success: vec![RequestOp {
                        request: Some(request_op::Request::RequestDeleteRange(
                            DeleteRangeRequest {
                                key,
                                ..DeleteRangeRequest::default()
                            },
                        )),
                    }],
                    failure: Vec::new(),
                };
                let _ = tx.send(members.txn(release).await);
            });
            // If etcd cannot be reached the key goes with the election lease.
            let _ = rx.recv_timeout(CALL_TIMEOUT * 2);
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key_after_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(prefix_end(&[b'a', 0xff]), b"b".to_vec());
        assert_eq!(prefix_end(&[0xff]), vec![0]);
    }
}
