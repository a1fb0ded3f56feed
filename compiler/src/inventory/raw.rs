//! The wire format of `network.yaml`: serde structs that mirror the file exactly, with the
//! source location of every value a diagnostic may point at. Nothing here is checked beyond
//! what serde checks (field names, types, enum spellings); `convert` turns these into the
//! model and reports out-of-range values. The reference for operators is
//! `docs/inventory.md` — keep the two in step.

use serde::Deserialize;
use serde_saphyr::Spanned as S;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInventory {
    pub name: S<String>,
    #[serde(default)]
    pub domains: Vec<S<RawDomain>>,
    #[serde(default)]
    pub nodes: Vec<S<RawNode>>,
    #[serde(default)]
    pub applications: Vec<S<RawApplication>>,
    #[serde(default)]
    pub qkd_links: Vec<S<RawQkdLink>>,
    #[serde(default)]
    pub entanglement_links: Vec<S<RawEntanglementLink>>,
    #[serde(default)]
    pub classical_links: Vec<S<RawClassicalLink>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum RawTrust {
    Trusted,
    Untrusted,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDomain {
    pub name: S<String>,
    pub operator: S<String>,
    pub trust: S<RawTrust>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum RawRole {
    Endpoint,
    TrustedRelay,
    UntrustedRelay,
    Repeater,
}

/// Heralding protocol of an entanglement link.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum RawHeralding {
    SingleClick,
    TwoRound,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMemory {
    pub qubits: S<u32>,
    pub coherence_time_s: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub name: S<String>,
    pub domain: S<String>,
    pub role: S<RawRole>,
    #[serde(default)]
    pub memory: Option<S<RawMemory>>,
    #[serde(default)]
    pub agent: Option<S<String>>,
    #[serde(default)]
    pub location: Option<S<RawLocation>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocation {
    pub lat: S<f64>,
    pub lon: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApplication {
    pub name: S<String>,
    pub urn: S<String>,
    pub node: S<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(super) enum RawProtocol {
    #[serde(rename = "decoy-bb84")]
    DecoyBb84,
}

/// Decoy-state BB84 parameters; every field defaults to `DecoyBb84::default()`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDecoyBb84 {
    #[serde(default)]
    pub pulse_rate_hz: Option<S<f64>>,
    #[serde(default)]
    pub mean_photon_number: Option<S<f64>>,
    #[serde(default)]
    pub detector_efficiency: Option<S<f64>>,
    #[serde(default)]
    pub dark_count_yield: Option<S<f64>>,
    #[serde(default)]
    pub misalignment: Option<S<f64>>,
    #[serde(default)]
    pub ec_inefficiency: Option<S<f64>>,
    #[serde(default)]
    pub sifting: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawQkdLink {
    pub name: S<String>,
    pub ends: S<[S<String>; 2]>,
    pub length_km: S<f64>,
    #[serde(default)]
    pub loss_db_per_km: Option<S<f64>>,
    #[serde(default)]
    pub extra_loss_db: Option<S<f64>>,
    /// Measured secret key rate (bit/s); excludes `protocol`.
    #[serde(default)]
    pub skr_bps: Option<S<f64>>,
    /// Rate from physics; excludes `skr_bps`.
    #[serde(default)]
    pub protocol: Option<S<RawProtocol>>,
    #[serde(default)]
    pub params: Option<S<RawDecoyBb84>>,
    #[serde(default)]
    pub derating: Option<S<f64>>,
    pub qber: S<f64>,
    #[serde(default)]
    pub classical_path: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntanglementLink {
    pub name: S<String>,
    pub ends: S<[S<String>; 2]>,
    pub length_km: S<f64>,
    #[serde(default)]
    pub loss_db_per_km: Option<S<f64>>,
    /// Measured heralded pair rate (pairs/s); excludes `efficiency`.
    #[serde(default)]
    pub pair_rate_hz: Option<S<f64>>,
    /// Emission × detection efficiency per side for the physical model; excludes
    /// `pair_rate_hz`.
    #[serde(default)]
    pub efficiency: Option<S<f64>>,
    /// Heralding protocol; single-click when absent.
    #[serde(default)]
    pub heralding: Option<S<RawHeralding>>,
    pub fidelity: S<f64>,
    #[serde(default)]
    pub classical_path: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClassicalLink {
    pub name: S<String>,
    pub ends: S<[S<String>; 2]>,
    pub bandwidth_bps: S<f64>,
    pub latency_ms: S<f64>,
}

/// What QKD and entanglement links share on the wire: a name, two ends, a fibre length and
/// loss, a classical path, and a rate given one of two ways — measured on the system
/// ([`RawQuantumLink::measured`]) or computed from the fibre ([`RawQuantumLink::physical`]).
/// Conversion reads both kinds through this, so they are checked alike.
pub(super) trait RawQuantumLink {
    /// How the computed rate is asked for: a protocol, or an efficiency.
    type Physical;
    /// The field of the measured rate.
    const MEASURED: &'static str;
    /// The field that asks for the computed rate.
    const PHYSICAL: &'static str;

    fn name(&self) -> &S<String>;
    fn ends(&self) -> &S<[S<String>; 2]>;
    fn length_km(&self) -> &S<f64>;
    fn loss_db_per_km(&self) -> Option<&S<f64>>;
    fn measured(&self) -> Option<&S<f64>>;
    fn physical(&self) -> Option<&S<Self::Physical>>;
    fn classical_path(&self) -> Option<&S<Vec<S<String>>>>;
}

impl RawQuantumLink for RawQkdLink {
    type Physical = RawProtocol;
    const MEASURED: &'static str = "skr_bps";
    const PHYSICAL: &'static str = "protocol";

    fn name(&self) -> &S<String> {
        &self.name
    }
    fn ends(&self) -> &S<[S<String>; 2]> {
        &self.ends
    }
    fn length_km(&self) -> &S<f64> {
        &self.length_km
    }
    fn loss_db_per_km(&self) -> Option<&S<f64>> {
        self.loss_db_per_km.as_ref()
    }
    fn measured(&self) -> Option<&S<f64>> {
        self.skr_bps.as_ref()
    }
    fn physical(&self) -> Option<&S<RawProtocol>> {
        self.protocol.as_ref()
    }
    fn classical_path(&self) -> Option<&S<Vec<S<String>>>> {
        self.classical_path.as_ref()
    }
}

impl RawQuantumLink for RawEntanglementLink {
    type Physical = f64;
    const MEASURED: &'static str = "pair_rate_hz";
    const PHYSICAL: &'static str = "efficiency";

    fn name(&self) -> &S<String> {
        &self.name
    }
    fn ends(&self) -> &S<[S<String>; 2]> {
        &self.ends
    }
    fn length_km(&self) -> &S<f64> {
        &self.length_km
    }
    fn loss_db_per_km(&self) -> Option<&S<f64>> {
        self.loss_db_per_km.as_ref()
    }
    fn measured(&self) -> Option<&S<f64>> {
        self.pair_rate_hz.as_ref()
    }
    fn physical(&self) -> Option<&S<f64>> {
        self.efficiency.as_ref()
    }
    fn classical_path(&self) -> Option<&S<Vec<S<String>>>> {
        self.classical_path.as_ref()
    }
}
