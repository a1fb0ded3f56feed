//! The key relay over the network: the gRPC `KeyRelay` service every KME serves to its peer
//! KMEs ([`RelayService`]), the client side that sends keys over one hop ([`forward`]), and
//! the address book of peer KMEs with this KME's credentials towards them ([`Peers`]).
//!
//! A hop is one call. The callee takes the caller's identity from its verified client
//! certificate (subject OU [`pki::KME_UNIT`], CN the caller's node), checks that the named
//! QKD link joins the two of them in its own configuration, takes that link's pad at the
//! named offset, verifies the tag and decrypts. Its own forwarding table then decides: an
//! entry for the service unit's path that comes from the caller over that link and goes on
//! sends the keys over the next link ([`forward`]) before answering; an entry that ends here
//! at the unit's slave end stores them for `dec_keys`. Nothing else is accepted, so a KME on
//! another generation of the plan refuses instead of guessing.

use super::message::{self, ClearKey, Refusal};
use crate::agent::channel::Peer;
use crate::kme::pool::PadError;
use crate::kme::store::StoredKey;
use crate::kme::{Kms, KmsState};
use crate::pb::relay::key_relay_client::KeyRelayClient;
use crate::pb::relay::key_relay_server::{KeyRelay, KeyRelayServer};
use crate::pb::relay::{RelayReply, RelayRequest};
use crate::pki;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use strata_compiler::config::{EndRole, Hop, UnitKind};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request, Response, Status};

/// Longest one hop may take, the hops after it included.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection to a peer KME may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the peer KMEs listen for relays, and the client certificate each local KME presents
/// to them.
pub struct Peers {
    /// Node → `HOST:PORT` of its KME's relay listener.
    addresses: BTreeMap<String, String>,
    /// Local node → the TLS settings its KME connects with (the CA and its own certificate).
    identities: BTreeMap<String, ClientTlsConfig>,
    /// Open channels, by (local node, peer node).
    channels: Mutex<BTreeMap<(String, String), Channel>>,
}

impl Peers {
    /// Peers at `addresses`; `identities` names each local node's CA, certificate and key
    /// (PEM text).
    pub fn new(
        addresses: BTreeMap<String, String>,
        identities: BTreeMap<String, (String, String, String)>,
    ) -> Peers {
        Peers {
            addresses,
            identities: identities
                .into_iter()
                .map(|(node, (ca, cert, key))| {
                    (
                        node,
                        ClientTlsConfig::new()
                            .ca_certificate(Certificate::from_pem(ca))
                            .identity(Identity::from_pem(cert, key)),
                    )
                })
                .collect(),
            channels: Mutex::new(BTreeMap::new()),
        }
    }

    /// Peers of nobody: every relay fails (KMEs that serve only direct keys, and tests).
    pub fn none() -> Peers {
        Peers::new(BTreeMap::new(), BTreeMap::new())
    }

    /// The relay address of `node`'s KME.
    pub fn address(&self, node: &str) -> Option<&str> {
        self.addresses.get(node).map(String::as_str)
    }

    fn client(&self, from: &str, to: &str) -> Result<KeyRelayClient<Channel>, Status> {
        let key = (from.to_string(), to.to_string());
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = channels.get(&key) {
            return Ok(KeyRelayClient::new(c.clone()));
        }
        let addr = self.address(to).ok_or_else(|| {
            Status::unavailable(format!(
                "KME {from} knows no address for the relay of KME {to}"
            ))
        })?;
        let tls = self.identities.get(from).cloned().ok_or_else(|| {
            Status::unavailable(format!("KME {from} has no certificate to relay with"))
        })?;
        let channel = Endpoint::from_shared(format!("https://{addr}"))
            .map_err(|e| Status::unavailable(format!("bad address `{addr}` of KME {to}: {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(RELAY_TIMEOUT)
            .tls_config(tls)
            .map_err(|e| Status::unavailable(format!("bad TLS settings towards KME {to}: {e}")))?
            .connect_lazy();
        channels.insert(key, channel.clone());
        Ok(KeyRelayClient::new(channel))
    }
}

/// What every hop of one relay carries unchanged.
#[derive(Debug, Clone)]
pub struct Route {
    pub service_unit: String,
    pub path: u32,
    pub source: String,
    pub target: String,
    pub master_sae: String,
    pub slave_saes: Vec<String>,
    pub key_size: u32,
    pub valid_for_s: Option<f64>,
}

impl Route {
    fn of(req: &RelayRequest) -> Route {
        Route {
            service_unit: req.service_unit.clone(),
            path: req.path,
            source: req.source_kme_id.clone(),
            target: req.target_kme_id.clone(),
            master_sae: req.master_sae_id.clone(),
            slave_saes: req.slave_sae_id.clone(),
            key_size: req.key_size,
            valid_for_s: (req.valid_for_s > 0.0).then_some(req.valid_for_s),
        }
    }
}

/// What a failed call says: the peer's own message, or, for a call that never reached a
/// peer (no connection, a TLS failure), the innermost cause.
fn why(status: &Status) -> String {
    let mut source = std::error::Error::source(status);
    let mut innermost = None;
    while let Some(s) = source {
        innermost = Some(s.to_string());
        source = s.source();
    }
    match innermost {
        Some(cause) => format!("unreachable: {cause}"),
        None => status.message().to_string(),
    }
}

fn pad_status(e: PadError) -> Status {
    match e {
        PadError::Reused { .. } => Status::unauthenticated(e.to_string()),
        _ => Status::unavailable(e.to_string()),
    }
}

/// Sends `keys` from `from`'s KME to the next node of `next`, over its link, as hop `hop` of
/// `route`; returns once the keys are stored at the route's target (the reply counts the
/// links after this one).
pub async fn forward(
    kms: &Kms,
    from: &str,
    route: &Route,
    hop: u32,
    next: &Hop,
    keys: &[ClearKey],
) -> Result<RelayReply, Status> {
    let mut client = kms.peers.client(from, &next.node)?;
    let need = message::pad_len(keys.len(), route.key_size);
    let pad = {
        let (mut s, _) = kms.current();
        s.pools
            .send_pad(&next.link, from, need)
            .map_err(pad_status)?
    };
    let mut req = RelayRequest {
        service_unit: route.service_unit.clone(),
        path: route.path,
        source_kme_id: route.source.clone(),
        target_kme_id: route.target.clone(),
        master_sae_id: route.master_sae.clone(),
        slave_sae_id: route.slave_saes.clone(),
        hop,
        link: next.link.clone(),
        pad_offset: pad.offset,
        key_size: route.key_size,
        keys: Vec::new(),
        valid_for_s: route.valid_for_s.unwrap_or(0.0),
        tag: Vec::new(),
    };
    message::seal(&mut req, keys, &pad.bytes);
    client
        .relay(req)
        .await
        .map(Response::into_inner)
        .map_err(|status| {
            let addr = kms.peers.address(&next.node).unwrap_or("?");
            let code = match status.code() {
                c @ (Code::Unauthenticated
                | Code::PermissionDenied
                | Code::InvalidArgument
                | Code::FailedPrecondition
                | Code::AlreadyExists
                | Code::ResourceExhausted) => c,
                _ => Code::Unavailable,
            };
            Status::new(
                code,
                format!(
                    "KME {} (relay at {addr}, QKD link {}): {}",
                    next.node,
                    next.link,
                    why(&status)
                ),
            )
        })
}

/// The `KeyRelay` service of `node`'s KME.
#[derive(Clone)]
pub struct RelayService {
    kms: Arc<Kms>,
    node: String,
}

impl RelayService {
    pub fn new(kms: Arc<Kms>, node: String) -> RelayService {
        RelayService { kms, node }
    }

    pub fn into_server(self) -> KeyRelayServer<RelayService> {
        KeyRelayServer::new(self)
    }
}

#[tonic::async_trait]
impl KeyRelay for RelayService {
    async fn relay(&self, req: Request<RelayRequest>) -> Result<Response<RelayReply>, Status> {
        let peer = req.extensions().get::<Peer>().cloned().unwrap_or_default();
        let req = req.into_inner();
        let (count, unit, link) = (req.keys.len(), req.service_unit.clone(), req.link.clone());
        let result = receive(&self.kms, &self.node, &peer, req).await;
        if let Err(status) = &result {
            self.kms.log(
                &self.node,
                format!(
                    "relay of {count} key(s) of service unit {unit} from {} over QKD link {link} refused ({:?}): {}",
                    peer.identity.as_deref().unwrap_or("an unnamed caller"),
                    status.code(),
                    status.message()
                ),
            );
        }
        result.map(Response::new)
    }
}

/// Who may call: a KME certificate whose CN is the node at the other end of the request's
/// link, in `node`'s own configuration.
fn caller(s: &KmsState, node: &str, peer: &Peer, link: &str) -> Result<String, Status> {
    let Some(cn) = peer.identity.as_deref() else {
        return Err(Status::unauthenticated(
            "a key relay takes a peer KME's client certificate",
        ));
    };
    if peer.unit.as_deref() != Some(pki::KME_UNIT) {
        return Err(Status::permission_denied(format!(
            "the certificate of `{cn}` is not a KME's (its subject OU is not `{}`)",
            pki::KME_UNIT
        )));
    }
    let joins = s.configs.get(node).is_some_and(|c| {
        c.forwarding
            .qkd_links
            .iter()
            .any(|l| l.qkdl_id == link && l.remote_qkdn_id == cn)
    });
    if !joins {
        return Err(Status::permission_denied(format!(
            "KME {cn} is not at the other end of a QKD link `{link}` of KME {node}"
        )));
    }
    Ok(cn.to_string())
}

/// Takes one hop's keys at `node` and passes them on or keeps them.
pub async fn receive(
    kms: &Kms,
    node: &str,
    peer: &Peer,
    req: RelayRequest,
) -> Result<RelayReply, Status> {
    if !kms.env.node_up(node) {
        return Err(Status::unavailable(format!("node {node} is stopped")));
    }
    let need = message::check_shape(&req).map_err(|e| Status::invalid_argument(e.to_string()))?;
    let route = Route::of(&req);
    let (keys, next, from) = {
        let (mut s, now) = kms.current();
        let from = caller(&s, node, peer, &req.link)?;
        // The pad is used up only by a request whose tag checks out under it.
        let mut opened = None;
        s.pools
            .receive_pad_if(&req.link, node, req.pad_offset, need, |pad| {
                opened = Some(message::open(&req, pad));
                matches!(opened, Some(Ok(_)))
            })
            .map_err(pad_status)?;
        let keys = match opened {
            Some(Ok(keys)) => keys,
            Some(Err(e @ Refusal::Forged)) => return Err(Status::unauthenticated(e.to_string())),
            Some(Err(e)) => return Err(Status::invalid_argument(e.to_string())),
            None => return Err(Status::internal("the pad was not checked")),
        };
        let cfg = s.configs.get(node).ok_or_else(|| {
            Status::failed_precondition(format!("KME {node} runs no configuration yet"))
        })?;
        let entry = cfg.forwarding.forwarding_table.iter().find(|e| {
            e.service_unit == req.service_unit
                && e.path == req.path as usize
                && e.virt_prev_hop
                    .as_ref()
                    .is_some_and(|h| h.node == from && h.link == req.link)
        });
        let Some(entry) = entry else {
            return Err(Status::failed_precondition(format!(
                "KME {node} has no forwarding entry for path {} of service unit {} from KME {from} over QKD link {} (is an apply under way?)",
                req.path, req.service_unit, req.link
            )));
        };
        match entry.virt_next_hop.clone() {
            Some(next) => (keys, Some(next), from),
            None => {
                store(&mut s, node, &route, keys, now)?;
                (Vec::new(), None, from)
            }
        }
    };
    match next {
        Some(next) => {
            let reply = forward(kms, node, &route, req.hop + 1, &next, &keys).await?;
            kms.log(
                node,
                format!(
                    "relayed {} key(s) of service unit {} from KME {from} to KME {} (QKD links {} → {})",
                    keys.len(),
                    route.service_unit,
                    next.node,
                    req.link,
                    next.link
                ),
            );
            Ok(RelayReply {
                hops_after: reply.hops_after + 1,
            })
        }
        None => {
            kms.log(
                node,
                format!(
                    "received {} key(s) of service unit {} from SAE {} (KME {}) for SAE {} over {} link(s)",
                    req.keys.len(),
                    route.service_unit,
                    route.master_sae,
                    route.source,
                    route.slave_saes.join(", "),
                    req.hop
                ),
            );
            Ok(RelayReply { hops_after: 0 })
        }
    }
}

/// Keeps relayed keys at their target `node`, the slave end of their service unit.
fn store(
    s: &mut KmsState,
    node: &str,
    route: &Route,
    keys: Vec<ClearKey>,
    now: f64,
) -> Result<(), Status> {
    let slave_end = route.target == node
        && s.configs.get(node).is_some_and(|c| {
            c.service.service_units.iter().any(|u| {
                u.id == route.service_unit && u.kind == UnitKind::Keys && u.role == EndRole::Slave
            })
        });
    if !slave_end {
        return Err(Status::failed_precondition(format!(
            "the path of service unit {} ends at KME {node}, which is not its slave end (target {})",
            route.service_unit, route.target
        )));
    }
    if route.slave_saes.is_empty() {
        return Err(Status::invalid_argument("keys relayed for no slave SAE"));
    }
    let st = s.stores.entry(node.to_string()).or_default();
    let waiting = st.waiting(&route.service_unit);
    if waiting + keys.len() > crate::kme::store::MAX_WAITING_KEYS_PER_UNIT {
        return Err(Status::resource_exhausted(format!(
            "KME {node} already holds {waiting} keys of service unit {} that its SAE has not fetched",
            route.service_unit
        )));
    }
    for (id, key) in &keys {
        if let Ok(k) = st.get(id)
            && (k.key != *key || k.master_sae != route.master_sae)
        {
            return Err(Status::already_exists(format!(
                "KME {node} already holds another key with key_ID {id}"
            )));
        }
    }
    let valid_until = route.valid_for_s.map(|t| now + t);
    for (id, key) in keys {
        if st.add_slaves(&id, &route.slave_saes) {
            continue;
        }
        st.insert(StoredKey {
            key_id: id,
            service_unit: route.service_unit.clone(),
            master_sae: route.master_sae.clone(),
            slave_saes: route.slave_saes.clone(),
            key,
            created_s: now,
            valid_until_s: valid_until,
        });
    }
    Ok(())
}
