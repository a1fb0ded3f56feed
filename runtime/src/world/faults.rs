//! Faults injected into the emulated network (cut and restore links, QBER and fidelity,
//! stop and start nodes, refuse prepares), by element name.

use super::{Fault, State};
use strata_compiler::topology::LinkKind;

impl State {
    pub(super) fn node(&self, name: &str) -> Result<usize, String> {
        self.topo
            .index
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown node `{name}`"))
    }

    pub(super) fn quantum_link(&self, name: &str) -> Result<usize, String> {
        self.link_index
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown quantum link `{name}`"))
    }

    pub(super) fn apply_fault(&mut self, fault: &Fault) -> Result<(), String> {
        match fault {
            Fault::CutLink(name) | Fault::RestoreLink(name) => {
                let cut = matches!(fault, Fault::CutLink(_));
                if let Some(&l) = self.link_index.get(name) {
                    self.links[l].cut = cut;
                } else if let Some(&c) = self.classical_index.get(name) {
                    self.classical_cut[c] = cut;
                } else {
                    return Err(format!("unknown link `{name}`"));
                }
            }
            Fault::SetQber(name, value) => {
                let l = self.quantum_link(name)?;
                if self.topo.qlinks[l].kind != LinkKind::Qkd {
                    return Err(format!(
                        "`{name}` is an entanglement link; QBER applies to QKD links (set its fidelity instead)"
                    ));
                }
                if !(value.is_finite() && (0.0..=0.5).contains(value)) {
                    return Err(format!(
                        "QBER {value} is out of range: it must be between 0 and 0.5"
                    ));
                }
                self.links[l].qber = *value;
            }
            Fault::SetFidelity(name, value) => {
                let l = self.quantum_link(name)?;
                if self.topo.qlinks[l].kind != LinkKind::Entanglement {
                    return Err(format!(
                        "`{name}` is a QKD link; fidelity applies to entanglement links (set its QBER instead)"
                    ));
                }
                if !(value.is_finite() && (0.25..=1.0).contains(value)) {
                    return Err(format!(
                        "fidelity {value} is out of range: it must be between 0.25 and 1"
                    ));
                }
                self.links[l].fidelity = *value;
            }
            Fault::StopNode(name) => {
                let n = self.node(name)?;
                self.nodes[n].up = false;
            }
            Fault::StartNode(name) => {
                let n = self.node(name)?;
                self.nodes[n].up = true;
            }
            Fault::RefusePrepare(name) => {
                let n = self.node(name)?;
                self.nodes[n].refuse = true;
            }
            Fault::AcceptPrepare(name) => {
                let n = self.node(name)?;
                self.nodes[n].refuse = false;
            }
        }
        Ok(())
    }
}
