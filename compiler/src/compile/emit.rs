//! Emission: turns the allocation into the per-node, per-stratum documents of
//! [`crate::config`] and the compile summary. Identifiers that must be unique but stable
//! (URN nonces, key stream ids) are derived by hashing the network, intent and node names,
//! so the same input always gives the same bytes.

use super::explain::{Shortfall, round3};
use super::optimise::{Allocation, Demand};
use super::paths::Candidate;
use super::resources::{Capacities, usage};
use crate::check::{CheckedIntent, Service};
use crate::config::*;
use crate::topology::{self, LinkKind, Topology};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Builds every node's three documents and the summary.
pub fn emit(
    topo: &Topology,
    demands: &[Demand],
    alloc: &Allocation,
    reasons: &[Option<Shortfall>],
) -> (ConfigSet, Summary) {
    let mut set = ConfigSet::default();
    for n in &topo.nodes {
        let cfg = set.nodes.entry(n.name.clone()).or_default();
        cfg.service.schema = SCHEMA.into();
        cfg.service.node = n.name.clone();
        cfg.forwarding.schema = SCHEMA.into();
        cfg.forwarding.node = n.name.clone();
        cfg.connectivity.schema = SCHEMA.into();
        cfg.connectivity.node = n.name.clone();
    }
    // Reservations per quantum link, classical link and memory, keyed by resource.
    let caps = Capacities::new(topo);
    let mut reserved: BTreeMap<usize, BTreeMap<String, f64>> = BTreeMap::new();
    let mut summary_intents = Vec::new();
    for (i, d) in demands.iter().enumerate() {
        let intent = d.intent;
        let rates = &alloc.path_rates[i];
        let admitted = alloc.admitted[i];
        let used: Vec<(usize, &Candidate, f64)> = d
            .paths
            .iter()
            .zip(rates)
            .enumerate()
            .filter(|(_, (_, r))| **r > 0.0)
            .map(|(p, (c, r))| (p, c, *r))
            .collect();
        for &(_, path, r) in &used {
            for (res, coef) in usage(topo, &caps, intent.service, path) {
                *reserved
                    .entry(res.0)
                    .or_default()
                    .entry(intent.name.clone())
                    .or_default() += r * coef;
            }
        }
        if admitted > 0.0 {
            emit_service(&mut set, topo, intent, admitted, &used);
            emit_paths(&mut set, topo, intent, &used);
        }
        summary_intents.push(summarise(topo, d, admitted, &used, reasons[i].as_ref()));
    }
    emit_links(&mut set, topo, &caps, &reserved);
    let summary = Summary {
        schema: SCHEMA.into(),
        network: topo.network.clone(),
        admitted: summary_intents
            .iter()
            .filter(|s| s.admission == Admission::Met)
            .count(),
        partial: summary_intents
            .iter()
            .filter(|s| s.admission == Admission::Partial)
            .count(),
        rejected: summary_intents
            .iter()
            .filter(|s| s.admission == Admission::Rejected)
            .count(),
        objective: round9(alloc.admitted_demand(demands)),
        optimum: alloc.columns.optimum(demands),
        intents: summary_intents,
    };
    (set, summary)
}

fn round9(v: f64) -> f64 {
    // `+ 0.0` turns -0 into 0, which YAML and JSON would otherwise print as `-0.0`.
    (v * 1e9).round() / 1e9 + 0.0
}

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A UUID (version 4 layout) derived from names, stable across compiles.
fn stable_uuid(parts: &[&str]) -> String {
    let d = digest(parts);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// The endpoint's URN with a nonce, unless the operator already gave a q-component.
fn endpoint_urn(network: &str, intent: &CheckedIntent, end: usize) -> String {
    let e = &intent.endpoints[end];
    let base = e
        .urn
        .clone()
        .unwrap_or_else(|| format!("urn:strata:{}:{}", slug(network), slug(&e.node)));
    if base.contains("?=") {
        return base;
    }
    let nonce = hex(&digest(&[network, &intent.name, &e.node, &end.to_string()])[..6]);
    format!("{base}?=nonce={nonce}")
}

fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn lifecycle_urn(intent: &CheckedIntent, fidelity: f64, admitted: f64) -> String {
    let life = intent
        .lifetime_s
        .map(|t| format!("&valid-for={}", round3(t)))
        .unwrap_or_default();
    match intent.service {
        Service::Keys { size_bits } => format!("urn:qkd:lifecycle?=size={size_bits}{life}"),
        Service::Pairs => format!(
            "urn:qkd:lifecycle?=count={}&fidelity={}{life}",
            round3(admitted),
            round3(fidelity)
        ),
    }
}

fn emit_service(
    set: &mut ConfigSet,
    topo: &Topology,
    intent: &CheckedIntent,
    admitted: f64,
    used: &[(usize, &Candidate, f64)],
) {
    let fidelity = used.iter().map(|(_, c, _)| c.fidelity).fold(1.0, f64::min);
    let urns = [
        endpoint_urn(&topo.network, intent, 0),
        endpoint_urn(&topo.network, intent, 1),
    ];
    let lifecycle = lifecycle_urn(intent, fidelity, admitted);
    let (kind, key_size, bits) = match intent.service {
        Service::Keys { size_bits } => (UnitKind::Keys, Some(size_bits), f64::from(size_bits)),
        Service::Pairs => (UnitKind::EntangledPairs, None, 0.0),
    };
    for end in 0..2 {
        let node = &intent.endpoints[end].node;
        let peer = &intent.endpoints[1 - end].node;
        let Some(cfg) = set.nodes.get_mut(node) else {
            continue;
        };
        let svc = &mut cfg.service;
        svc.service_units.push(ServiceUnit {
            id: intent.name.clone(),
            kind,
            role: if end == 0 {
                EndRole::Master
            } else {
                EndRole::Slave
            },
            peer: peer.clone(),
            urns: UnitUrns {
                local: urns[end].clone(),
                remote: urns[1 - end].clone(),
                lifecycle: lifecycle.clone(),
            },
            key_size,
            rate: round9(admitted),
            valid_for_s: intent.lifetime_s,
            fidelity: round9(fidelity),
        });
        let app = intent.endpoints[end]
            .application
            .clone()
            .unwrap_or_else(|| node.clone());
        let ttl = intent.lifetime_s.unwrap_or(0.0);
        let max_rate = intent.max_rate.unwrap_or(admitted).max(admitted);
        if intent.service != Service::Pairs {
            svc.qkd_applications.push(QkdApplication {
                app_id: urns[end].split("?=").next().unwrap_or_default().to_string(),
                app_type: "client".into(),
                client_app_id: vec![urns[end].clone()],
                server_app_id: vec![urns[1 - end].clone()],
                app_priority: intent.priority,
                app_qos: AppQos {
                    max_bandwidth: round9(max_rate * bits),
                    min_bandwidth: round9(admitted * bits),
                    jitter: 0.0,
                    ttl,
                },
            });
        }
        svc.sessions.push(Session {
            key_stream_id: stable_uuid(&[&topo.network, &intent.name, node]),
            service_unit: intent.name.clone(),
            application: app,
            qos: SessionQos {
                key_chunk_size: key_size.map_or(0, |b| b / 8),
                max_bps: round9(max_rate * bits),
                min_bps: round9(admitted * bits),
                jitter: 0.0,
                priority: intent.priority,
                timeout: 1000.0,
                ttl,
            },
            token_bucket: TokenBucket {
                rate: round9(admitted),
                burst: intent
                    .burst
                    .unwrap_or_else(|| admitted.ceil().max(1.0) as u32),
            },
        });
    }
}

fn hop(topo: &Topology, node: usize, link: usize) -> Hop {
    Hop {
        node: topo.nodes[node].name.clone(),
        link: topo.qlinks[link].name.clone(),
    }
}

fn emit_paths(
    set: &mut ConfigSet,
    topo: &Topology,
    intent: &CheckedIntent,
    used: &[(usize, &Candidate, f64)],
) {
    let total: f64 = used.iter().map(|(_, _, r)| r).sum();
    for &(p, path, r) in used {
        let last = path.nodes.len() - 1;
        for (i, &n) in path.nodes.iter().enumerate() {
            let Some(cfg) = set.nodes.get_mut(&topo.nodes[n].name) else {
                continue;
            };
            let prev = (i > 0).then(|| hop(topo, path.nodes[i - 1], path.links[i - 1]));
            let next = (i < last).then(|| hop(topo, path.nodes[i + 1], path.links[i]));
            cfg.forwarding.forwarding_table.push(ForwardingEntry {
                service_unit: intent.name.clone(),
                path: p,
                virt_prev_hop: prev.clone(),
                virt_next_hop: next.clone(),
                share: round9(r / total),
                rate: round9(r),
            });
            if intent.service == Service::Pairs {
                if let (Some(left), Some(right)) = (prev, next) {
                    cfg.forwarding.swap_schedule.push(SwapEntry {
                        service_unit: intent.name.clone(),
                        path: p,
                        left,
                        right,
                        rate: round9(r * path.overhead),
                        success_probability: 0.5,
                        memory_cutoff_s: round9((path.wait_s * 3.0).max(1e-3)),
                    });
                }
                if path.purification_rounds > 0 && (i == 0 || i == last) {
                    let peer = if i == 0 {
                        path.nodes[last]
                    } else {
                        path.nodes[0]
                    };
                    cfg.forwarding.purification.push(PurificationEntry {
                        service_unit: intent.name.clone(),
                        path: p,
                        peer: topo.nodes[peer].name.clone(),
                        protocol: "bbpssw".into(),
                        rounds: path.purification_rounds,
                        fidelity_in: round9(super::paths::raw_pair_fidelity(topo, path)),
                        fidelity_out: round9(path.storage.fidelity),
                        raw_pairs_per_s: round9(path.storage.raw_rate_per_s),
                        storage_wait_s: round9(path.storage.wait_s),
                    });
                }
            }
            // The classical path of the hop leaving this node carries relay or swap messages.
            if i < last {
                let l = path.links[i];
                let per_unit = match intent.service {
                    Service::Keys { size_bits } => {
                        f64::from(size_bits) + topology::RELAY_OVERHEAD_BITS
                    }
                    Service::Pairs => topology::SWAP_MESSAGE_BITS * path.overhead,
                };
                cfg.connectivity.classical_paths.push(ClassicalPath {
                    service_unit: intent.name.clone(),
                    path: p,
                    quantum_link: topo.qlinks[l].name.clone(),
                    classical_links: topo.qlinks[l]
                        .classical_path
                        .iter()
                        .map(|&c| topo.clinks[c].name.clone())
                        .collect(),
                    bandwidth_bps: round9(r * per_unit),
                    latency_budget_ms: round9(
                        intent.max_latency_s.map_or(path.latency_ms, |s| s * 1e3),
                    ),
                });
            }
        }
    }
}

fn reservations(
    reserved: &BTreeMap<usize, BTreeMap<String, f64>>,
    res: usize,
) -> (f64, Vec<Reservation>) {
    let list: Vec<Reservation> = reserved
        .get(&res)
        .map(|m| {
            m.iter()
                .map(|(k, v)| Reservation {
                    service_unit: k.clone(),
                    rate: round9(*v),
                })
                .collect()
        })
        .unwrap_or_default();
    (round9(list.iter().map(|r| r.rate).sum()), list)
}

fn emit_links(
    set: &mut ConfigSet,
    topo: &Topology,
    caps: &Capacities,
    reserved: &BTreeMap<usize, BTreeMap<String, f64>>,
) {
    for (l, link) in topo.qlinks.iter().enumerate() {
        let (consumption, list) = reservations(reserved, caps.qlink(l).0);
        for end in 0..2 {
            let (me, peer) = (
                &topo.nodes[link.ends[end]].name,
                &topo.nodes[link.ends[1 - end]].name,
            );
            let Some(cfg) = set.nodes.get_mut(me) else {
                continue;
            };
            match link.kind {
                LinkKind::Qkd => cfg.forwarding.qkd_links.push(QkdLinkConfig {
                    qkdl_id: link.name.clone(),
                    qkdl_type: "direct".into(),
                    local_qkdn_id: me.clone(),
                    remote_qkdn_id: peer.clone(),
                    skr: round9(link.rate),
                    eskr: round9(link.usable),
                    expected_consumption: consumption,
                    qber: link.qber,
                    reservations: list.clone(),
                }),
                LinkKind::Entanglement => {
                    cfg.forwarding
                        .entanglement_links
                        .push(EntanglementLinkConfig {
                            link_id: link.name.clone(),
                            local_node: me.clone(),
                            remote_node: peer.clone(),
                            pair_rate: round9(link.rate),
                            fidelity: link.fidelity,
                            expected_consumption: consumption,
                            reservations: list.clone(),
                        })
                }
            }
            cfg.connectivity.classical_channels.push(ClassicalChannel {
                quantum_link: link.name.clone(),
                path: link
                    .classical_path
                    .iter()
                    .map(|&c| topo.clinks[c].name.clone())
                    .collect(),
                bandwidth_bps: round9(link.channel_bps),
            });
        }
    }
    for (c, link) in topo.clinks.iter().enumerate() {
        let channels: f64 = topo
            .qlinks
            .iter()
            .filter(|q| q.classical_path.contains(&c))
            .map(|q| q.channel_bps)
            .sum();
        let (traffic, _) = reservations(reserved, caps.clink(c).0);
        for end in 0..2 {
            let (me, peer) = (
                &topo.nodes[link.ends[end]].name,
                &topo.nodes[link.ends[1 - end]].name,
            );
            let Some(cfg) = set.nodes.get_mut(me) else {
                continue;
            };
            cfg.connectivity.classical_links.push(ClassicalLinkConfig {
                link_id: link.name.clone(),
                remote_node: peer.clone(),
                bandwidth_bps: link.bandwidth_bps,
                reserved_bps: round9(channels + traffic),
                latency_ms: link.latency_ms,
            });
        }
    }
    for (n, node) in topo.nodes.iter().enumerate() {
        let Some(qubits) = node.memory_qubits else {
            continue;
        };
        let (held, _) = reservations(reserved, caps.memory(n).0);
        if let Some(cfg) = set.nodes.get_mut(&node.name) {
            cfg.forwarding.memory = Some(MemoryConfig {
                qubits,
                coherence_time_s: node.coherence_time_s.unwrap_or(0.0),
                reserved_qubits: held,
            });
        }
    }
}

fn summarise(
    topo: &Topology,
    d: &Demand,
    admitted: f64,
    used: &[(usize, &Candidate, f64)],
    reason: Option<&Shortfall>,
) -> IntentSummary {
    let intent = d.intent;
    let paths: Vec<PathSummary> = used
        .iter()
        .map(|&(p, c, r)| PathSummary {
            path: p,
            nodes: c
                .nodes
                .iter()
                .map(|&n| topo.nodes[n].name.clone())
                .collect(),
            links: c
                .links
                .iter()
                .map(|&l| topo.qlinks[l].name.clone())
                .collect(),
            rate: round9(r),
            fidelity: round9(c.fidelity),
            latency_ms: round9(c.latency_ms),
            purification_rounds: (c.purification_rounds > 0).then_some(c.purification_rounds),
        })
        .collect();
    IntentSummary {
        name: intent.name.clone(),
        kind: match intent.service {
            Service::Keys { .. } => UnitKind::Keys,
            Service::Pairs => UnitKind::EntangledPairs,
        },
        endpoints: [
            intent.endpoints[0].node.clone(),
            intent.endpoints[1].node.clone(),
        ],
        priority: intent.priority,
        requested_rate: round9(d.rate),
        admitted_rate: round9(admitted),
        admission: reason.map_or(Admission::Met, |r| r.admission),
        fidelity: paths.iter().map(|p| p.fidelity).reduce(f64::min),
        latency_ms: paths.iter().map(|p| p.latency_ms).reduce(f64::max),
        paths,
        reason: reason.map(|r| r.message.clone()),
        disjoint_paths: (intent.constraints.disjoint_paths > 1)
            .then_some(intent.constraints.disjoint_paths),
        protection_lost: None,
    }
}
