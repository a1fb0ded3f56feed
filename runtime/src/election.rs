//! Leader election among the `strata run` controllers of one network whose state is on etcd,
//! with etcd's v3 election service (Campaign, Leader, Observe, Resign) under
//! `PREFIX/election`. Each candidate campaigns on a lease of its own, which it renews every
//! third of its TTL; the oldest campaign leads and the others wait in Campaign. A winner
//! numbers its term in `PREFIX/term`, in a transaction that requires its leader key, so terms
//! go 1, 2, 3… across leaders. From then on the candidate's state store fences every commit
//! on that key: a deposed leader's store refuses to lock or save until it wins again.
//!
//! A leader learns that it no longer leads when a renewal finds its lease gone, or when it
//! has not renewed the lease for a whole TTL — counted from when it *sent* the last renewal
//! that succeeded, which is no later than when etcd restarted the lease's clock, so the
//! leader gives up before etcd can expire the lease and let a successor win.
//!
//! Every call runs on the state store's own runtime; the handles returned here are awaited
//! from any runtime.
//!
//! Layering: the election talks to etcd through the shared client ([`crate::etcd`]) and sits
//! below the state store on etcd ([`crate::etcd_store`]), which makes its [`Candidate`]s and
//! fences its commits on the [`Leadership`] they win.

use crate::etcd::pb::etcdserverpb::{
    Compare, LeaseGrantRequest, TxnRequest, compare, lease_client::LeaseClient,
};
use crate::etcd::pb::v3electionpb::{
    CampaignRequest, LeaderKey, LeaderRequest, ResignRequest, election_client::ElectionClient,
};
use crate::etcd::{EtcdLocation, Members, kv_of, put, range};
use crate::state::StoreError;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Default TTL of a controller's election lease, in seconds: a standby takes over at most
/// about this long after the leader dies.
pub const DEFAULT_LEASE_TTL_S: i64 = 5;

/// How soon a renewal that failed (a member down) is tried again.
const RENEW_RETRY: Duration = Duration::from_millis(250);

/// A won election, which the state store requires in every commit while it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    /// The leader key (`PREFIX/election/<lease in hex>`), deleted when the lease ends.
    pub(crate) key: Vec<u8>,
    /// The key's creation revision: what a fenced transaction compares.
    pub(crate) rev: i64,
    pub(crate) lease: i64,
    /// This leadership's term: one more than the term before it.
    pub term: u64,
}

/// Who leads, as `strata status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderInfo {
    /// The name the leader campaigned with (`strata run on HOST, pid N`).
    pub holder: String,
    /// Its term; `None` for the moment between winning and numbering the term.
    pub term: Option<u64>,
}

/// What `PREFIX/term` holds: the last term and the leader key that won it.
#[derive(Debug, Serialize, Deserialize)]
struct TermRecord {
    term: u64,
    leader: String,
    key: String,
    rev: i64,
}

/// The keys of one network's election.
#[derive(Clone)]
struct Keys {
    /// The election's name: leader keys are `<name>/<lease in hex>`.
    name: Vec<u8>,
    term: Vec<u8>,
}

impl Keys {
    fn of(location: &EtcdLocation) -> Keys {
        Keys {
            name: location.key("election"),
            term: location.key("term"),
        }
    }
}

/// One controller standing in the election of its network.
#[derive(Clone)]
pub struct Candidate {
    /// The store's location, for messages.
    location: String,
    members: Members,
    handle: tokio::runtime::Handle,
    keys: Keys,
    holder: String,
    ttl: i64,
    /// The state store's fence, set to each leadership this candidate wins.
    fence: Arc<Mutex<Option<Leadership>>>,
}

impl Candidate {
    pub(crate) fn new(
        members: Members,
        handle: tokio::runtime::Handle,
        location: &EtcdLocation,
        holder: &str,
        ttl: i64,
        fence: Arc<Mutex<Option<Leadership>>>,
    ) -> Candidate {
        Candidate {
            fence,
            location: location.to_string(),
            members,
            handle,
            keys: Keys::of(location),
            holder: holder.to_string(),
            ttl: ttl.max(1),
        }
    }

    /// The name this candidate campaigns with.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Starts campaigning: on a new lease, kept alive, until this candidate leads (see
    /// [`Campaign::won`]) or the campaign is withdrawn.
    pub fn campaign(&self) -> Campaign {
        let lease = Arc::new(Mutex::new(None));
        let task = self.handle.spawn(campaign(self.clone(), lease.clone()));
        Campaign {
            location: self.location.clone(),
            task: Some(task),
            lease,
            members: self.members.clone(),
            handle: self.handle.clone(),
        }
    }

    /// Who leads, each time that changes (etcd's Observe), until the receiver is dropped.
    /// Starts with the leader at the time, if any. A stream that breaks (a member went
    /// down) is opened again on the next member.
    pub fn observe(&self) -> Observer {
        let (tx, rx) = mpsc::channel(16);
        let (members, name) = (self.members.clone(), self.keys.name.clone());
        let task = self.handle.spawn(async move {
            let mut last: Option<Vec<u8>> = None;
            loop {
                let opened = members
                    .call_unbounded(|ch| {
                        let name = name.clone();
                        async move {
                            ElectionClient::new(ch)
                                .observe(LeaderRequest { name })
                                .await
                        }
                    })
                    .await;
                if let Ok(mut stream) = opened {
                    while let Ok(Some(answer)) = stream.message().await {
                        let Some(kv) = answer.kv else { continue };
                        if last.as_ref() == Some(&kv.key) {
                            continue;
                        }
                        last = Some(kv.key.clone());
                        let holder = String::from_utf8_lossy(&kv.value).into_owned();
                        if tx.send(holder).await.is_err() {
                            return;
                        }
                    }
                }
                if tx.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Observer { rx, task }
    }
}

/// Who leads, as [`Candidate::observe`] reports it; stops observing when dropped.
pub struct Observer {
    rx: mpsc::Receiver<String>,
    task: JoinHandle<()>,
}

impl Observer {
    /// The name of the next leader (waits for a change).
    pub async fn next(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A campaign under way; withdrawn (its lease revoked, which resigns it) when dropped.
pub struct Campaign {
    location: String,
    task: Option<JoinHandle<Result<Leading, tonic::Status>>>,
    lease: Arc<Mutex<Option<i64>>>,
    members: Members,
    handle: tokio::runtime::Handle,
}

impl Campaign {
    /// Waits until this candidate leads. An error (etcd unreachable on every member) ends
    /// the campaign; campaign again to go on. Cancel-safe: waiting again goes on waiting.
    pub async fn won(&mut self) -> Result<Leading, StoreError> {
        let error = |message: String| StoreError::Etcd(self.location.clone(), message);
        let Some(task) = self.task.as_mut() else {
            return Err(error("the campaign has ended".into()));
        };
        let result = task.await;
        self.task = None;
        // The lease is the leadership's now, or was revoked by the campaign that failed.
        self.lease.lock().unwrap_or_else(|p| p.into_inner()).take();
        match result {
            Ok(Ok(leading)) => Ok(leading),
            Ok(Err(status)) => Err(error(format!("campaigning to lead: {}", status.message()))),
            Err(e) => Err(error(format!("campaigning to lead: {e}"))),
        }
    }
}

impl Drop for Campaign {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Cancelling Campaign makes etcd delete the candidate's key (a resignation).
            task.abort();
        }
        if let Some(lease) = self.lease.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let members = self.members.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            self.handle.spawn(async move {
                let _ = tx.send(members.revoke(lease).await);
            });
            // If etcd cannot be reached, the lease runs out by itself.
            let _ = rx.recv_timeout(crate::etcd::CALL_TIMEOUT);
        }
    }
}

/// A lease kept alive in the background, and whether it still holds.
struct Keeper {
    task: JoinHandle<()>,
    /// Why the lease no longer holds, once it does not.
    lost: watch::Receiver<Option<String>>,
    /// Until when the lease surely holds: the last successful renewal's sending time plus
    /// the TTL.
    valid_until: Arc<Mutex<Instant>>,
}

impl Keeper {
    fn start(
        candidate: &Candidate,
        lease: i64,
        ttl: i64,
        asked: Instant,
        handle: &tokio::runtime::Handle,
    ) -> Keeper {
        let ttl_d = Duration::from_secs(ttl.max(1) as u64);
        let valid_until = Arc::new(Mutex::new(asked + ttl_d));
        let (tx, lost) = watch::channel(None);
        let task = handle.spawn(keep(
            candidate.members.clone(),
            lease,
            ttl_d,
            valid_until.clone(),
            tx,
        ));
        Keeper {
            task,
            lost,
            valid_until,
        }
    }

    fn check(&self) -> Option<String> {
        if let Some(why) = self.lost.borrow().clone() {
            return Some(why);
        }
        let until = *self.valid_until.lock().unwrap_or_else(|p| p.into_inner());
        (Instant::now() >= until).then(|| "its election lease was not renewed in time".into())
    }

    async fn lost(&mut self) -> String {
        loop {
            if let Some(why) = self.check() {
                return why;
            }
            let until = *self.valid_until.lock().unwrap_or_else(|p| p.into_inner());
            tokio::select! {
                r = self.lost.wait_for(Option::is_some) => return match r {
                    Ok(why) => why.clone().unwrap_or_default(),
                    Err(_) => "its election lease is no longer renewed".into(),
                },
                // The keeper moves the deadline on with every renewal: look again then.
                _ = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Renews `lease` every third of `ttl`, moving `valid_until` on; says on `lost` why it
/// stopped: the lease is gone, or it could not be renewed before `valid_until`.
async fn keep(
    members: Members,
    lease: i64,
    ttl: Duration,
    valid_until: Arc<Mutex<Instant>>,
    lost: watch::Sender<Option<String>>,
) {
    let period = ttl / 3;
    let mut next = Instant::now() + period;
    let mut last_error = String::new();
    loop {
        tokio::time::sleep_until(next.into()).await;
        let deadline = *valid_until.lock().unwrap_or_else(|p| p.into_inner());
        let sent = Instant::now();
        let renewed = tokio::time::timeout_at(deadline.into(), members.renew(lease)).await;
        match renewed {
            Ok(Ok(left)) if left > 0 => {
                *valid_until.lock().unwrap_or_else(|p| p.into_inner()) = sent + ttl;
                next = sent + period;
            }
            Ok(Ok(_)) => {
                let _ = lost.send(Some(
                    "its election lease is gone (revoked, or expired in etcd)".into(),
                ));
                return;
            }
            Ok(Err(e)) if Instant::now() < deadline => {
                last_error = format!(" (last error: {})", e.message());
                next = (Instant::now() + RENEW_RETRY).min(deadline);
            }
            Ok(Err(e)) => {
                let _ = lost.send(Some(format!(
                    "its election lease could not be renewed within its {} s TTL ({})",
                    ttl.as_secs(),
                    e.message()
                )));
                return;
            }
            Err(_) => {
                let _ = lost.send(Some(format!(
                    "its election lease could not be renewed within its {} s TTL{last_error}",
                    ttl.as_secs()
                )));
                return;
            }
        }
    }
}

/// Leadership held: the fence the store requires, and the lease kept alive under it.
pub struct Leading {
    pub leadership: Leadership,
    fence: Arc<Mutex<Option<Leadership>>>,
    /// The TTL etcd granted the lease (it raises a TTL below its minimum).
    pub ttl: i64,
    leader: LeaderKey,
    keeper: Keeper,
    members: Members,
    handle: tokio::runtime::Handle,
}

impl Leading {
    /// Why this controller no longer leads, as soon as it does not: its lease is gone, or
    /// was not renewed within its TTL. Cancel-safe.
    pub async fn lost(&mut self) -> String {
        self.keeper.lost().await
    }

    /// Why this controller no longer leads, if it does not; `None` while it does.
    pub fn check(&self) -> Option<String> {
        self.keeper.check()
    }

    /// Gives the leadership up at once (Resign, then the lease revoked), so that a standby
    /// takes over without waiting for the lease to expire.
    pub async fn resign(self) {
        let Leading {
            leadership,
            fence,
            leader,
            keeper,
            members,
            handle,
            ..
        } = self;
        drop(keeper);
        // The store no longer commits as this leader (nor unfenced: a store that led is
        // only used to lead again).
        {
            let mut held = fence.lock().unwrap_or_else(|p| p.into_inner());
            if held.as_ref() == Some(&leadership) {
                held.take();
            }
        }
        let lease = leader.lease;
        let done = handle.spawn(async move {
            let _ = members
                .call(|ch| {
                    let leader = leader.clone();
                    async move {
                        ElectionClient::new(ch)
                            .resign(ResignRequest {
                                leader: Some(leader),
                            })
                            .await
                    }
                })
                .await;
            let _ = members.revoke(lease).await;
        });
        let _ = done.await;
    }
}

/// The campaign: a new lease, kept alive; Campaign on it; the term numbered. A lease lost
/// while waiting starts over on a new one.
async fn campaign(c: Candidate, slot: Arc<Mutex<Option<i64>>>) -> Result<Leading, tonic::Status> {
    loop {
        let asked = Instant::now();
        let ttl = c.ttl;
        let grant = c
            .members
            .call(|ch| async move {
                LeaseClient::new(ch)
                    .lease_grant(LeaseGrantRequest { ttl, id: 0 })
                    .await
            })
            .await?;
        if !grant.error.is_empty() {
            return Err(tonic::Status::unavailable(grant.error));
        }
        let (lease, granted) = (grant.id, grant.ttl.max(1));
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(lease);
        let mut keeper = Keeper::start(&c, lease, granted, asked, &c.handle);
        let request = CampaignRequest {
            name: c.keys.name.clone(),
            lease,
            value: c.holder.as_bytes().to_vec(),
        };
        let won = tokio::select! {
            r = c.members.call_unbounded(|ch| {
                let request = request.clone();
                async move { ElectionClient::new(ch).campaign(request).await }
            }) => r,
            // The lease ended while standing by (etcd was out of reach for a whole TTL):
            // the campaign's key went with it, so stand again on a new lease.
            _ = keeper.lost() => {
                drop(keeper);
                let _ = c.members.revoke(lease).await;
                continue;
            }
        };
        let leader = match won.map(|r| r.leader) {
            Ok(Some(leader)) => leader,
            Ok(None) => {
                drop(keeper);
                let _ = c.members.revoke(lease).await;
                return Err(tonic::Status::internal(
                    "etcd answered a campaign without a leader key",
                ));
            }
            Err(e) => {
                drop(keeper);
                let _ = c.members.revoke(lease).await;
                return Err(e);
            }
        };
        match number_term(&c, &leader).await {
            Ok(Some(term)) => {
                let leadership = Leadership {
                    key: leader.key.clone(),
                    rev: leader.rev,
                    lease,
                    term,
                };
                *c.fence.lock().unwrap_or_else(|p| p.into_inner()) = Some(leadership.clone());
                return Ok(Leading {
                    fence: c.fence.clone(),
                    leadership,
                    ttl: granted,
                    leader,
                    keeper,
                    members: c.members.clone(),
                    handle: c.handle.clone(),
                });
            }
            // The key went with the lease just as the campaign returned: stand again.
            Ok(None) => {
                drop(keeper);
                let _ = c.members.revoke(lease).await;
            }
            Err(e) => {
                drop(keeper);
                let _ = c.members.revoke(lease).await;
                return Err(e);
            }
        }
    }
}

/// The comparison "`key` has creation revision `rev`".
fn created_at(key: &[u8], rev: i64) -> Compare {
    Compare {
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(compare::TargetUnion::CreateRevision(rev)),
        ..Compare::default()
    }
}

/// Writes the next term to `PREFIX/term` while `leader` still holds: its number, or `None`
/// when the leader key is gone (the lease ended as the campaign was won).
async fn number_term(c: &Candidate, leader: &LeaderKey) -> Result<Option<u64>, tonic::Status> {
    let key_text = String::from_utf8_lossy(&leader.key).into_owned();
    loop {
        let current = c.members.get(c.keys.term.clone()).await?;
        let record = current
            .as_ref()
            .and_then(|kv| serde_json::from_slice::<TermRecord>(&kv.value).ok());
        // A repeat of a write that was committed but not answered.
        if let Some(r) = &record
            && r.key == key_text
            && r.rev == leader.rev
        {
            return Ok(Some(r.term));
        }
        let term = record.map_or(0, |r| r.term) + 1;
        let next = TermRecord {
            term,
            leader: c.holder.clone(),
            key: key_text.clone(),
            rev: leader.rev,
        };
        let answer = c
            .members
            .txn(TxnRequest {
                compare: vec![
                    created_at(&leader.key, leader.rev),
                    Compare {
                        result: compare::CompareResult::Equal as i32,
                        target: compare::CompareTarget::Mod as i32,
                        key: c.keys.term.clone(),
                        target_union: Some(compare::TargetUnion::ModRevision(
                            current.as_ref().map_or(0, |kv| kv.mod_revision),
                        )),
                        ..Compare::default()
                    },
                ],
                success: vec![put(
                    c.keys.term.clone(),
                    serde_json::to_vec(&next).unwrap_or_default(),
                )],
                failure: vec![range(leader.key.clone())],
            })
            .await?;
        if answer.succeeded {
            return Ok(Some(term));
        }
        if kv_of(&answer, 0).map(|kv| kv.create_revision) != Some(leader.rev) {
            return Ok(None);
        }
    }
}

/// Who leads the election of the network at `location`, and in which term.
pub(crate) async fn leader(
    members: &Members,
    location: &EtcdLocation,
) -> Result<Option<LeaderInfo>, tonic::Status> {
    let keys = Keys::of(location);
    let name = keys.name.clone();
    let answer = members
        .call(|ch| {
            let name = name.clone();
            async move { ElectionClient::new(ch).leader(LeaderRequest { name }).await }
        })
        .await;
    let kv = match answer {
        Ok(r) => r.kv,
        // etcd answers "election: no leader" when nobody campaigns.
        Err(e) if e.message().contains("no leader") => None,
        Err(e) => return Err(e),
    };
    let Some(kv) = kv else { return Ok(None) };
    let term = members
        .get(keys.term)
        .await?
        .and_then(|t| serde_json::from_slice::<TermRecord>(&t.value).ok())
        .filter(|t| t.key.as_bytes() == kv.key.as_slice() && t.rev == kv.create_revision)
        .map(|t| t.term);
    Ok(Some(LeaderInfo {
        holder: String::from_utf8_lossy(&kv.value).into_owned(),
        term,
    }))
}
