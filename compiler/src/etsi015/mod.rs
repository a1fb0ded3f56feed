//! ETSI GS QKD 015 V2.1.1 documents: the `etsi-qkd-sdn-node:qkd_node` tree an SDN
//! controller writes to an SD-QKD node over RESTCONF (RFC 8040) in RFC 7951 JSON. `model`
//! is the tree, `ids` the name-derived UUIDs, `build` the mapping from strata's
//! per-node documents and `agree` the check that both say the same.

pub mod agree;
pub mod build;
pub mod ids;
pub mod model;

pub use build::{document, has_document};
pub use model::{Document, FILE, QKD_NODE};

use crate::config::{ConfigSet, file_name};

/// The 015 document of every node that ends QKD links, as (relative path, JSON text):
/// `NODE/qkd_node.json`, in node order.
pub fn render(configs: &ConfigSet) -> Vec<(String, String)> {
    configs
        .nodes
        .iter()
        .filter(|(_, cfg)| has_document(cfg))
        .map(|(node, cfg)| {
            (
                format!("{}/{FILE}", file_name(node)),
                document(node, cfg).to_json(),
            )
        })
        .collect()
}

/// The `NODE/qkd_node.json` texts among an output directory's files, by directory name.
pub fn documents_in(files: &[(String, String)]) -> std::collections::BTreeMap<String, String> {
    files
        .iter()
        .filter_map(|(path, text)| {
            let rel = path.replace('\\', "/");
            let (dir, doc) = rel.trim_start_matches("./").rsplit_once('/')?;
            (doc == FILE && !dir.contains('/')).then(|| (dir.to_string(), text.clone()))
        })
        .collect()
}
