//! Hosting the digital twin: one agent per node of an inventory, each on its own loopback
//! listener, all backed by one emulated [`World`] whose clock runs `speed` times faster
//! than real time — and, unless turned off, one ETSI GS QKD 014 KME per node over mutual TLS
//! ([`crate::kme`]), fed every configuration the node's agent commits, and one ETSI GS QKD
//! 015 RESTCONF server per node ([`super::restconf`]).

use super::restconf::{Devices, RestconfDirectory};
use crate::agent::Backend;
use crate::agent::channel::{self, Access, ControlTls};
use crate::agent::service::AgentService;
use crate::agents::Agents;
use crate::conn_limits::Limits;
use crate::kme::{KmeDirectory, KmeOptions, Kms};
use crate::pb;
use crate::pki::Pki;
use crate::world::{Fault, NodeSample, World};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strata_compiler::config::NodeConfig;
use strata_compiler::inventory::Inventory;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy)]
pub struct TwinOptions {
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Simulated seconds between telemetry samples.
    pub telemetry_interval_s: f64,
    /// Real time between clock steps.
    pub tick: Duration,
}

impl Default for TwinOptions {
    fn default() -> Self {
        TwinOptions {
            speed: 1.0,
            telemetry_interval_s: 1.0,
            tick: Duration::from_millis(20),
        }
    }
}

/// A running twin. Dropping it (or [`Twin::shutdown`]) stops every agent, every KME and the
/// clock.
pub struct Twin {
    pub world: Arc<World>,
    pub agents: Agents,
    /// Where the KMEs listen and where their certificates are (`None` when started without).
    pub kme: Option<KmeDirectory>,
    /// The KMEs themselves: pools, stores and log.
    pub kms: Option<Arc<Kms>>,
    /// Where the nodes' RESTCONF servers listen (with the KMEs, which hold the CA).
    pub restconf: Option<RestconfDirectory>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The certificates' temporary directory, removed with the twin.
    _pki_temp: Option<tempfile::TempDir>,
}

/// The twin's world under an agent.
pub struct WorldBackend {
    pub world: Arc<World>,
    pub period: Duration,
}

impl Backend for WorldBackend {
    fn install(&self, node: &str, config: &NodeConfig) {
        self.world.install(node, config.clone());
    }

    fn sample(&self, node: &str, generation: u64) -> pb::TelemetrySample {
        let s = self.world.sample(node).unwrap_or_else(|| NodeSample {
            node: node.to_string(),
            time_s: self.world.now(),
            up: false,
            links: Vec::new(),
            units: Vec::new(),
        });
        to_pb(s, generation)
    }

    fn fault(&self, fault: &pb::FaultRequest) -> Result<(), String> {
        self.world.apply_fault(&from_pb(fault)?)
    }

    fn available(&self, node: &str) -> bool {
        self.world.node_up(node)
    }

    fn refuses_prepare(&self, node: &str) -> bool {
        self.world.refuses_prepare(node)
    }

    fn telemetry_period(&self) -> Duration {
        self.period
    }
}

pub fn to_pb(s: NodeSample, generation: u64) -> pb::TelemetrySample {
    pb::TelemetrySample {
        node: s.node,
        generation,
        time_s: s.time_s,
        up: s.up,
        links: s
            .links
            .into_iter()
            .map(|l| pb::LinkSample {
                link: l.link,
                peer: l.peer,
                kind: l.kind,
                up: l.up,
                skr: l.skr,
                eskr: l.eskr,
                qber: l.qber,
                pool: l.pool,
                fidelity: l.fidelity,
            })
            .collect(),
        units: s
            .units
            .into_iter()
            .map(|u| pb::UnitSample {
                service_unit: u.service_unit,
                role: u.role,
                delivered_rate: u.delivered_rate,
                target_rate: u.target_rate,
                fidelity: u.fidelity,
                delivered_total: u.delivered_total,
            })
            .collect(),
    }
}

/// The world's backend that also hands every committed configuration to the KMEs.
struct WithKms {
    inner: WorldBackend,
    kms: Arc<Kms>,
    devices: Arc<Devices>,
}

impl Backend for WithKms {
    fn install(&self, node: &str, config: &NodeConfig) {
        self.inner.install(node, config);
        self.kms.install(node, config);
        self.devices.installed(node, config);
    }

    fn sample(&self, node: &str, generation: u64) -> pb::TelemetrySample {
        self.inner.sample(node, generation)
    }

    fn fault(&self, fault: &pb::FaultRequest) -> Result<(), String> {
        self.inner.fault(fault)
    }

    fn available(&self, node: &str) -> bool {
        self.inner.available(node)
    }

    fn refuses_prepare(&self, node: &str) -> bool {
        self.inner.refuses_prepare(node)
    }

    fn telemetry_period(&self) -> Duration {
        self.inner.telemetry_period()
    }
}

/// The wire form of a fault, turned into the world's.
pub fn from_pb(f: &pb::FaultRequest) -> Result<Fault, String> {
    use pb::fault_request::Fault as F;
    Ok(match f.fault.clone().ok_or("empty fault request")? {
        F::CutLink(l) => Fault::CutLink(l),
        F::RestoreLink(l) => Fault::RestoreLink(l),
        F::SetQber(v) => Fault::SetQber(v.link, v.value),
        F::SetFidelity(v) => Fault::SetFidelity(v.link, v.value),
        F::StopNode(n) => Fault::StopNode(n),
        F::StartNode(n) => Fault::StartNode(n),
        F::RefusePrepare(n) => Fault::RefusePrepare(n),
        F::AcceptPrepare(n) => Fault::AcceptPrepare(n),
    })
}

impl Twin {
    /// Starts an agent for every node on `127.0.0.1` (ports chosen by the system), the
    /// clock of the emulated network, and a KME per node with its certificates in a
    /// temporary directory ([`KmeOptions::default`]).
    pub async fn start(inventory: &Inventory, options: TwinOptions) -> Result<Twin, String> {
        Self::start_with(inventory, options, KmeOptions::default()).await
    }

    /// [`Twin::start`], with the KMEs as `kme` says.
    pub async fn start_with(
        inventory: &Inventory,
        options: TwinOptions,
        kme: KmeOptions,
    ) -> Result<Twin, String> {
        if !(options.speed.is_finite() && options.speed > 0.0) {
            return Err(format!(
                "the twin's speed must be a finite number above 0, not {}",
                options.speed
            ));
        }
        let world = Arc::new(World::new(inventory));
        let speed = options.speed.max(1e-3);
        let period = Duration::from_secs_f64((options.telemetry_interval_s / speed).max(0.001));
        let (shutdown, watcher) = watch::channel(false);
        let mut tasks = Vec::new();
        let world_backend = WorldBackend {
            world: world.clone(),
            period,
        };
        // One CA for the KMEs, their SAEs, the agents and the controller.
        let (dir, pki_temp) = match &kme.pki_dir {
            Some(d) => (d.clone(), None),
            None => {
                let t = tempfile::Builder::new()
                    .prefix("strata-twin-pki-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a directory for certificates: {e}"))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let nodes = world.nodes();
        let (kme_nodes, saes) = if kme.enabled {
            (
                nodes.clone(),
                crate::kme::saes(inventory).into_keys().collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let pki = Pki::create_with_agents(&dir, &inventory.name, &kme_nodes, &saes, &nodes)?;
        let (backend, kme_dir, kms, restconf): (Arc<dyn Backend>, _, _, _) = if kme.enabled {
            let running = crate::kme::start(
                world.clone(),
                inventory,
                speed,
                &kme,
                &pki,
                options.tick,
                watcher.clone(),
            )
            .await?;
            tasks.extend(running.tasks);
            let devices = Arc::new(Devices::new(world.clone()));
            let (restconf, servers) =
                super::restconf::start(devices.clone(), &pki, &world.nodes(), watcher.clone())
                    .await?;
            tasks.extend(servers);
            let backend = Arc::new(WithKms {
                inner: world_backend,
                kms: running.kms.clone(),
                devices,
            });
            (
                backend,
                Some(running.directory),
                Some(running.kms),
                Some(restconf),
            )
        } else {
            (Arc::new(world_backend), None, None, None)
        };
        let mut addresses = BTreeMap::new();
        for node in world.nodes() {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| format!("cannot listen on loopback: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            addresses.insert(node.clone(), addr.to_string());
            let tls = pki.agent_server_config(&node)?;
            let service = AgentService::new(node, backend.clone())
                .access(Access::controller())
                .into_server();
            let mut stop = watcher.clone();
            tasks.push(tokio::spawn(async move {
                let _ = channel::serve(listener, service, Some(tls), Limits::default(), async {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            }));
        }
        let clock_world = world.clone();
        let mut stop = watcher.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(options.tick);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                let now = tokio::time::Instant::now();
                let mut sim = (now - last).as_secs_f64() * speed;
                last = now;
                // Small steps keep the emulation's rate limits accurate.
                while sim > 1e-9 {
                    let step = sim.min(0.05);
                    clock_world.advance(step);
                    sim -= step;
                }
            }
        }));
        let agents = Agents {
            network: inventory.name.clone(),
            twin: true,
            agents: addresses,
            // Absolute: an agents file resolves relative paths from its own directory.
            tls: Some(ControlTls {
                ca: absolute(&pki.ca_path)?,
                cert: absolute(&pki.controller.cert_path)?,
                key: absolute(&pki.controller.key_path.clone().unwrap_or_default())?,
            }),
        };
        Ok(Twin {
            world,
            agents,
            kme: kme_dir,
            kms,
            restconf,
            shutdown,
            tasks,
            _pki_temp: pki_temp,
        })
    }

    /// Stops every agent and the clock. Open telemetry streams are cut, not drained.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

fn absolute(path: &std::path::Path) -> Result<std::path::PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("cannot resolve `{}`: {e}", path.display()))
}

impl Drop for Twin {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
