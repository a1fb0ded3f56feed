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
#[derive(Debug, Clone, Default)]
pub struct AgentCore {
    pub node: String,
    pub running: Generation,
    pub prepared: Option<Generation>,
}

impl AgentCore {
    pub fn new(node: impl Into<String>) -> AgentCore {
        AgentCore {
            node: node.into(),
            ..AgentCore::default()
        }
    }

    /// Validates and stages a generation. Any generation other than the running one may be
    /// staged (a lower number is how an apply rolls a node back). No documents at all means
    /// "no configuration".
    pub fn prepare(
        &mut self,
        number: u64,
        digest: &str,
        node: &str,
        documents: BTreeMap<String, String>,
    ) -> Result<(), String> {
        if node != self.node {
            return Err(format!(
                "this agent serves node `{}`, not `{node}`",
                self.node
            ));
        }
        if number == self.running.number && digest != self.running.digest {
            return Err(format!(
                "generation {number} is already running with other contents"
            ));
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

    /// Switches to the staged generation, which must be `number`.
    pub fn commit(&mut self, number: u64) -> Result<&NodeConfig, String> {
        match self.prepared.take() {
            Some(g) if g.number == number => {
                self.running = g;
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
        a.prepare(1, "d1", "A", docs("A")).unwrap();
        assert_eq!(a.running.number, 0);
        a.commit(1).unwrap();
        assert_eq!(a.running.number, 1);
        a.prepare(2, "d2", "A", docs("A")).unwrap();
        a.abort(2);
        assert_eq!(a.running.number, 1);
        assert!(a.prepared.is_none());
        assert!(a.commit(2).is_err());
    }

    #[test]
    fn documents_for_another_node_or_schema_are_refused() {
        let mut a = AgentCore::new("A");
        assert!(a.prepare(1, "d", "B", docs("B")).is_err());
        assert!(
            a.prepare(1, "d", "A", docs("B"))
                .unwrap_err()
                .contains("node `B`")
        );
        let mut bad = docs("A");
        bad.insert(
            "service".into(),
            "schema: other/v9\nnode: A\nservice_units: []\nqkd_applications: []\nsessions: []\n"
                .into(),
        );
        assert!(a.prepare(1, "d", "A", bad).unwrap_err().contains("schema"));
        let mut garbage = docs("A");
        garbage.insert("forwarding".into(), "[[[".into());
        assert!(a.prepare(1, "d", "A", garbage).is_err());
        assert_eq!(a.running.number, 0);
    }
}
