//! Elementary entanglement generation (heralded, midpoint station) under a heralding
//! protocol, and the elementary-pair overhead of entanglement swapping along a chain of links
//! (DESIGN §4, §5).

use super::fibre::{LIGHT_SPEED_IN_FIBRE_KM_PER_S, transmittance};

/// How an entanglement link heralds its elementary pairs.
///
/// Both protocols succeed with p = ½·η_A·η_B per attempt
/// ([`elementary_success_probability`]); they differ in how long an attempt takes
/// ([`Heralding::attempt_period_s`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Heralding {
    /// One emission per attempt: photons travel L/2 to the midpoint station and its herald
    /// L/2 back, so one attempt per L/c (DESIGN §5).
    #[default]
    SingleClick,
    /// Barrett–Kok (Phys. Rev. A 71, 060310(R), 2005): two emission rounds with a spin flip
    /// in between, and a pair only when each round gives exactly one click. Each round waits
    /// for the midpoint's herald of the previous one, so an attempt takes 2·L/c. Success
    /// needs one detected photon in each round: p = ½·η_A·η_B (η²/2 for equal arms).
    TwoRound,
}

impl Heralding {
    /// The inventory's name of the protocol (`heralding:`).
    pub fn name(self) -> &'static str {
        match self {
            Heralding::SingleClick => "single-click",
            Heralding::TwoRound => "two-round",
        }
    }

    /// The protocol an inventory name stands for.
    pub fn from_name(name: &str) -> Option<Heralding> {
        match name {
            "single-click" => Some(Heralding::SingleClick),
            "two-round" => Some(Heralding::TwoRound),
            _ => None,
        }
    }

    /// Photon-plus-herald round trips (each L/c) per attempt: 1 or 2.
    pub fn rounds(self) -> u32 {
        match self {
            Heralding::SingleClick => 1,
            Heralding::TwoRound => 2,
        }
    }

    /// Time of one attempt on a link of `length_km`, in seconds: rounds × L/c.
    pub fn attempt_period_s(self, length_km: f64) -> f64 {
        f64::from(self.rounds()) * elementary_attempt_period_s(length_km)
    }

    /// Heralded elementary pairs per second: p / attempt period (see
    /// [`elementary_pair_rate_per_s`], which is the single-click case).
    pub fn pair_rate_per_s(self, loss_db_per_km: f64, length_km: f64, efficiency: f64) -> f64 {
        elementary_pair_rate_per_s(loss_db_per_km, length_km, efficiency) / f64::from(self.rounds())
    }
}

/// Heralding success probability per attempt for a link of `length_km` with a midpoint
/// station: p = ½·η_A·η_B, where each side's η = `efficiency_per_side` ×
/// fibre transmittance over L/2 at `loss_db_per_km`.
///
/// `efficiency_per_side` is the emission × detection efficiency of *one* arm (the inventory's
/// `PairRate::Physical { efficiency }`), so it enters squared: with 0.5 and 0.2 dB/km this
/// reproduces DESIGN §5's 1.6·10³ pairs/s at 10 km and 2.5 pairs/s at 100 km (counting 0.5
/// once for the whole link would double both). The ½ is the Bell-state measurement success
/// of linear optics.
pub fn elementary_success_probability(
    loss_db_per_km: f64,
    length_km: f64,
    efficiency_per_side: f64,
) -> f64 {
    let eta_side =
        efficiency_per_side.clamp(0.0, 1.0) * transmittance(loss_db_per_km, length_km / 2.0, 0.0);
    0.5 * eta_side * eta_side
}

/// Time between heralding attempts on a link of `length_km`, in seconds: L/c with
/// c = 2·10^5 km/s — photons travel L/2 to the midpoint and the herald travels L/2 back.
pub fn elementary_attempt_period_s(length_km: f64) -> f64 {
    length_km.max(0.0) / LIGHT_SPEED_IN_FIBRE_KM_PER_S
}

/// Heralded elementary pairs per second on a link: success probability per attempt
/// ([`elementary_success_probability`]) divided by the attempt period
/// ([`elementary_attempt_period_s`]).
///
/// The model has no source repetition limit, so a zero-length link gives +∞; callers that
/// know the source's repetition rate should cap the result with it.
pub fn elementary_pair_rate_per_s(
    loss_db_per_km: f64,
    length_km: f64,
    efficiency_per_side: f64,
) -> f64 {
    let p = elementary_success_probability(loss_db_per_km, length_km, efficiency_per_side);
    let period = elementary_attempt_period_s(length_km);
    if period > 0.0 {
        p / period
    } else if p > 0.0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// Elementary pairs per second each link must supply so that `end_to_end_rate_per_s` pairs/s
/// arrive over a chain of `links` links with swap success probability `swap_success` per
/// swap: r / q^(n−1) (n − 1 swaps, each failure discarding the pairs it consumed).
///
/// One link (no swap) returns r; zero links returns r too (nothing to swap). A swap success
/// ≤ 0 makes any positive rate unreachable and returns +∞.
pub fn elementary_pairs_per_link_per_s(
    end_to_end_rate_per_s: f64,
    links: usize,
    swap_success: f64,
) -> f64 {
    let swaps = links.saturating_sub(1);
    if swaps == 0 || end_to_end_rate_per_s <= 0.0 {
        return end_to_end_rate_per_s.max(0.0);
    }
    if swap_success <= 0.0 {
        return f64::INFINITY;
    }
    let swaps = i32::try_from(swaps).unwrap_or(i32::MAX);
    end_to_end_rate_per_s / swap_success.min(1.0).powi(swaps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn elementary_rate_reference_values() {
        // DESIGN §5, efficiency 0.5, α 0.2 dB/km: 1.6·10³ pairs/s at 10 km, 2.5 at 100 km.
        let r10 = elementary_pair_rate_per_s(0.2, 10.0, 0.5);
        let r100 = elementary_pair_rate_per_s(0.2, 100.0, 0.5);
        assert!(close(r10, 1.6e3, 0.05e3), "10 km: {r10}");
        assert!(close(r100, 2.5, 0.05), "100 km: {r100}");
    }

    #[test]
    fn elementary_success_and_period() {
        // 100 km, 0.2 dB/km: each half 10 dB → η_side = 0.5 × 0.1; p = ½ · 0.05² = 1.25e-3.
        assert!(close(
            elementary_success_probability(0.2, 100.0, 0.5),
            1.25e-3,
            1e-15
        ));
        assert!(close(elementary_attempt_period_s(100.0), 5e-4, 1e-18));
        assert!(elementary_pair_rate_per_s(0.2, 0.0, 0.5).is_infinite());
        assert!(close(elementary_pair_rate_per_s(0.2, 0.0, 0.0), 0.0, 0.0));
    }

    #[test]
    fn two_round_reference_values() {
        // Barrett–Kok at 10 km, 0.2 dB/km, efficiency 0.5 per side: η_side = 0.5 × 10^(−0.1)
        // = 0.397 18, p = ½·η² = 0.078 87; an attempt is two 10 km / 2·10⁵ km/s rounds =
        // 100 µs, so 788.7 pairs/s — half of single-click's 1 577 pairs/s.
        let p = elementary_success_probability(0.2, 10.0, 0.5);
        assert!(close(p, 0.078_87, 1e-5), "p = {p}");
        let two = Heralding::TwoRound;
        assert!(close(two.attempt_period_s(10.0), 1e-4, 1e-18));
        assert!(close(two.pair_rate_per_s(0.2, 10.0, 0.5), 788.7, 0.1));
        assert!(close(
            Heralding::SingleClick.pair_rate_per_s(0.2, 10.0, 0.5),
            1577.4,
            0.1
        ));
        // 100 km: p = 1.25·10⁻³ per 1 ms attempt → 1.25 pairs/s (single-click 2.5).
        assert!(close(two.pair_rate_per_s(0.2, 100.0, 0.5), 1.25, 1e-12));
        assert!(close(two.attempt_period_s(100.0), 1e-3, 1e-18));
        // Success scales with η_A·η_B: 3 dB more loss (1.5 dB per arm) halves p (10^−0.3).
        let lossier = elementary_success_probability(0.2 + 3.0 / 100.0, 100.0, 0.5);
        assert!(close(lossier / 1.25e-3, 0.501, 1e-3), "{lossier}");
        assert_eq!(Heralding::from_name("two-round"), Some(two));
        assert_eq!(
            Heralding::from_name("single-click"),
            Some(Heralding::default())
        );
        assert_eq!(Heralding::from_name("double-click"), None);
        assert_eq!(two.name(), "two-round");
    }

    #[test]
    fn swap_overhead() {
        assert!(close(
            elementary_pairs_per_link_per_s(10.0, 1, 0.5),
            10.0,
            0.0
        ));
        assert!(close(
            elementary_pairs_per_link_per_s(10.0, 0, 0.5),
            10.0,
            0.0
        ));
        assert!(close(
            elementary_pairs_per_link_per_s(10.0, 3, 0.5),
            40.0,
            1e-12
        ));
        assert!(close(
            elementary_pairs_per_link_per_s(10.0, 5, 1.0),
            10.0,
            0.0
        ));
        assert!(elementary_pairs_per_link_per_s(10.0, 2, 0.0).is_infinite());
    }

    proptest! {
        #[test]
        fn pair_rate_decreases_with_length(l in 0.1f64..300.0, dl in 0.0f64..100.0) {
            prop_assert!(
                elementary_pair_rate_per_s(0.2, l + dl, 0.5)
                    <= elementary_pair_rate_per_s(0.2, l, 0.5)
            );
        }

        #[test]
        fn swap_overhead_grows_with_links(r in 0.0f64..1e6, n in 1usize..20, q in 0.01f64..=1.0) {
            let a = elementary_pairs_per_link_per_s(r, n, q);
            let b = elementary_pairs_per_link_per_s(r, n + 1, q);
            prop_assert!(a >= r && b >= a);
        }
    }
}
