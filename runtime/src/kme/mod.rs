//! Key delivery to applications over ETSI GS QKD 014, on every KME of the digital twin.
//!
//! * [`crate::pki`] — the twin's local CA, one server certificate per KME, one client
//!   certificate per SAE (a module of its own below this one and the agents, whose control
//!   channel trusts the same CA). **The SAE id is the subject CN of the caller's client
//!   certificate**, and it is the name the service document gives the session's
//!   application (`sessions[].application`): the application's name in the inventory
//!   (`ccips`), or the node's name when the intent names a node as its endpoint
//!   (`Moncloa`).
//! * [`pool`] — key pools per QKD link, fed from the OS CSPRNG at each link's current secret
//!   key rate in the twin, identical at both ends.
//! * [`relay`] — one-time-pad relay hop by hop along the committed forwarding tables, over
//!   the network between KMEs (gRPC over mutual TLS, [`relay::net`]).
//! * [`environment`] — what the KMEs observe: the twin's world, or a standalone KME's own
//!   configuration; [`standalone`] — one KME as its own process (`strata kme`).
//! * [`store`] — keys waiting at the slave KME, with expiry, and token buckets per session.
//! * [`api`] — the HTTP resources (`status`, `enc_keys`, `dec_keys`) and the standard's
//!   error format; [`server`] — the mutual-TLS listener; [`client`] — a small Rust SAE
//!   client over the same TLS.
//!
//! One [`Kms`] serves a whole twin, or a single standalone KME: it holds every node's
//! committed configuration (fed by the agents' install hook, or read from a compile output
//! directory), the link pools, the key stores and the relay addresses of the peer KMEs. A
//! key is relayed inside `enc_keys` at the master KME, over the network from KME to KME
//! (the twin's KMEs relay to each other over loopback), so when `enc_keys` answers, the
//! slave KME already holds the key for `dec_keys`. All rates and lifetimes run on the KMEs'
//! clock: the twin's simulated clock (wall time at `--speed 1`), or wall time.

pub mod api;
pub mod client;
pub mod environment;
pub mod pool;
pub mod relay;
pub mod server;
pub mod standalone;
pub mod store;

use crate::agent::channel;
use crate::agents::Agents;
use crate::conn_limits::Limits;
use crate::pki;
use environment::Environment;
use pool::Pools;
use relay::net::{Peers, RelayService};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use store::{KeyStore, TokenBucket};
use strata_compiler::config::{EndRole, NodeConfig, UnitKind};
use strata_compiler::inventory::Inventory;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::world::{KEY_POOL_SECONDS, World};

/// Serves `node`'s relay service on `listener` over mutual TLS with `tls` until `stop`.
pub async fn serve_relay(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    kms: Arc<Kms>,
    node: String,
    mut stop: watch::Receiver<bool>,
) {
    let service = RelayService::new(kms.clone(), node.clone()).into_server();
    let served = channel::serve_routes(
        listener,
        tonic::service::Routes::new(service),
        Some(tls),
        Limits::default(),
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    )
    .await;
    if let Err(e) = served {
        kms.log(&node, format!("the relay server stopped: {e}"));
    }
}

/// How a twin runs its KMEs.
#[derive(Debug, Clone, PartialEq)]
pub struct KmeOptions {
    /// Start the KMEs at all.
    pub enabled: bool,
    /// Where to write the certificates; `None` makes a temporary directory that is removed
    /// when the twin stops.
    pub pki_dir: Option<PathBuf>,
    /// A link pool holds at most this many seconds of the link's highest key rate.
    pub pool_seconds: f64,
}

impl Default for KmeOptions {
    fn default() -> Self {
        KmeOptions {
            enabled: true,
            pki_dir: None,
            pool_seconds: KEY_POOL_SECONDS,
        }
    }
}

/// An SAE's credentials and the KME it is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaeCredentials {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The node whose KME the SAE is attached to.
    pub kme: String,
}

/// Where the KMEs of a running twin listen and where their certificates are: what
/// `strata twin up` prints and writes (under `"kme"`) into the agents file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmeDirectory {
    pub pki_dir: PathBuf,
    /// The CA certificate every KME and SAE trusts.
    pub ca: PathBuf,
    /// Node → `127.0.0.1:PORT` of its KME's HTTPS listener.
    pub kmes: BTreeMap<String, String>,
    /// Node → `127.0.0.1:PORT` of its KME's relay listener (gRPC, for peer KMEs).
    #[serde(default)]
    pub relays: BTreeMap<String, String>,
    /// SAE id → its client certificate and key.
    pub saes: BTreeMap<String, SaeCredentials>,
}

impl KmeDirectory {
    /// `https://ADDR` of `node`'s KME.
    pub fn url(&self, node: &str) -> Option<String> {
        self.kmes.get(node).map(|a| format!("https://{a}"))
    }

    /// Reads the `"kme"` entry of an agents file.
    pub fn load(agents_file: &Path) -> Result<KmeDirectory, String> {
        let bytes = crate::input_file::read(agents_file)
            .map_err(|e| format!("cannot read `{}`: {e}", agents_file.display()))?;
        let mut doc: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("`{}` is not an agents file: {e}", agents_file.display()))?;
        let kme = doc
            .get_mut("kme")
            .map(serde_json::Value::take)
            .ok_or_else(|| format!("`{}` lists no KMEs", agents_file.display()))?;
        serde_json::from_value(kme).map_err(|e| format!("bad `kme` entry: {e}"))
    }
}

/// Writes an agents file with the KME directory under `"kme"` (readers of [`Agents`] ignore
/// it).
pub fn save_agents_file(
    agents: &Agents,
    kme: Option<&KmeDirectory>,
    path: &Path,
) -> Result<(), String> {
    agents.save(path)?;
    let Some(kme) = kme else { return Ok(()) };
    let mut doc = serde_json::to_value(agents).map_err(|e| e.to_string())?;
    doc["kme"] = serde_json::to_value(kme).map_err(|e| e.to_string())?;
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

/// One line of the KMEs' log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KmeLogLine {
    /// Twin time, seconds.
    pub time_s: f64,
    pub node: String,
    pub message: String,
}

/// The KMEs' log as it is written ([`Kms::follow_log`]).
pub struct LogFollower(broadcast::Receiver<KmeLogLine>);

impl LogFollower {
    /// The next line; `None` once the KMEs are gone. A follower that fell behind gets a line
    /// saying how many it missed.
    pub async fn next(&mut self) -> Option<KmeLogLine> {
        match self.0.recv().await {
            Ok(line) => Some(line),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(KmeLogLine {
                time_s: f64::NAN,
                node: "-".into(),
                message: format!("({n} log lines skipped)"),
            }),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// Lines kept in memory.
const LOG_LINES: usize = 10_000;

/// Everything the KMEs of one twin share.
pub(crate) struct KmsState {
    pub configs: BTreeMap<String, NodeConfig>,
    pub pools: Pools,
    /// Keys waiting at each (slave) node.
    pub stores: BTreeMap<String, KeyStore>,
    /// Token bucket of each session at its master: (service unit, master node).
    pub buckets: BTreeMap<(String, String), TokenBucket>,
    /// Twin time up to which key was generated.
    generated_to_s: f64,
    /// Twin time at which the links were last observed.
    observed_at_s: f64,
}

/// The key management system of a twin (all its KMEs), or one standalone KME.
pub struct Kms {
    env: Arc<dyn Environment>,
    /// Where the peer KMEs relay, and the certificates to reach them with.
    peers: Peers,
    speed: f64,
    state: Mutex<KmsState>,
    log: Mutex<VecDeque<KmeLogLine>>,
    log_tx: broadcast::Sender<KmeLogLine>,
}

impl Kms {
    /// KMEs in `env`, whose clock runs `speed` times faster than real time, with link
    /// `pools` and relaying to `peers`.
    pub fn new(env: Arc<dyn Environment>, speed: f64, pools: Pools, peers: Peers) -> Kms {
        let now = env.now();
        let (log_tx, _) = broadcast::channel(1024);
        let kms = Kms {
            env,
            peers,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
            state: Mutex::new(KmsState {
                configs: BTreeMap::new(),
                pools,
                stores: BTreeMap::new(),
                buckets: BTreeMap::new(),
                generated_to_s: now,
                observed_at_s: f64::NEG_INFINITY,
            }),
            log: Mutex::new(VecDeque::new()),
            log_tx,
        };
        kms.refresh();
        kms
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, KmsState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Simulated seconds per real second.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Observes every QKD link and generates key up to the clock.
    pub fn refresh(&self) {
        let now = self.env.now();
        let links = self.env.links();
        let mut s = self.lock();
        let dt = now - s.generated_to_s;
        // Generation since the last step ran at the rates observed then.
        if dt > 0.0 {
            s.pools.generate(dt);
            s.generated_to_s = now;
        }
        for l in &links {
            s.pools
                .observe(&l.link, &l.ends[0], &l.ends[1], l.up, l.skr);
        }
        s.observed_at_s = now;
    }

    /// The state, current to the twin's clock: links re-observed and key generated once per
    /// twin clock step, however many requests arrive within it.
    pub(crate) fn current(&self) -> (MutexGuard<'_, KmsState>, f64) {
        let now = self.env.now();
        {
            let s = self.lock();
            if s.observed_at_s >= now {
                return (s, now);
            }
        }
        self.refresh();
        (self.lock(), now)
    }

    /// `node` committed `config`: its KME serves the new service units, sessions and token
    /// buckets from now on. Keys already relayed stay until fetched or expired.
    pub fn install(&self, node: &str, config: &NodeConfig) {
        let now = self.env.now();
        let mut lines = Vec::new();
        {
            let mut s = self.lock();
            s.configs.insert(node.to_string(), config.clone());
            let mut live = BTreeSet::new();
            for u in config
                .service
                .service_units
                .iter()
                .filter(|u| u.kind == UnitKind::Keys)
            {
                let role = match u.role {
                    EndRole::Master => "master",
                    EndRole::Slave => "slave",
                };
                let session = config
                    .service
                    .sessions
                    .iter()
                    .find(|x| x.service_unit == u.id);
                lines.push(format!(
                    "service unit {} ({role} end, SAE {}, peer KME {}): local {} remote {} lifecycle {}",
                    u.id,
                    session.map_or("-", |x| x.application.as_str()),
                    u.peer,
                    u.urns.local,
                    u.urns.remote,
                    u.urns.lifecycle
                ));
                if u.role != EndRole::Master {
                    continue;
                }
                let (rate, burst) = session.map_or((u.rate, u.rate.ceil().max(1.0)), |x| {
                    (x.token_bucket.rate, f64::from(x.token_bucket.burst.max(1)))
                });
                let key = (u.id.clone(), node.to_string());
                live.insert(key.clone());
                match s.buckets.get_mut(&key) {
                    Some(b) => b.reconfigure(rate, burst, now),
                    None => {
                        s.buckets.insert(key, TokenBucket::new(rate, burst, now));
                    }
                }
            }
            s.buckets.retain(|(unit, master), _| {
                master != node || live.contains(&(unit.clone(), master.clone()))
            });
            s.stores.entry(node.to_string()).or_default();
        }
        for l in lines {
            self.log(node, l);
        }
    }

    /// Records `node`'s committed configuration without serving it: a standalone KME knows
    /// its peers' plans (the SAE names at the far ends, the whole paths) but runs only its own.
    pub fn know(&self, node: &str, config: &NodeConfig) {
        self.lock().configs.insert(node.to_string(), config.clone());
    }

    /// Appends a line to the KMEs' log.
    pub fn log(&self, node: &str, message: String) {
        let line = KmeLogLine {
            time_s: self.env.now(),
            node: node.to_string(),
            message,
        };
        let _ = self.log_tx.send(line.clone());
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.push_back(line);
        if log.len() > LOG_LINES {
            log.pop_front();
        }
    }

    /// The most recent log lines (at most 10,000), oldest first.
    pub fn log_lines(&self) -> Vec<KmeLogLine> {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Follows the log from now on.
    pub fn follow_log(&self) -> LogFollower {
        LogFollower(self.log_tx.subscribe())
    }

    /// Key bytes available now on QKD link `link` (both ends).
    pub fn pool_bytes(&self, link: &str) -> Option<usize> {
        let (s, _) = self.current();
        s.pools.get(link).map(|p| p.available())
    }
}

/// A twin's running KMEs.
pub struct Running {
    pub kms: Arc<Kms>,
    pub directory: KmeDirectory,
    pub tasks: Vec<JoinHandle<()>>,
}

/// Every SAE of an inventory: its applications, and its nodes (intents that name a node as
/// an endpoint make the node's name the session's application). SAE id → node.
pub fn saes(inventory: &Inventory) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = inventory
        .nodes
        .iter()
        .map(|n| (n.name.value.clone(), n.name.value.clone()))
        .collect();
    for a in &inventory.applications {
        out.insert(a.name.value.clone(), a.node.value.clone());
    }
    out
}

/// Starts a KME for every node of `world` on `127.0.0.1` with the certificates of `pki`
/// (made with every node's KME and every SAE of [`saes`]): an HTTPS server for its SAEs and
/// a relay server for its peer KMEs, which the KMEs relay keys to each other through; plus
/// the task that feeds the link pools every `tick`.
pub async fn start(
    world: Arc<World>,
    inventory: &Inventory,
    speed: f64,
    options: &KmeOptions,
    pki: &pki::Pki,
    tick: Duration,
    stop: watch::Receiver<bool>,
) -> Result<Running, String> {
    let nodes = world.nodes();
    let saes = saes(inventory);
    let mut relay_listeners = Vec::new();
    let mut relays = BTreeMap::new();
    let mut identities = BTreeMap::new();
    for node in &nodes {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        relays.insert(node.clone(), addr.to_string());
        let id = pki
            .kmes
            .get(node)
            .ok_or_else(|| format!("no KME certificate for `{node}`"))?;
        identities.insert(
            node.clone(),
            (pki.ca_pem.clone(), id.cert_pem.clone(), id.key_pem.clone()),
        );
        relay_listeners.push((node.clone(), listener));
    }
    let kms = Arc::new(Kms::new(
        Arc::new(environment::Twin(world)),
        speed,
        Pools::new(options.pool_seconds),
        Peers::new(relays.clone(), identities),
    ));
    let mut tasks = Vec::new();
    for (node, listener) in relay_listeners {
        let id = &pki.kmes[&node];
        let tls = pki::grpc_server_config(&pki.ca_pem, &id.cert_pem, &id.key_pem)?;
        tasks.push(tokio::spawn(serve_relay(
            listener,
            tls,
            kms.clone(),
            node,
            stop.clone(),
        )));
    }
    let mut kmes = BTreeMap::new();
    for node in &nodes {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        kmes.insert(node.clone(), addr.to_string());
        let tls = pki.server_config(node)?;
        tasks.push(tokio::spawn(server::serve(
            listener,
            tls,
            kms.clone(),
            node.clone(),
            stop.clone(),
        )));
    }
    let feeder = kms.clone();
    let mut halt = stop.clone();
    tasks.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(tick.max(Duration::from_millis(1)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => feeder.refresh(),
                _ = halt.wait_for(|s| *s) => return,
            }
        }
    }));
    let directory = KmeDirectory {
        pki_dir: pki.dir.clone(),
        ca: pki.ca_path.clone(),
        kmes,
        relays,
        saes: pki
            .saes
            .iter()
            .map(|(sae, id)| {
                (
                    sae.clone(),
                    SaeCredentials {
                        cert: id.cert_path.clone(),
                        key: id.key_path.clone().unwrap_or_default(),
                        kme: saes.get(sae).cloned().unwrap_or_default(),
                    },
                )
            })
            .collect(),
    };
    Ok(Running {
        kms,
        directory,
        tasks,
    })
}
