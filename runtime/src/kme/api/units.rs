//! Key service units as their SAEs see them: which units join a master to a slave at a
//! node, who is registered in which role, and the unit extension object (identity, QoS,
//! paths) that `status` and `enc_keys` report.

use super::{MIN_KEY_SIZE_BITS, Reply};
use crate::kme::KmsState;
use crate::kme::pool::LinkPool;
use crate::kme::relay::{self, RelayPath};
use serde_json::{Value, json};
use strata_compiler::config::{EndRole, NodeConfig, ServiceUnit, UnitKind};

/// A key service unit as one of its SAEs sees it.
pub(super) struct UnitView {
    pub(super) unit: ServiceUnit,
    pub(super) master_node: String,
    pub(super) slave_node: String,
    pub(super) master_sae: String,
    pub(super) slave_sae: String,
    /// Token bucket of the master's session: (rate, burst).
    pub(super) bucket: (f64, f64),
}

impl UnitView {
    pub(super) fn key_size(&self) -> u32 {
        self.unit.key_size.unwrap_or(256)
    }
    pub(super) fn min_key_size(&self) -> u32 {
        MIN_KEY_SIZE_BITS.min(self.key_size())
    }
    pub(super) fn max_per_request(&self) -> u64 {
        self.bucket.1.floor().max(1.0) as u64
    }
}

pub(super) fn session_app<'a>(cfg: &'a NodeConfig, unit: &str) -> Option<&'a str> {
    cfg.service
        .sessions
        .iter()
        .find(|x| x.service_unit == unit)
        .map(|x| x.application.as_str())
}

pub(super) fn urn_base(urn: &str) -> &str {
    urn.split_once("?=").map_or(urn, |(b, _)| b)
}

/// Does SAE id `id` name the application of `unit`'s end whose URN is `urn`?
pub(super) fn names(id: &str, app: Option<&str>, urn: &str) -> bool {
    app == Some(id) || urn_base(urn) == id
}

/// Key service units whose master end is SAE `master` at `node` and whose slave end is SAE
/// `slave`.
pub(super) fn units_as_master(
    s: &KmsState,
    node: &str,
    master: &str,
    slave: &str,
) -> Vec<UnitView> {
    let Some(cfg) = s.configs.get(node) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for u in cfg
        .service
        .service_units
        .iter()
        .filter(|u| u.kind == UnitKind::Keys && u.role == EndRole::Master)
    {
        if !names(master, session_app(cfg, &u.id), &u.urns.local) {
            continue;
        }
        let Some(peer) = s.configs.get(&u.peer) else {
            continue;
        };
        let Some(far) = peer
            .service
            .service_units
            .iter()
            .find(|x| x.id == u.id && x.role == EndRole::Slave && x.peer == node)
        else {
            continue;
        };
        let slave_app = session_app(peer, &far.id);
        if !names(slave, slave_app, &far.urns.local) {
            continue;
        }
        let bucket = cfg
            .service
            .sessions
            .iter()
            .find(|x| x.service_unit == u.id)
            .map_or((u.rate, u.rate.ceil().max(1.0)), |x| {
                (x.token_bucket.rate, f64::from(x.token_bucket.burst.max(1)))
            });
        out.push(UnitView {
            unit: u.clone(),
            master_node: node.to_string(),
            slave_node: u.peer.clone(),
            master_sae: session_app(cfg, &u.id).unwrap_or(master).to_string(),
            slave_sae: slave_app.unwrap_or(slave).to_string(),
            bucket,
        });
    }
    out
}

/// Key service units whose slave end is SAE `slave` at `node` and whose master is SAE
/// `master`.
pub(super) fn units_as_slave(s: &KmsState, node: &str, slave: &str, master: &str) -> Vec<UnitView> {
    let Some(cfg) = s.configs.get(node) else {
        return Vec::new();
    };
    cfg.service
        .service_units
        .iter()
        .filter(|u| {
            u.kind == UnitKind::Keys
                && u.role == EndRole::Slave
                && names(slave, session_app(cfg, &u.id), &u.urns.local)
        })
        .filter_map(|u| {
            units_as_master(s, &u.peer, master, slave)
                .into_iter()
                .find(|v| v.unit.id == u.id && v.slave_node == node)
        })
        .collect()
}

/// Is `sae` the given end of any key service unit at `node`?
pub(super) fn registered(s: &KmsState, node: &str, sae: &str, role: EndRole) -> bool {
    s.configs.get(node).is_some_and(|cfg| {
        cfg.service.service_units.iter().any(|u| {
            u.kind == UnitKind::Keys
                && u.role == role
                && names(sae, session_app(cfg, &u.id), &u.urns.local)
        })
    })
}

pub(super) fn not_master(s: &KmsState, node: &str, caller: &str, slave: &str) -> Reply {
    if registered(s, node, caller, EndRole::Master) {
        Reply::error(
            401,
            format!("SAE {caller} has no key service unit towards slave SAE {slave} at KME {node}"),
            vec![json!({ "master_SAE_ID": caller, "slave_SAE_ID": slave })],
        )
    } else {
        Reply::error(
            401,
            format!("SAE {caller} is not the master SAE of any key service unit at KME {node}"),
            vec![json!({ "master_SAE_ID": caller })],
        )
    }
}

/// The unit's extension object: its identity (the draft's three URNs), QoS and paths.
pub(super) fn unit_extension(
    s: &mut KmsState,
    v: &UnitView,
    now: f64,
    paths: &[RelayPath],
) -> Value {
    let bucket = s
        .buckets
        .get_mut(&(v.unit.id.clone(), v.master_node.clone()))
        .map(|b| json!({ "rate": b.rate, "burst": b.burst, "tokens": b.tokens(now) }));
    let waiting = s
        .stores
        .get(&v.slave_node)
        .map_or(0, |st| st.waiting(&v.unit.id));
    let paths: Vec<Value> = paths
        .iter()
        .map(|p| {
            let up = relay::check(&s.pools, p, 0).is_ok();
            let bits = held_min(s, p, |x| x.available() as u64 * 8);
            json!({ "index": p.index, "nodes": p.nodes, "links": p.links, "up": up, "available_bits": bits })
        })
        .collect();
    json!({
        "id": v.unit.id,
        "kind": "keys",
        "urns": {
            "local": v.unit.urns.local,
            "remote": v.unit.urns.remote,
            "lifecycle": v.unit.urns.lifecycle,
        },
        "rate": v.unit.rate,
        "valid_for_s": v.unit.valid_for_s,
        "token_bucket": bucket,
        "waiting_at_slave": waiting,
        "paths": paths,
    })
}

/// The least of `f` over the links of `path` whose pools this KME holds (every link, in the
/// twin; 0 for a link the twin does not know).
pub(super) fn held_min<T: Ord + Default + Copy>(
    s: &KmsState,
    path: &RelayPath,
    f: impl Fn(&LinkPool) -> T,
) -> T {
    path.links
        .iter()
        .filter_map(|l| match s.pools.get(l) {
            Some(p) => Some(f(p)),
            None if s.pools.holds_every_link() => Some(T::default()),
            None => None,
        })
        .min()
        .unwrap_or_default()
}

/// The other slaves master SAE `master` is joined to at `node` by key service units
/// (`max_SAE_ID_count` towards `slave`).
pub(super) fn other_slaves(s: &KmsState, node: &str, master: &str, slave: &str) -> usize {
    let Some(cfg) = s.configs.get(node) else {
        return 0;
    };
    let mut peers: Vec<String> = Vec::new();
    for u in cfg
        .service
        .service_units
        .iter()
        .filter(|u| u.kind == UnitKind::Keys && u.role == EndRole::Master)
        .filter(|u| names(master, session_app(cfg, &u.id), &u.urns.local))
    {
        let far = s.configs.get(&u.peer).and_then(|p| {
            p.service
                .service_units
                .iter()
                .find(|x| x.id == u.id && x.role == EndRole::Slave)
                .map(|x| session_app(p, &x.id).unwrap_or(&x.urns.local).to_string())
        });
        if let Some(f) = far
            && f != slave
            && !peers.contains(&f)
        {
            peers.push(f);
        }
    }
    peers.len()
}
