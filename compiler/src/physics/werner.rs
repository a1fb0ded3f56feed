//! Werner-state fidelity algebra (DESIGN §4, §5): conversion between fidelity F and Werner
//! parameter w, fidelity of a swapped chain, the additive fidelity cost used by path search
//! and the LP, memory decoherence, and BBPSSW purification.
//!
//! Fidelities are dimensionless in [¼, 1] (¼ is the maximally mixed state); times are in
//! seconds.

/// Werner parameter w = (4F − 1)/3 of a Werner state of fidelity `fidelity`.
pub fn werner_parameter(fidelity: f64) -> f64 {
    (4.0 * fidelity - 1.0) / 3.0
}

/// Fidelity F = ¼ + ¾·w of a Werner state with parameter `werner`.
pub fn fidelity_from_werner(werner: f64) -> f64 {
    0.25 + 0.75 * werner
}

/// End-to-end fidelity after swapping a chain of links with the given elementary fidelities:
/// F_chain = ¼ + ¾·Π w_i (deterministic, noiseless swaps). An empty chain gives 1.
pub fn chain_fidelity(link_fidelities: &[f64]) -> f64 {
    fidelity_from_werner(
        link_fidelities
            .iter()
            .map(|&f| werner_parameter(f))
            .product(),
    )
}

/// Additive fidelity cost −ln w(F) (dimensionless, ≥ 0): Werner parameters multiply along a
/// chain, so costs add and `fidelity ≥ F` becomes
/// Σ fidelity_cost(F_link) + Σ memory_wait_cost ≤ fidelity_cost(F).
/// F = 1 costs 0; F ≤ ¼ (no entanglement left) costs +∞.
pub fn fidelity_cost(fidelity: f64) -> f64 {
    let w = werner_parameter(fidelity.min(1.0));
    if w <= 0.0 { f64::INFINITY } else { -w.ln() }
}

/// Inverse of [`fidelity_cost`]: the fidelity ¼ + ¾·e^(−cost). A cost of +∞ gives ¼;
/// negative costs are taken as 0 (fidelity 1).
pub fn fidelity_from_cost(cost: f64) -> f64 {
    fidelity_from_werner((-cost.max(0.0)).exp())
}

/// Fidelity cost of holding a pair for `wait_s` seconds in a memory of coherence time
/// `coherence_time_s`: t/T, since w decays as e^(−t/T). A non-positive wait costs 0; a
/// non-positive coherence time with a positive wait costs +∞.
pub fn memory_wait_cost(wait_s: f64, coherence_time_s: f64) -> f64 {
    if wait_s <= 0.0 {
        0.0
    } else if coherence_time_s <= 0.0 {
        f64::INFINITY
    } else {
        wait_s / coherence_time_s
    }
}

/// Fidelity of a Werner pair of initial fidelity `initial_fidelity` after `wait_s` seconds in
/// a memory of coherence time `coherence_time_s`: F(t) = ¼ + (F0 − ¼)·e^(−t/T).
pub fn decohered_fidelity(initial_fidelity: f64, wait_s: f64, coherence_time_s: f64) -> f64 {
    0.25 + (initial_fidelity - 0.25) * (-memory_wait_cost(wait_s, coherence_time_s)).exp()
}

/// BBPSSW success probability on two Werner pairs of fidelity `fidelity`:
/// p_s = F² + 2F(1−F)/3 + 5((1−F)/3)².
pub fn bbpssw_success_probability(fidelity: f64) -> f64 {
    let f = fidelity;
    let g = (1.0 - f) / 3.0;
    f * f + 2.0 * f * (1.0 - f) / 3.0 + 5.0 * g * g
}

/// Fidelity after one successful BBPSSW round: F' = (F² + ((1−F)/3)²) / p_s.
pub fn bbpssw_fidelity(fidelity: f64) -> f64 {
    let f = fidelity;
    let g = (1.0 - f) / 3.0;
    let p = bbpssw_success_probability(f);
    if p > 0.0 { (f * f + g * g) / p } else { f }
}

/// One BBPSSW round: (fidelity after success, success probability p_s). The output is
/// re-twirled to a Werner state, so rounds can be chained.
pub fn bbpssw(fidelity: f64) -> (f64, f64) {
    (
        bbpssw_fidelity(fidelity),
        bbpssw_success_probability(fidelity),
    )
}

/// `rounds` rounds of BBPSSW purification (each on two pairs of the previous round's output):
/// returns (fidelity, rate factor), where the rate factor Π p_s/2 is the number of output
/// pairs per input pair — each round consumes two pairs and succeeds with p_s. Zero rounds
/// return (`fidelity`, 1).
pub fn purify(fidelity: f64, rounds: u32) -> (f64, f64) {
    let mut f = fidelity;
    let mut factor = 1.0;
    for _ in 0..rounds {
        let (next, p) = bbpssw(f);
        factor *= p / 2.0;
        f = next;
    }
    (f, factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn werner_conversion() {
        assert!(close(werner_parameter(1.0), 1.0, 1e-15));
        assert!(close(werner_parameter(0.25), 0.0, 1e-15));
        assert!(close(werner_parameter(0.9), 0.866_666_666_666_666_7, 1e-15));
        assert!(close(
            fidelity_from_werner(werner_parameter(0.93)),
            0.93,
            1e-15
        ));
    }

    #[test]
    fn chain_reference_values() {
        // DESIGN §5: two 0.9 links → 0.8133; five 0.98 links → 0.9052.
        assert!(close(chain_fidelity(&[0.9, 0.9]), 0.8133, 1e-4));
        assert!(close(chain_fidelity(&[0.98; 5]), 0.9052, 1e-4));
        assert!(close(chain_fidelity(&[0.9]), 0.9, 1e-15));
        assert!(close(chain_fidelity(&[]), 1.0, 0.0));
    }

    #[test]
    fn cost_is_additive_along_chain() {
        let links = [0.97, 0.95, 0.99];
        let total: f64 = links.iter().map(|&f| fidelity_cost(f)).sum();
        assert!(close(
            fidelity_from_cost(total),
            chain_fidelity(&links),
            1e-12
        ));
        assert!(close(fidelity_cost(1.0), 0.0, 0.0));
        assert!(fidelity_cost(0.25).is_infinite());
        assert!(fidelity_cost(0.1).is_infinite());
        assert!(close(fidelity_from_cost(f64::INFINITY), 0.25, 0.0));
    }

    #[test]
    fn decoherence() {
        assert!(close(decohered_fidelity(0.9, 0.0, 1.0), 0.9, 0.0));
        // One coherence time: (0.9 − ¼)/e + ¼.
        let f = decohered_fidelity(0.9, 1.0, 1.0);
        assert!(close(f, 0.25 + 0.65 * (-1.0f64).exp(), 1e-15));
        assert!(close(decohered_fidelity(0.9, 1e9, 1.0), 0.25, 1e-12));
        assert!(close(decohered_fidelity(0.9, 1.0, 0.0), 0.25, 0.0));
        // Waiting and its cost agree: w decays as e^(−t/T).
        let c = fidelity_cost(0.9) + memory_wait_cost(0.3, 2.0);
        assert!(close(
            fidelity_from_cost(c),
            decohered_fidelity(0.9, 0.3, 2.0),
            1e-12
        ));
    }

    #[test]
    fn bbpssw_reference_values() {
        // DESIGN §5: 0.9 → 0.926 with p_s = 0.876.
        let (f, p) = bbpssw(0.9);
        assert!(close(f, 0.926, 5e-4), "F' = {f}");
        assert!(close(p, 0.876, 5e-4), "p_s = {p}");
        let (f1, r1) = purify(0.9, 1);
        assert!(close(f1, f, 0.0) && close(r1, p / 2.0, 1e-15));
        let (f0, r0) = purify(0.9, 0);
        assert!(close(f0, 0.9, 0.0) && close(r0, 1.0, 0.0));
        let (f2, r2) = purify(0.9, 2);
        assert!(f2 > f1 && r2 < r1);
        assert!(close(
            r2,
            p / 2.0 * bbpssw_success_probability(f1) / 2.0,
            1e-15
        ));
    }

    proptest! {
        #[test]
        fn chain_fidelity_bounded_and_non_increasing(
            links in proptest::collection::vec(0.3f64..=1.0, 1..12),
            extra in 0.3f64..=1.0,
        ) {
            let f = chain_fidelity(&links);
            prop_assert!(f > 0.25 && f <= 1.0);
            let mut longer = links.clone();
            longer.push(extra);
            prop_assert!(chain_fidelity(&longer) <= f + 1e-15);
        }

        #[test]
        fn purification_raises_fidelity_above_half(f in 0.5001f64..0.9999) {
            let (next, p) = bbpssw(f);
            prop_assert!(next > f);
            prop_assert!(p > 0.0 && p <= 1.0);
        }

        #[test]
        fn cost_round_trip(f in 0.2501f64..=1.0) {
            prop_assert!((fidelity_from_cost(fidelity_cost(f)) - f).abs() < 1e-12);
            prop_assert!(fidelity_cost(f) >= 0.0);
        }

        #[test]
        fn decoherence_monotone(f0 in 0.25f64..=1.0, t in 0.0f64..10.0, dt in 0.0f64..10.0, tm in 0.01f64..100.0) {
            let a = decohered_fidelity(f0, t, tm);
            let b = decohered_fidelity(f0, t + dt, tm);
            prop_assert!(b <= a + 1e-15 && b >= 0.25 - 1e-15);
        }
    }
}
