//! Trusted-node key relay with a one-time pad, hop by hop, along the committed forwarding
//! tables.
//!
//! [`paths`] rebuilds a service unit's paths from the forwarding tables of every node exactly
//! as the twin's world does: an entry without `virt_prev_hop` at the master starts a path,
//! `virt_next_hop` is followed node by node, each next node must hold the matching entry
//! (same unit, same path index, pointing back over the same link) and the path must end at
//! the slave. A node still on an older generation breaks the path.
//!
//! [`relay`] moves one key along such a path. The master KME takes the key from its end of
//! the first link's pool, so the first relay learns it from its own copy of that pad. Every
//! trusted relay then holds the key in clear, encrypts it with the next link's pad
//! (`c = k ⊕ pad`) and sends only `c`; the next node decrypts with its copy of that pad
//! (`k = c ⊕ pad`). The slave KME ends with the key the master took. Each hop consumes the
//! key's length from both ends of its link, the same bytes at both ends.

use super::pool::Pools;
use std::collections::BTreeMap;
use strata_compiler::config::{EndRole, ForwardingEntry, NodeConfig};

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
    let mut out: Vec<RelayPath> = cfg
        .forwarding
        .forwarding_table
        .iter()
        .filter(|e| e.service_unit == unit && e.virt_prev_hop.is_none())
        .filter_map(|e| walk(configs, master, e))
        .filter(|p| p.nodes.last().is_some_and(|n| n == slave))
        .collect();
    out.sort_by_key(|p| p.index);
    out.dedup_by_key(|p| p.index);
    out
}

fn walk(
    configs: &BTreeMap<String, NodeConfig>,
    start: &str,
    first: &ForwardingEntry,
) -> Option<RelayPath> {
    let mut nodes = vec![start.to_string()];
    let mut links = Vec::new();
    let mut entry = first;
    let mut cur = start.to_string();
    while let Some(next) = &entry.virt_next_hop {
        if nodes.contains(&next.node) {
            return None;
        }
        entry = configs
            .get(&next.node)?
            .forwarding
            .forwarding_table
            .iter()
            .find(|x| {
                x.service_unit == first.service_unit
                    && x.path == first.path
                    && x.virt_prev_hop
                        .as_ref()
                        .is_some_and(|h| h.node == cur && h.link == next.link)
            })?;
        links.push(next.link.clone());
        nodes.push(next.node.clone());
        cur = next.node.clone();
    }
    (!links.is_empty()).then_some(RelayPath {
        index: first.path,
        nodes,
        links,
    })
}

/// One key relayed end to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// What the master KME took from its first link: the key it hands to the master SAE.
    pub master_key: Vec<u8>,
    /// What the slave KME decrypted with its last link's pad.
    pub slave_key: Vec<u8>,
    /// What travelled on each relayed hop's classical channel (one entry per trusted relay
    /// that forwarded the key): the key encrypted with that hop's pad.
    pub ciphertexts: Vec<Vec<u8>>,
}

/// Why a key could not be relayed.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayError {
    /// The link is not a QKD link the twin knows, or it is down.
    LinkDown(String),
    /// The link's pool holds fewer key bytes than the request needs.
    PoolShort {
        link: String,
        available_bits: u64,
        needed_bits: u64,
    },
}

impl std::fmt::Display for RelayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayError::LinkDown(l) => write!(f, "QKD link {l} is down"),
            RelayError::PoolShort {
                link,
                available_bits,
                needed_bits,
            } => write!(
                f,
                "the key pool of QKD link {link} holds {available_bits} bits, {needed_bits} are needed"
            ),
        }
    }
}

/// Can `path` carry `bytes` key bytes now? Every link up and holding them at both ends.
pub fn check(pools: &Pools, path: &RelayPath, bytes: usize) -> Result<(), RelayError> {
    for l in &path.links {
        let pool = pools
            .get(l)
            .filter(|p| p.up)
            .ok_or_else(|| RelayError::LinkDown(l.clone()))?;
        if pool.available() < bytes {
            return Err(RelayError::PoolShort {
                link: l.clone(),
                available_bits: pool.available() as u64 * 8,
                needed_bits: bytes as u64 * 8,
            });
        }
    }
    Ok(())
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Relays one key of `bytes` bytes from the first to the last node of `path`.
pub fn relay(pools: &mut Pools, path: &RelayPath, bytes: usize) -> Result<Relayed, RelayError> {
    check(pools, path, bytes)?;
    let short = |l: &str| RelayError::PoolShort {
        link: l.to_string(),
        available_bits: 0,
        needed_bits: bytes as u64 * 8,
    };
    let n = path.nodes.len();
    let master_key = pools
        .take(&path.links[0], &path.nodes[0], bytes)
        .ok_or_else(|| short(&path.links[0]))?;
    let mut ciphertexts = Vec::new();
    // What the previous hop sent: nothing on the first hop, whose pad is the key itself.
    let mut incoming: Option<Vec<u8>> = None;
    let mut slave_key = Vec::new();
    for i in 1..n {
        let pad_in = pools
            .take(&path.links[i - 1], &path.nodes[i], bytes)
            .ok_or_else(|| short(&path.links[i - 1]))?;
        let clear = match incoming.take() {
            None => pad_in,
            Some(c) => xor(&c, &pad_in),
        };
        if i == n - 1 {
            slave_key = clear;
            break;
        }
        let pad_out = pools
            .take(&path.links[i], &path.nodes[i], bytes)
            .ok_or_else(|| short(&path.links[i]))?;
        let c = xor(&clear, &pad_out);
        ciphertexts.push(c.clone());
        incoming = Some(c);
    }
    Ok(Relayed {
        master_key,
        slave_key,
        ciphertexts,
    })
}

/// Relays a given key (one already drawn for another path: key multicast) from the first
/// to the last node of `path`: the master encrypts it with the first link's pad, every hop
/// decrypts with its copy and re-encrypts with the next pad. Returns what the last node
/// decrypts. Each hop consumes the key's length from both ends of its link.
pub fn relay_given(pools: &mut Pools, path: &RelayPath, key: &[u8]) -> Result<Vec<u8>, RelayError> {
    let bytes = key.len();
    check(pools, path, bytes)?;
    let short = |l: &str| RelayError::PoolShort {
        link: l.to_string(),
        available_bits: 0,
        needed_bits: bytes as u64 * 8,
    };
    let mut clear = key.to_vec();
    for (i, link) in path.links.iter().enumerate() {
        let pad_out = pools
            .take(link, &path.nodes[i], bytes)
            .ok_or_else(|| short(link))?;
        let sent = xor(&clear, &pad_out);
        let pad_in = pools
            .take(link, &path.nodes[i + 1], bytes)
            .ok_or_else(|| short(link))?;
        clear = xor(&sent, &pad_in);
    }
    Ok(clear)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools() -> Pools {
        let mut p = Pools::new(30.0);
        for (l, a, b) in [("ab", "A", "B"), ("bc", "B", "C"), ("cd", "C", "D")] {
            p.observe(l, a, b, true, 80_000.0);
        }
        p.generate(1.0);
        p
    }

    #[test]
    fn a_relayed_key_arrives_intact_and_travels_encrypted() {
        let mut p = pools();
        let path = RelayPath {
            index: 0,
            nodes: ["A", "B", "C", "D"].map(String::from).to_vec(),
            links: ["ab", "bc", "cd"].map(String::from).to_vec(),
        };
        let r = relay(&mut p, &path, 32).unwrap();
        assert_eq!(r.master_key, r.slave_key);
        assert_eq!(r.master_key.len(), 32);
        assert_eq!(r.ciphertexts.len(), 2);
        for c in &r.ciphertexts {
            assert_ne!(c, &r.master_key);
        }
        // Every link gave 32 bytes at both ends.
        for l in ["ab", "bc", "cd"] {
            assert_eq!(p.get(l).unwrap().available(), 10_000 - 32);
        }
        // Keys that follow are different.
        let r2 = relay(&mut p, &path, 32).unwrap();
        assert_ne!(r.master_key, r2.master_key);
        assert_eq!(r2.master_key, r2.slave_key);
    }

    #[test]
    fn a_given_key_arrives_intact_and_uses_the_pads() {
        let mut p = pools();
        let path = RelayPath {
            index: 0,
            nodes: ["B", "C", "D"].map(String::from).to_vec(),
            links: ["bc", "cd"].map(String::from).to_vec(),
        };
        let key = vec![0x5a; 16];
        assert_eq!(relay_given(&mut p, &path, &key).unwrap(), key);
        for l in ["bc", "cd"] {
            assert_eq!(p.get(l).unwrap().available(), 10_000 - 16);
        }
        assert_eq!(p.get("ab").unwrap().available(), 10_000);
    }

    #[test]
    fn a_short_pool_or_a_down_link_relays_nothing() {
        let mut p = pools();
        let path = RelayPath {
            index: 0,
            nodes: ["A", "B", "C"].map(String::from).to_vec(),
            links: ["ab", "bc"].map(String::from).to_vec(),
        };
        assert!(matches!(
            relay(&mut p, &path, 20_000),
            Err(RelayError::PoolShort { .. })
        ));
        p.observe("bc", "B", "C", false, 0.0);
        assert_eq!(
            relay(&mut p, &path, 32),
            Err(RelayError::LinkDown("bc".into()))
        );
        assert_eq!(p.get("ab").unwrap().available(), 10_000, "nothing taken");
    }
}
