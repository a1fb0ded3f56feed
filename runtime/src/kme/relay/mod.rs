//! Trusted-node key relay with a one-time pad, hop by hop, along the committed forwarding
//! tables.
//!
//! [`paths`] rebuilds a service unit's paths from the forwarding tables of every node with the
//! compiler's one reading of them ([`paths_from_forwarding`], the verifier's too): an entry
//! without `virt_prev_hop` at the master starts a path, `virt_next_hop` is followed node by
//! node, each next node's entry for the path must point back over the same link, and the path
//! must end at the slave. A node still on an older generation breaks the path.
//!
//! [`net`] moves keys along such a path over the network, one QKD link at a time, with the
//! wire format of [`message`]: every KME on the way holds the keys in clear, encrypts them
//! with the next link's pad (`c = k ⊕ pad`) and sends only `c` and a tag; the next KME
//! decrypts with its copy of that pad (`k = c ⊕ pad`). Each hop consumes the keys' length
//! and 32 bytes of authentication key from both ends of its link.

pub mod message;
pub mod net;

use super::pool::{PadError, Pools};
use std::collections::BTreeMap;
use strata_compiler::config::{EndRole, NodeConfig, paths_from_forwarding};

/// One path of a service unit: `nodes[0]` is the master's node, the last node the slave's,
/// `links[i]` joins `nodes[i]` and `nodes[i + 1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPath {
    pub index: usize,
    pub nodes: Vec<String>,
    pub links: Vec<String>,
}

impl RelayPath {
    pub fn hops(&self) -> usize {
        self.links.len()
    }

    /// `A→B→C`.
    pub fn display(&self) -> String {
        self.nodes.join("→")
    }
}

/// The paths of service unit `unit` from `master` to `slave` that every node's committed
/// forwarding table agrees on, by path index.
pub fn paths(
    configs: &BTreeMap<String, NodeConfig>,
    unit: &str,
    master: &str,
    slave: &str,
) -> Vec<RelayPath> {
    let Some(cfg) = configs.get(master) else {
        return Vec::new();
    };
    let is_master = cfg
        .service
        .service_units
        .iter()
        .any(|u| u.id == unit && u.role == EndRole::Master && u.peer == slave);
    if !is_master {
        return Vec::new();
    }
    let tables = configs.iter().map(|(n, c)| (n.as_str(), &c.forwarding));
    paths_from_forwarding(tables)
        .starting_at(unit, master)
        .into_iter()
        .filter(|c| c.nodes.last() == Some(&slave))
        .map(|c| RelayPath {
            index: c.index,
            nodes: c.nodes.iter().map(|n| n.to_string()).collect(),
            links: c.links.iter().map(|l| l.to_string()).collect(),
        })
        .collect()
}

/// Can `path` carry `bytes` key bytes per hop now, as far as this KME can tell? Every link
/// whose pool it holds must be up and hold the bytes at the sending end; links it does not
/// hold (a standalone KME holds only its own) are checked by the KMEs that do, when the keys
/// cross them.
pub fn check(pools: &Pools, path: &RelayPath, bytes: usize) -> Result<(), PadError> {
    for (i, l) in path.links.iter().enumerate() {
        if pools.get(l).is_none() && !pools.holds_every_link() {
            continue;
        }
        pools.check_send(l, &path.nodes[i], bytes)?;
    }
    Ok(())
}
