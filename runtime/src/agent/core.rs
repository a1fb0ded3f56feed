//! One node's configuration lifecycle: the generation it runs, the generation it has
//! staged, and the rules of the two-phase commit. Pure state, no IO; the gRPC service and
//! the standalone agent wrap it.

use std::collections::BTreeMap;
use strata_compiler::config::{
    ConnectivityConfig, ForwardingConfig, NodeConfig, SCHEMA, ServiceConfig,
};

/// A generation of configuration as one node holds it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Generation {
    pub number: u64,
    pub digest: String,
    /// Stratum name → YAML document, exactly as received.
    pub documents: BTreeMap<String, String>,
    pub config: NodeConfig,
}

/// The agent's state machine.
///
/// Generation numbers only go up: a prepare must build on the generation the agent runs
/// (`base`) and name a higher number, so a controller holding an out-of-date state cannot
/// silently move a node back. Going back to an earlier configuration is a new, higher
/// generation. The one exception is undoing the last commit of a failed apply: the agent
/// remembers what it ran before its last commit, and a prepare naming exactly that
/// generation (number and digest) on top of the running one is a rollback.
#[derive(Debug, Clone, Default)]
pub struct AgentCore {
    pub node: String,
    pub running: Generation,
    pub prepared: Option<Generation>,
    /// What ran before the last commit, while that commit can still be undone (cleared
    /// once it is undone: a rollback cannot itself be rolled back).
    pub before_last_commit: Option<Generation>,
}

impl AgentCore {
    pub fn new(node: impl Into<String>) -> AgentCore {
        AgentCore {
            node: node.into(),
            ..AgentCore::default()
        }
    }

    /// Starts from a generation kept across a restart (a standalone agent's persisted
    /// one), without the rules of a prepare: nothing ran before it in this process.
    pub fn restore(
        &mut self,
        number: u64,
        digest: &str,
        documents: BTreeMap<String, String>,
    ) -> Result<&NodeConfig, String> {
        let config = parse_documents(&self.node, &documents)?;
        self.running = Generation {
            number,
            digest: digest.to_string(),
            documents,
            config,
        };
        self.prepared = None;
        self.before_last_commit = None;
        Ok(&self.running.config)
    }

    /// Validates and stages a generation built on generation `base`, which must be the
    /// running one. `number` must be above the running generation, unless the prepare
    /// rolls back the last commit (see [`AgentCore`]). No documents at all means "no
    /// configuration".
    pub fn prepare(
        &mut self,
        number: u64,
        digest: &str,
        node: &str,
        base: u64,
        documents: BTreeMap<String, String>,
    ) -> Result<(), String> {
        if node != self.node {
            return Err(format!(
                "this agent serves node `{}`, not `{node}`",
                self.node
            ));
        }
        let running = self.running.number;
        if base != running {
            return Err(format!(
                "generation {number} builds on generation {base}, but node `{}` runs generation {running}; the controller's view is out of date",
                self.node
            ));
        }
        if number <= running {
            let rollback = self
                .before_last_commit
                .as_ref()
                .is_some_and(|g| g.number == number && g.digest == digest);
            if !rollback {
                return Err(format!(
                    "generation {number} is not above the running generation {running} of node `{}` (and is not the generation it ran before its last commit); going back to an earlier configuration takes a new generation number",
                    self.node
                ));
            }
            if self
                .before_last_commit
                .as_ref()
                .is_some_and(|g| g.documents != documents)
            {
                return Err(format!(
                    "rollback to generation {number} carries other documents than node `{}` ran in that generation",
                    self.node
                ));
            }
        }
        let config = parse_documents(&self.node, &documents)?;
        self.prepared = Some(Generation {
            number,
            digest: digest.to_string(),
            documents,
            config,
        });
        Ok(())
    }

    /// Switches to the staged generation, which must be `number` (with `digest`, unless it
    /// is empty).
    pub fn commit(&mut self, number: u64, digest: &str) -> Result<&NodeConfig, String> {
        match self.prepared.take() {
            Some(g) if g.number == number && !digest.is_empty() && g.digest != digest => {
                self.prepared = Some(g);
                Err(format!(
                    "generation {number} staged on node `{}` has other contents than the one being committed (another apply staged it)",
                    self.node
                ))
            }
            Some(g) if g.number == number => {
                let rollback = g.number < self.running.number;
                let before = std::mem::replace(&mut self.running, g);
                self.before_last_commit = (!rollback).then_some(before);
                Ok(&self.running.config)
            }
            Some(g) => {
                let staged = g.number;
                self.prepared = Some(g);
                Err(format!(
                    "generation {number} is not staged (generation {staged} is)"
                ))
            }
            None => Err(format!("generation {number} was never prepared")),
        }
    }

    /// Drops the staged generation if it is `number`.
    pub fn abort(&mut self, number: u64) {
        if self.prepared.as_ref().is_some_and(|g| g.number == number) {
            self.prepared = None;
        }
    }
}

/// Parses and checks a node's three documents.
pub fn parse_documents(
    node: &str,
    documents: &BTreeMap<String, String>,
) -> Result<NodeConfig, String> {
    if documents.is_empty() {
        return Ok(NodeConfig::default());
    }
    for name in documents.keys() {
        if !matches!(name.as_str(), "service" | "forwarding" | "connectivity") {
            return Err(format!("unknown stratum document `{name}`"));
        }
    }
    let get = |name: &str| {
        documents
            .get(name)
            .ok_or_else(|| format!("the `{name}` document is missing"))
    };
    let service: ServiceConfig =
        serde_yaml::from_str(get("service")?).map_err(|e| format!("service document: {e}"))?;
    let forwarding: ForwardingConfig = serde_yaml::from_str(get("forwarding")?)
        .map_err(|e| format!("forwarding document: {e}"))?;
    let connectivity: ConnectivityConfig = serde_yaml::from_str(get("connectivity")?)
        .map_err(|e| format!("connectivity document: {e}"))?;
    for (schema, doc_node, what) in [
        (&service.schema, &service.node, "service"),
        (&forwarding.schema, &forwarding.node, "forwarding"),
        (&connectivity.schema, &connectivity.node, "connectivity"),
    ] {
        if schema != SCHEMA {
            return Err(format!(
                "{what} document has schema `{schema}`, this agent understands `{SCHEMA}`"
            ));
        }
        if doc_node != node {
            return Err(format!(
                "{what} document is for node `{doc_node}`, this agent serves `{node}`"
            ));
        }
    }
    Ok(NodeConfig {
        service,
        forwarding,
        connectivity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(node: &str) -> BTreeMap<String, String> {
        let mut cfg = NodeConfig::default();
        cfg.service.schema = SCHEMA.into();
        cfg.service.node = node.into();
        cfg.forwarding.schema = SCHEMA.into();
        cfg.forwarding.node = node.into();
        cfg.connectivity.schema = SCHEMA.into();
        cfg.connectivity.node = node.into();
        BTreeMap::from([
            (
                "service".to_string(),
                serde_yaml::to_string(&cfg.service).unwrap(),
            ),
            (
                "forwarding".to_string(),
                serde_yaml::to_string(&cfg.forwarding).unwrap(),
            ),
            (
                "connectivity".to_string(),
                serde_yaml::to_string(&cfg.connectivity).unwrap(),
            ),
        ])
    }

    #[test]
    fn prepare_commit_switches_and_abort_keeps_the_running_generation() {
        let mut a = AgentCore::new("A");
        a.prepare(1, "d1", "A", 0, docs("A")).unwrap();
        assert_eq!(a.running.number, 0);
        a.commit(1, "").unwrap();
        assert_eq!(a.running.number, 1);
        a.prepare(2, "d2", "A", 1, docs("A")).unwrap();
        a.abort(2);
        assert_eq!(a.running.number, 1);
        assert!(a.prepared.is_none());
        assert!(a.commit(2, "").is_err());
    }

    #[test]
    fn a_commit_takes_only_the_contents_it_names() {
        // Two applies staged generation 1 one after the other: the first one's commit must
        // not switch the node to the second one's contents.
        let mut a = AgentCore::new("A");
        a.prepare(1, "mine", "A", 0, docs("A")).unwrap();
        a.prepare(1, "theirs", "A", 0, docs("A")).unwrap();
        let err = a.commit(1, "mine").unwrap_err();
        assert!(err.contains("other contents"), "{err}");
        assert_eq!(a.running.number, 0);
        a.commit(1, "theirs").unwrap();
        assert_eq!(a.running.digest, "theirs");
    }

    #[test]
    fn documents_for_another_node_or_schema_are_refused() {
        let mut a = AgentCore::new("A");
        assert!(a.prepare(1, "d", "B", 0, docs("B")).is_err());
        assert!(
            a.prepare(1, "d", "A", 0, docs("B"))
                .unwrap_err()
                .contains("node `B`")
        );
        let mut bad = docs("A");
        bad.insert(
            "service".into(),
            "schema: other/v9\nnode: A\nservice_units: []\nqkd_applications: []\nsessions: []\n"
                .into(),
        );
        assert!(
            a.prepare(1, "d", "A", 0, bad)
                .unwrap_err()
                .contains("schema")
        );
        let mut garbage = docs("A");
        garbage.insert("forwarding".into(), "[[[".into());
        assert!(a.prepare(1, "d", "A", 0, garbage).is_err());
        assert_eq!(a.running.number, 0);
    }

    /// An agent that committed generations 1 and 2 (digests d1, d2).
    fn at_two() -> AgentCore {
        let mut a = AgentCore::new("A");
        a.prepare(1, "d1", "A", 0, docs("A")).unwrap();
        a.commit(1, "").unwrap();
        a.prepare(2, "d2", "A", 1, docs("A")).unwrap();
        a.commit(2, "").unwrap();
        a
    }

    #[test]
    fn a_prepare_must_build_on_the_running_generation() {
        let mut a = at_two();
        let err = a.prepare(3, "d3", "A", 1, docs("A")).unwrap_err();
        assert!(
            err.contains("builds on generation 1") && err.contains("runs generation 2"),
            "{err}"
        );
        let err = a.prepare(3, "d3", "A", 0, docs("A")).unwrap_err();
        assert!(err.contains("builds on generation 0"), "{err}");
        assert!(a.prepared.is_none());
        a.prepare(3, "d3", "A", 2, docs("A")).unwrap();
        a.commit(3, "").unwrap();
        assert_eq!(a.running.number, 3);
    }

    #[test]
    fn a_lower_or_equal_generation_is_refused() {
        let mut a = at_two();
        // What a controller with a fresh state (generation 0) would send, if it believed
        // the agent at 2: generation 1 again, with other contents.
        for (n, d) in [(1, "other"), (2, "d2"), (2, "other"), (0, "")] {
            let err = a.prepare(n, d, "A", 2, docs("A")).unwrap_err();
            assert!(
                err.contains(&format!(
                    "generation {n} is not above the running generation 2"
                )),
                "{n} {d}: {err}"
            );
        }
        assert!(a.prepared.is_none());
        assert_eq!(a.running.number, 2);
        // Two generations back is not the last commit's predecessor either.
        let mut b = at_two();
        b.prepare(3, "d3", "A", 2, docs("A")).unwrap();
        b.commit(3, "").unwrap();
        assert!(b.prepare(1, "d1", "A", 3, docs("A")).is_err());
    }

    #[test]
    fn the_last_commit_can_be_rolled_back_once_and_only_exactly() {
        let mut a = at_two();
        // Only the generation that ran before the last commit, with its digest and documents.
        assert!(a.prepare(1, "other", "A", 2, docs("A")).is_err());
        assert!(a.prepare(1, "d1", "A", 2, BTreeMap::new()).is_err());
        assert!(a.prepare(1, "d1", "A", 1, docs("A")).is_err());
        a.prepare(1, "d1", "A", 2, docs("A")).unwrap();
        a.commit(1, "").unwrap();
        assert_eq!((a.running.number, a.running.digest.as_str()), (1, "d1"));
        // The next apply builds on it as usual, but a rollback cannot be repeated to go
        // further back.
        assert!(a.prepare(0, "", "A", 1, BTreeMap::new()).is_err());
        assert!(a.before_last_commit.is_none());
        a.prepare(2, "d2", "A", 1, docs("A")).unwrap();
        // The first commit of a fresh agent can be undone back to nothing.
        let mut fresh = AgentCore::new("A");
        fresh.prepare(1, "d1", "A", 0, docs("A")).unwrap();
        fresh.commit(1, "").unwrap();
        fresh.prepare(0, "", "A", 1, BTreeMap::new()).unwrap();
        fresh.commit(0, "").unwrap();
        assert_eq!(fresh.running, Generation::default());
    }

    #[test]
    fn a_restored_generation_runs_without_a_prepare() {
        let mut a = AgentCore::new("A");
        a.restore(7, "d7", docs("A")).unwrap();
        assert_eq!(a.running.number, 7);
        assert!(a.prepare(7, "d7", "A", 7, docs("A")).is_err());
        assert!(a.prepare(2, "d2", "A", 7, docs("A")).is_err());
        a.prepare(8, "d8", "A", 7, docs("A")).unwrap();
        assert!(a.restore(1, "d", docs("B")).is_err());
    }
}
