//! Quantum memories: the slots the entanglement paths hold at each node, checked against the
//! memories the inventory gives it.

use super::capacity::Usage;
use super::codes;
use super::model::Model;
use super::report::{Out, close, within};
use crate::config::{ConfigSet, ForwardingConfig};

pub(super) fn check_memories(model: &Model, configs: &ConfigSet, usage: &Usage, v: &mut Out) {
    for (name, node) in &model.nodes {
        let held = usage.memory.get(*name).copied().unwrap_or(0.0);
        let obj = format!("memory of `{name}`");
        let Some(cfg) = configs.nodes.get(*name) else {
            continue;
        };
        let ForwardingConfig { memory, .. } = &cfg.forwarding;
        match (node.memory, memory) {
            (None, None) => {}
            (None, Some(_)) => v.push(
                codes::FIGURES,
                Some(name),
                obj.clone(),
                "memory configured at a node without quantum memory",
            ),
            (Some(_), None) => v.push(
                codes::FIGURES,
                Some(name),
                obj.clone(),
                "the node's quantum memory is not configured",
            ),
            (Some(m), Some(c)) => {
                if c.qubits != m.qubits || c.coherence_time_s != m.coherence_time_s {
                    v.push(
                        codes::FIGURES,
                        Some(name),
                        obj.clone(),
                        format!(
                            "{} qubits, {} s written; the inventory says {} qubits, {} s",
                            c.qubits, c.coherence_time_s, m.qubits, m.coherence_time_s
                        ),
                    );
                }
                if !close(c.reserved_qubits, held) {
                    v.push(
                        codes::RESERVATION,
                        Some(name),
                        obj.clone(),
                        format!(
                            "reserved_qubits {}, but the paths through it hold {held:.9}",
                            c.reserved_qubits
                        ),
                    );
                }
            }
        }
        let qubits = node.memory.map_or(0.0, |m| f64::from(m.qubits));
        if !within(held, qubits) {
            v.push(
                codes::MEMORY_CAPACITY,
                Some(name),
                obj,
                format!("the paths through it hold {held:.6} qubits on average, over its {qubits}"),
            );
        }
    }
}
