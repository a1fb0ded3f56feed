//! Physics of quantum links (DESIGN §5): pure functions that turn inventory numbers into the
//! rates and fidelities the optimiser works with. No IO, no state, no panics on any finite
//! input; units are in the names (`_km`, `_db`, `_db_per_km`, `_hz`, `_bps`, `_per_s`, `_s`)
//! or stated in the doc comment.
//!
//! * [`fibre`] — fibre transmittance and propagation delay.
//! * [`qkd`] — binary entropy, the repeaterless (PLOB) bound, decoy-state BB84 key rate and
//!   QBER thresholds.
//! * [`entanglement`] — heralded elementary pair generation (single-click or two-round
//!   Barrett–Kok heralding) and swap overhead.
//! * [`werner`] — Werner-state fidelity algebra: swapping chains, the additive fidelity cost,
//!   memory decoherence and BBPSSW purification, with the storage a pair spends waiting for
//!   its partners.

pub mod entanglement;
pub mod fibre;
pub mod qkd;
pub mod werner;

pub use entanglement::{
    Heralding, elementary_attempt_period_s, elementary_pair_rate_per_s,
    elementary_pairs_per_link_per_s, elementary_success_probability,
};
pub use fibre::{
    LIGHT_SPEED_IN_FIBRE_KM_PER_S, db_to_transmittance, fibre_delay_s, fibre_loss_db, transmittance,
};
pub use qkd::{
    DecoyBb84, DecoyBb84Terms, QBER_THRESHOLD_BB84, QBER_THRESHOLD_BB84_F116, binary_entropy,
    decoy_bb84, decoy_bb84_bits_per_pulse, decoy_bb84_key_rate_bps, plob_bits_per_use,
    plob_rate_bps, qber_threshold,
};
pub use werner::{
    StoredPurification, bbpssw, bbpssw_fidelity, bbpssw_success_probability, chain_fidelity,
    decohered_fidelity, fidelity_cost, fidelity_from_cost, fidelity_from_werner, memory_wait_cost,
    purification_min_rate, purify, purify_stored, werner_parameter,
};
