//! Werner-state fidelity algebra (DESIGN §4, §5): conversion between fidelity F and Werner
//! parameter w, fidelity of a swapped chain, the additive fidelity cost used by path search
//! and the LP, memory decoherence, and BBPSSW purification — including the storage a pair
//! spends waiting for the pairs it is purified with.
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

/// Purification of raw end-to-end pairs that wait in memory for their partners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredPurification {
    /// Fidelity of the purified pairs.
    pub fidelity: f64,
    /// Purified pairs per raw pair, Π p_s/2 over the rounds (1 without purification).
    pub factor: f64,
    /// Raw end-to-end pairs per second it takes to deliver the rate asked for.
    pub raw_rate_per_s: f64,
    /// Seconds the first raw pair of a batch waits for the last: (2^r − 1)/raw rate.
    pub wait_s: f64,
}

/// Raw pairs a batch of `rounds` recurrence rounds combines: 2^r.
fn batch(rounds: u32) -> f64 {
    2f64.powi(i32::try_from(rounds).unwrap_or(i32::MAX))
}

/// Fidelity and rate factor of `rounds` BBPSSW rounds on a batch of raw pairs of fidelity
/// `raw_fidelity` arriving `raw_rate_per_s` per second: the first pair waits
/// (2^r − 1)/rate for the last, and every pair of the batch is taken at the fidelity of
/// that oldest one (an upper bound on the storage each pair sees).
fn purify_batch(
    raw_fidelity: f64,
    rounds: u32,
    raw_rate_per_s: f64,
    coherence_s: f64,
) -> (f64, f64) {
    let wait = (batch(rounds) - 1.0) / raw_rate_per_s;
    purify(decohered_fidelity(raw_fidelity, wait, coherence_s), rounds)
}

/// `rounds` rounds of BBPSSW purification delivering `delivered_per_s` purified pairs per
/// second from raw end-to-end pairs of fidelity `raw_fidelity`, held while they wait in a
/// memory of coherence time `coherence_time_s` (not finite: no decay).
///
/// Recurrence purification of r rounds combines 2^r raw pairs into one. Raw pairs arrive at
/// λ per second, so the first of a batch waits t = (2^r − 1)/λ for the last and decays to
/// F(t) = ¼ + (F0 − ¼)·e^(−t/T); all 2^r pairs are taken at that fidelity and purified
/// with [`purify`]. λ is the raw rate that delivers the rate asked for,
/// λ · factor(F(t(λ))) = delivered, found by bisection (the left side grows with λ, and
/// factor lies in [4^(−r), 2^(−r)] since 0.5 ≤ p_s ≤ 1). Zero rounds: no batch, no wait.
/// A delivered rate ≤ 0 means raw pairs never meet their partners: the batch decays fully.
pub fn purify_stored(
    raw_fidelity: f64,
    rounds: u32,
    delivered_per_s: f64,
    coherence_time_s: f64,
) -> StoredPurification {
    if rounds == 0 {
        return StoredPurification {
            fidelity: raw_fidelity,
            factor: 1.0,
            raw_rate_per_s: delivered_per_s.max(0.0),
            wait_s: 0.0,
        };
    }
    let n = batch(rounds);
    if delivered_per_s <= 0.0 || !delivered_per_s.is_finite() {
        let (fidelity, factor) = purify(
            decohered_fidelity(raw_fidelity, f64::INFINITY, coherence_time_s),
            rounds,
        );
        return StoredPurification {
            fidelity,
            factor,
            raw_rate_per_s: 0.0,
            wait_s: f64::INFINITY,
        };
    }
    let delivered = |rate: f64| rate * purify_batch(raw_fidelity, rounds, rate, coherence_time_s).1;
    let raw_rate = if coherence_time_s.is_finite() {
        let (mut lo, mut hi) = (delivered_per_s * n, delivered_per_s * n * n);
        for _ in 0..64 {
            let mid = (lo * hi).sqrt();
            if delivered(mid) < delivered_per_s {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    } else {
        delivered_per_s / purify(raw_fidelity, rounds).1
    };
    let (fidelity, factor) = purify_batch(raw_fidelity, rounds, raw_rate, coherence_time_s);
    StoredPurification {
        fidelity,
        factor,
        raw_rate_per_s: raw_rate,
        wait_s: (n - 1.0) / raw_rate,
    }
}

/// The smallest delivered rate (purified pairs/s) at which [`purify_stored`] still reaches
/// `target`: below it the pairs wait too long for their partners. `Some(0)` when any rate
/// does (no rounds, or a memory that does not decay); `None` when none does — not even
/// raw pairs that never wait.
///
/// The batch may decay to the lowest input fidelity F_in whose r rounds still reach the
/// target (by bisection); that allows a wait t = T·ln((F0 − ¼)/(F_in − ¼)), so raw pairs
/// must arrive at λ ≥ (2^r − 1)/t, which delivers λ·factor(F_in).
pub fn purification_min_rate(
    raw_fidelity: f64,
    rounds: u32,
    coherence_time_s: f64,
    target: f64,
) -> Option<f64> {
    if purify(raw_fidelity, rounds).0 < target {
        return None;
    }
    if rounds == 0 || !coherence_time_s.is_finite() {
        return Some(0.0);
    }
    if coherence_time_s <= 0.0 {
        return None;
    }
    let (mut lo, mut hi) = (0.25, raw_fidelity);
    if purify(lo, rounds).0 >= target {
        return Some(0.0);
    }
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if purify(mid, rounds).0 >= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let wait = coherence_time_s * ((raw_fidelity - 0.25) / (hi - 0.25)).ln();
    if wait <= 0.0 {
        return None;
    }
    let raw_rate = (batch(rounds) - 1.0) / wait;
    // A hair above the boundary, so that the rate found keeps the target after round-off.
    Some(raw_rate * purify(hi, rounds).1 * (1.0 + 1e-9))
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

    #[test]
    fn storage_while_waiting_for_partners() {
        // Three rounds combine eight raw pairs of F 0.85. Raw pairs every ~28 s deliver
        // 1/28 × 4⁻³ purified pairs/s (each round keeps half of its pairs at p_s = ½); the
        // first waits 7 × 28 s in a 0.8 s memory: e^(−245) leaves nothing, and purifying
        // a fully mixed batch gives ¼ again.
        let slow = purify_stored(0.85, 3, 1.0 / 28.0 / 64.0, 0.8);
        assert!(close(slow.fidelity, 0.25, 1e-9), "{slow:?}");
        let period = 1.0 / slow.raw_rate_per_s;
        assert!(close(period, 28.0, 1e-6), "raw pair every {period} s");
        assert!(close(slow.wait_s, 7.0 * period, 1e-9));
        // Without the wait the same rounds promise 0.907 or more.
        assert!(purify(0.85, 3).0 > 0.907);
        // Fast raw pairs hardly wait: 1 000 purified pairs/s.
        let fast = purify_stored(0.85, 3, 1000.0, 0.8);
        assert!(fast.fidelity > purify(0.85, 3).0 - 1e-3);
        // Delivered rate = raw rate × factor, and the factor is that of the decayed batch.
        for s in [slow, fast, purify_stored(0.9, 2, 3.0, 2.0)] {
            let rate = s.raw_rate_per_s * s.factor;
            assert!(rate > 0.0);
        }
        let mid = purify_stored(0.9, 2, 3.0, 2.0);
        assert!(close(mid.raw_rate_per_s * mid.factor, 3.0, 1e-9));
        let decayed = decohered_fidelity(0.9, 3.0 / mid.raw_rate_per_s, 2.0);
        assert!(close(mid.wait_s, 3.0 / mid.raw_rate_per_s, 1e-12));
        assert!(close(mid.fidelity, purify(decayed, 2).0, 1e-12));
        // No rounds, no wait; no memory decay, the plain rounds.
        let none = purify_stored(0.9, 0, 5.0, 0.1);
        assert_eq!((none.fidelity, none.factor, none.wait_s), (0.9, 1.0, 0.0));
        let ideal = purify_stored(0.9, 2, 5.0, f64::INFINITY);
        assert!(close(ideal.fidelity, purify(0.9, 2).0, 0.0));
        assert!(close(ideal.raw_rate_per_s * ideal.factor, 5.0, 1e-12));
        // Nothing delivered: the batch never completes.
        assert!(close(purify_stored(0.9, 1, 0.0, 1.0).fidelity, 0.25, 1e-12));
    }

    #[test]
    fn minimum_rate_for_a_target() {
        let (f0, t, target) = (0.85, 0.8, 0.9);
        let min = purification_min_rate(f0, 3, t, target).expect("reachable");
        assert!(min > 0.0);
        assert!(purify_stored(f0, 3, min, t).fidelity >= target);
        assert!(purify_stored(f0, 3, min * 0.99, t).fidelity < target);
        // Unreachable even without waiting; reachable at any rate without rounds or decay.
        assert_eq!(purification_min_rate(0.6, 1, t, 0.99), None);
        assert_eq!(purification_min_rate(0.95, 0, t, 0.9), Some(0.0));
        assert_eq!(
            purification_min_rate(0.85, 2, f64::INFINITY, 0.9),
            Some(0.0)
        );
        assert_eq!(purification_min_rate(0.85, 2, 0.0, 0.9), None);
    }

    proptest! {
        #[test]
        fn stored_purification_is_monotone_in_rate(
            f0 in 0.55f64..0.99, rounds in 1u32..=3, x in 0.001f64..1e4, k in 1.0f64..10.0, t in 0.01f64..10.0,
        ) {
            let a = purify_stored(f0, rounds, x, t);
            let b = purify_stored(f0, rounds, x * k, t);
            prop_assert!(b.fidelity >= a.fidelity - 1e-12);
            prop_assert!(a.fidelity <= purify(f0, rounds).0 + 1e-12);
            prop_assert!((a.raw_rate_per_s * a.factor - x).abs() <= 1e-9 * x);
        }

        #[test]
        fn minimum_rate_is_the_boundary(f0 in 0.6f64..0.99, rounds in 1u32..=3, t in 0.01f64..10.0, gap in 0.0f64..1.0) {
            let best = purify(f0, rounds).0;
            let target = f0.min(best) + gap * (best - f0).max(0.0) * 0.999;
            if let Some(min) = purification_min_rate(f0, rounds, t, target) {
                prop_assert!(purify_stored(f0, rounds, min.max(1e-12), t).fidelity >= target - 1e-12);
                if min > 0.0 {
                    prop_assert!(purify_stored(f0, rounds, min * 0.9, t).fidelity < target);
                }
            }
        }
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
