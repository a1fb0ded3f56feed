//! `GET /api/v1/keys/{slave_SAE_ID}/status`: the standard's status fields and the unit
//! extension for the service unit joining the caller to the slave.

use super::units::{
    held_min, not_master, other_slaves, unit_extension, units_as_master, units_as_slave,
};
use super::{Reply, query_pairs};
use crate::kme::Kms;
use crate::kme::pool::LinkPool;
use crate::kme::relay;
use serde_json::json;

pub(super) fn status(
    kms: &Kms,
    node: &str,
    caller: &str,
    other: &str,
    query: Option<&str>,
) -> Reply {
    if let Err(r) = query_pairs(query, &[]) {
        return r;
    }
    let (mut s, now) = kms.current();
    let (view, as_master) = match units_as_master(&s, node, caller, other).into_iter().next() {
        Some(v) => (v, true),
        None => match units_as_slave(&s, node, caller, other).into_iter().next() {
            Some(v) => (v, false),
            None => return not_master(&s, node, caller, other),
        },
    };
    if let Some(st) = s.stores.get_mut(&view.slave_node) {
        st.expire(now);
    }
    let paths = relay::paths(
        &s.configs,
        &view.unit.id,
        &view.master_node,
        &view.slave_node,
    );
    let key_bytes = (view.key_size() as usize / 8).max(1);
    let stored = if as_master {
        paths
            .iter()
            .filter(|p| relay::check(&s.pools, p, 0).is_ok())
            .map(|p| held_min(&s, p, LinkPool::available) / key_bytes)
            .max()
            .unwrap_or(0)
    } else {
        s.stores.get(node).map_or(0, |st| st.waiting(&view.unit.id))
    };
    let max_count = paths
        .iter()
        .map(|p| held_min(&s, p, |x| x.capacity(s.pools.pool_seconds())) / key_bytes)
        .max()
        .unwrap_or(0);
    let mut ext = unit_extension(&mut s, &view, now, &paths);
    ext["role"] = json!(if as_master { "master" } else { "slave" });
    Reply::ok(json!({
        "source_KME_ID": view.master_node,
        "target_KME_ID": view.slave_node,
        "master_SAE_ID": view.master_sae,
        "slave_SAE_ID": view.slave_sae,
        "key_size": view.key_size(),
        "stored_key_count": stored,
        "max_key_count": max_count,
        "max_key_per_request": view.max_per_request(),
        "max_key_size": view.key_size(),
        "min_key_size": view.min_key_size(),
        "max_SAE_ID_count": if as_master { other_slaves(&s, node, caller, other) } else { 0 },
        "status_extension": { "strata_service_unit": ext },
    }))
}
