//! The agent's gRPC service: prepare / commit / abort a generation, report what runs, and
//! stream telemetry, for one node. A stopped node (twin fault) answers `UNAVAILABLE` to
//! everything, as a dead host would.

use super::Backend;
use super::channel::Access;
use super::core::{AgentCore, Generation, parse_documents};
use crate::crash_point::{Step, reached};
use crate::pb;
use crate::pb::agent_server::Agent;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

pub struct AgentService {
    node: String,
    /// Set while the node is seen down: a node that comes back has lost what it had staged,
    /// as a restarted agent process would.
    down_seen: Arc<std::sync::atomic::AtomicBool>,
    core: Arc<Mutex<AgentCore>>,
    backend: Arc<dyn Backend>,
    /// Where a standalone agent keeps its running generation across restarts.
    persist: Option<PathBuf>,
    /// Who may prepare, commit, abort, read the configuration or subscribe to telemetry.
    access: Access,
}

/// What a standalone agent keeps on disk: the running generation, the staged one (written
/// before the agent votes yes, so a restarted agent still holds what it promised to commit)
/// and the one its last commit can be rolled back to.
#[derive(serde::Serialize, serde::Deserialize)]
struct Persisted {
    generation: u64,
    digest: String,
    documents: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prepared: Option<Kept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before_last_commit: Option<Kept>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Kept {
    generation: u64,
    digest: String,
    documents: BTreeMap<String, String>,
}

impl Kept {
    fn of(g: &Generation) -> Kept {
        Kept {
            generation: g.number,
            digest: g.digest.clone(),
            documents: g.documents.clone(),
        }
    }

    fn generation(self, node: &str) -> Result<Generation, String> {
        Ok(Generation {
            config: parse_documents(node, &self.documents)?,
            number: self.generation,
            digest: self.digest,
            documents: self.documents,
        })
    }
}

impl AgentService {
    pub fn new(node: impl Into<String>, backend: Arc<dyn Backend>) -> AgentService {
        let node = node.into();
        AgentService {
            core: Arc::new(Mutex::new(AgentCore::new(node.clone()))),
            node,
            backend,
            persist: None,
            access: Access::Open,
            down_seen: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    /// Keeps the running and the staged generation in `path`, and starts from them if it
    /// exists.
    pub fn persisted(mut self, path: PathBuf) -> Result<AgentService, String> {
        let read = match crate::input_file::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
        };
        if let Some(bytes) = read {
            let p: Persisted =
                serde_json::from_slice(&bytes).map_err(|e| format!("`{}`: {e}", path.display()))?;
            let mut core = self.core.lock().map_err(|_| "agent state poisoned")?;
            let config = core.restore(p.generation, &p.digest, p.documents)?.clone();
            core.prepared = p.prepared.map(|k| k.generation(&self.node)).transpose()?;
            core.before_last_commit = p
                .before_last_commit
                .map(|k| k.generation(&self.node))
                .transpose()?;
            self.backend.install(&self.node, &config);
        }
        self.persist = Some(path);
        Ok(self)
    }

    /// Takes requests only as `access` allows (anyone, by default).
    pub fn access(mut self, access: Access) -> AgentService {
        self.access = access;
        self
    }

    pub fn into_server(self) -> pb::agent_server::AgentServer<AgentService> {
        pb::agent_server::AgentServer::new(self)
    }

    fn guard(&self) -> Result<std::sync::MutexGuard<'_, AgentCore>, Status> {
        use std::sync::atomic::Ordering;
        if !self.backend.available(&self.node) {
            self.down_seen.store(true, Ordering::SeqCst);
            return Err(Status::unavailable(format!("node `{}` is down", self.node)));
        }
        let mut core = self
            .core
            .lock()
            .map_err(|_| Status::internal("agent state poisoned"))?;
        if self.down_seen.swap(false, Ordering::SeqCst) {
            core.prepared = None;
        }
        Ok(core)
    }

    fn save(&self, core: &AgentCore) -> Result<(), Status> {
        let Some(path) = &self.persist else {
            return Ok(());
        };
        let p = Persisted {
            generation: core.running.number,
            digest: core.running.digest.clone(),
            documents: core.running.documents.clone(),
            prepared: core.prepared.as_ref().map(Kept::of),
            before_last_commit: core.before_last_commit.as_ref().map(Kept::of),
        };
        let bytes = serde_json::to_vec_pretty(&p).map_err(|e| Status::internal(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, &bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write()
            .map_err(|e| Status::internal(format!("cannot persist the agent's generations: {e}")))
    }
}

type SampleStream = Pin<Box<dyn Stream<Item = Result<pb::TelemetrySample, Status>> + Send>>;

impl AgentService {
    /// Stages a generation and votes: yes only once it is on disk.
    fn stage(&self, r: pb::PrepareRequest) -> Result<pb::PrepareReply, Status> {
        let mut core = self.guard()?;
        if self.backend.refuses_prepare(&self.node) {
            return Ok(pb::PrepareReply {
                ok: false,
                error: format!("node `{}` refuses to prepare (fault injected)", self.node),
            });
        }
        let documents: BTreeMap<String, String> = r.documents.into_iter().collect();
        let staged = core
            .prepare(
                r.generation,
                &r.digest,
                &r.node,
                r.base_generation,
                documents,
            )
            .and_then(|()| match &core.prepared {
                Some(g) => self.backend.prepare(&self.node, &g.config),
                None => Ok(()),
            });
        if staged.is_err() {
            core.prepared = None;
        }
        // The vote is yes only once the staged generation is on disk.
        let staged = staged.and_then(|()| {
            self.save(&core).map_err(|e| {
                core.prepared = None;
                e.message().to_string()
            })
        });
        Ok(match staged {
            Ok(()) => pb::PrepareReply {
                ok: true,
                error: String::new(),
            },
            Err(error) => pb::PrepareReply { ok: false, error },
        })
    }

    /// Switches to the staged generation, installs it and keeps it on disk.
    fn switch(&self, r: pb::CommitRequest) -> Result<pb::CommitReply, Status> {
        let mut core = self.guard()?;
        let generation = r.generation;
        let before = core.clone();
        let installed = core
            .commit(generation, &r.digest)
            .cloned()
            .and_then(|config| {
                self.backend.commit(&self.node, &config).map_err(|e| {
                    format!(
                        "node `{}` could not install generation {generation}, it still runs generation {}: {e}",
                        self.node, before.running.number
                    )
                })
            });
        if installed.is_err()
            && before
                .prepared
                .as_ref()
                .is_some_and(|g| g.number == generation)
        {
            *core = before;
            core.prepared = None;
        }
        Ok(match installed {
            Ok(_) => {
                self.save(&core)?;
                pb::CommitReply {
                    ok: true,
                    error: String::new(),
                    running_generation: core.running.number,
                }
            }
            Err(error) => pb::CommitReply {
                ok: false,
                error,
                running_generation: core.running.number,
            },
        })
    }
}

#[tonic::async_trait]
impl Agent for AgentService {
    async fn prepare(
        &self,
        req: Request<pb::PrepareRequest>,
    ) -> Result<Response<pb::PrepareReply>, Status> {
        self.access.check(&req, "prepare a generation")?;
        reached(Step::AgentPrepare).await;
        let reply = self.stage(req.into_inner())?;
        if reply.ok {
            reached(Step::AgentVoted).await;
        }
        Ok(Response::new(reply))
    }

    async fn commit(
        &self,
        req: Request<pb::CommitRequest>,
    ) -> Result<Response<pb::CommitReply>, Status> {
        self.access.check(&req, "commit a generation")?;
        reached(Step::AgentCommit).await;
        let reply = self.switch(req.into_inner())?;
        if reply.ok {
            reached(Step::AgentCommitted).await;
        }
        Ok(Response::new(reply))
    }

    async fn abort(
        &self,
        req: Request<pb::AbortRequest>,
    ) -> Result<Response<pb::AbortReply>, Status> {
        self.access.check(&req, "abort a generation")?;
        let generation = req.into_inner().generation;
        let mut core = self.guard()?;
        if core
            .prepared
            .as_ref()
            .is_some_and(|g| g.number == generation)
        {
            self.backend.abort(&self.node);
        }
        core.abort(generation);
        self.save(&core)?;
        Ok(Response::new(pb::AbortReply {
            running_generation: core.running.number,
        }))
    }

    async fn get_running(
        &self,
        req: Request<pb::RunningRequest>,
    ) -> Result<Response<pb::RunningReply>, Status> {
        self.access.check(&req, "read the running configuration")?;
        let core = self.guard()?;
        Ok(Response::new(pb::RunningReply {
            node: self.node.clone(),
            generation: core.running.number,
            digest: core.running.digest.clone(),
            documents: core.running.documents.clone().into_iter().collect(),
            prepared_generation: core.prepared.as_ref().map_or(0, |g| g.number),
            prepared_digest: core
                .prepared
                .as_ref()
                .map_or(String::new(), |g| g.digest.clone()),
        }))
    }

    type TelemetryStream = SampleStream;

    async fn telemetry(
        &self,
        req: Request<pb::TelemetryRequest>,
    ) -> Result<Response<SampleStream>, Status> {
        self.access.check(&req, "subscribe to telemetry")?;
        drop(self.guard()?);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let (node, core, backend, down_seen) = (
            self.node.clone(),
            self.core.clone(),
            self.backend.clone(),
            self.down_seen.clone(),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(backend.telemetry_period());
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if !backend.available(&node) {
                    down_seen.store(true, std::sync::atomic::Ordering::SeqCst);
                    let _ = tx
                        .send(Err(Status::unavailable(format!("node `{node}` is down"))))
                        .await;
                    return;
                }
                let generation = core.lock().map(|c| c.running.number).unwrap_or(0);
                if tx
                    .send(Ok(backend.sample(&node, generation)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn inject_fault(
        &self,
        req: Request<pb::FaultRequest>,
    ) -> Result<Response<pb::FaultReply>, Status> {
        self.access.check(&req, "inject a fault")?;
        let reply = match self.backend.fault(&req.into_inner()) {
            Ok(()) => pb::FaultReply {
                ok: true,
                error: String::new(),
            },
            Err(error) => pb::FaultReply { ok: false, error },
        };
        Ok(Response::new(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ConfigOnly;

    fn documents() -> std::collections::HashMap<String, String> {
        let mut cfg = strata_compiler::config::NodeConfig::default();
        cfg.service.schema = strata_compiler::config::SCHEMA.into();
        cfg.service.node = "A".into();
        cfg.forwarding.schema = strata_compiler::config::SCHEMA.into();
        cfg.forwarding.node = "A".into();
        cfg.connectivity.schema = strata_compiler::config::SCHEMA.into();
        cfg.connectivity.node = "A".into();
        [
            ("service", serde_yaml::to_string(&cfg.service)),
            ("forwarding", serde_yaml::to_string(&cfg.forwarding)),
            ("connectivity", serde_yaml::to_string(&cfg.connectivity)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.unwrap()))
        .collect()
    }

    fn agent(path: &std::path::Path) -> AgentService {
        AgentService::new("A", Arc::new(ConfigOnly::new()))
            .persisted(path.to_path_buf())
            .unwrap()
    }

    #[tokio::test]
    async fn a_restarted_agent_still_holds_what_it_voted_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("A.json");
        let first = agent(&path);
        let voted = first
            .prepare(Request::new(pb::PrepareRequest {
                generation: 1,
                digest: "d1".into(),
                node: "A".into(),
                documents: documents(),
                base_generation: 0,
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(voted.ok, "{}", voted.error);
        drop(first);

        // The process comes back: the staged generation is there, and commits.
        let second = agent(&path);
        let running = second
            .get_running(Request::new(pb::RunningRequest {}))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((running.generation, running.prepared_generation), (0, 1));
        let done = second
            .commit(Request::new(pb::CommitRequest {
                generation: 1,
                digest: "d1".into(),
            }))
            .await
            .unwrap()
            .into_inner();
        assert!(done.ok, "{}", done.error);
        drop(second);
        let third = agent(&path);
        let running = third
            .get_running(Request::new(pb::RunningRequest {}))
            .await
            .unwrap()
            .into_inner();
        assert_eq!((running.generation, running.prepared_generation), (1, 0));
        assert_eq!(running.digest, "d1");
    }
}
