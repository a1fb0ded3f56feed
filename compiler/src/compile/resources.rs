//! What a unit of rate on a path consumes in each stratum, and what each resource can give:
//! key bits on QKD links, elementary pairs on entanglement links (swap and purification
//! overhead included), classical bandwidth on classical links (relay and swap messages on
//! top of every quantum link's own channel), and qubits held in repeater memories.

use super::paths::Candidate;
use crate::check::Service;
use crate::topology::{self, Topology};

pub use crate::topology::Resource;

/// Capacities of every resource, with the classical channels of quantum links already
/// subtracted from the classical links that carry them.
#[derive(Debug, Clone)]
pub struct Capacities {
    pub cap: Vec<f64>,
    q: usize,
    c: usize,
}

impl Capacities {
    pub fn new(topo: &Topology) -> Capacities {
        let (q, c) = (topo.qlinks.len(), topo.clinks.len());
        let mut cap = Vec::with_capacity(q + c + topo.nodes.len());
        cap.extend(topo.qlinks.iter().map(|l| l.usable.max(0.0)));
        cap.extend(topo.clinks.iter().map(|l| l.bandwidth_bps));
        cap.extend(
            topo.nodes
                .iter()
                .map(|n| f64::from(n.memory_qubits.unwrap_or(0))),
        );
        for l in &topo.qlinks {
            for &ci in &l.classical_path {
                cap[q + ci] -= l.channel_bps;
            }
        }
        for v in &mut cap[q..q + c] {
            *v = v.max(0.0);
        }
        Capacities { cap, q, c }
    }

    pub fn qlink(&self, l: usize) -> Resource {
        Resource(l)
    }

    pub fn clink(&self, c: usize) -> Resource {
        Resource(self.q + c)
    }

    pub fn memory(&self, n: usize) -> Resource {
        Resource(self.q + self.c + n)
    }

    pub fn len(&self) -> usize {
        self.cap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cap.is_empty()
    }
}

/// Consumption per service unit per second on `path`, summed per resource, in resource order
/// (worked out on the path's first use, then kept with it).
pub fn usage<'p>(
    topo: &Topology,
    caps: &Capacities,
    service: Service,
    path: &'p Candidate,
) -> &'p [(Resource, f64)] {
    path.usage
        .0
        .get_or_init(|| consumption(topo, caps, service, path))
}

fn consumption(
    topo: &Topology,
    caps: &Capacities,
    service: Service,
    path: &Candidate,
) -> Vec<(Resource, f64)> {
    let mut out: Vec<(Resource, f64)> = Vec::new();
    let mut add = |r: Resource, v: f64| match out.iter_mut().find(|(x, _)| *x == r) {
        Some((_, acc)) => *acc += v,
        None => out.push((r, v)),
    };
    match service {
        Service::Keys { size_bits } => {
            let bits = f64::from(size_bits);
            for &l in &path.links {
                add(caps.qlink(l), bits);
                for &c in &topo.qlinks[l].classical_path {
                    add(caps.clink(c), bits + topology::RELAY_OVERHEAD_BITS);
                }
            }
        }
        Service::Pairs => {
            for &l in &path.links {
                add(caps.qlink(l), path.overhead);
                for &c in &topo.qlinks[l].classical_path {
                    add(caps.clink(c), topology::SWAP_MESSAGE_BITS * path.overhead);
                }
            }
            let last = path.nodes.len() - 1;
            for (i, &n) in path.nodes.iter().enumerate() {
                if topo.nodes[n].memory_qubits.is_some() {
                    let halves = if i == 0 || i == last { 1.0 } else { 2.0 };
                    add(caps.memory(n), halves * path.overhead * path.wait_s);
                }
            }
        }
    }
    out.sort_by_key(|(r, _)| *r);
    out
}
