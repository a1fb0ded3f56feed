//! Quantum key distribution physics (DESIGN §5): the binary entropy, the repeaterless
//! PLOB bound, the asymptotic decoy-state BB84 secret key rate and the QBER thresholds above
//! which BB84 yields no key.

/// Decoy-state BB84 parameters (DESIGN §5); defaults are the reference values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecoyBb84 {
    pub pulse_rate_hz: f64,
    pub mean_photon_number: f64,
    pub detector_efficiency: f64,
    pub dark_count_yield: f64,
    pub misalignment: f64,
    pub ec_inefficiency: f64,
    pub sifting: f64,
}

impl Default for DecoyBb84 {
    fn default() -> Self {
        DecoyBb84 {
            pulse_rate_hz: 1e9,
            mean_photon_number: 0.5,
            detector_efficiency: 0.2,
            dark_count_yield: 1e-6,
            misalignment: 0.01,
            ec_inefficiency: 1.16,
            sifting: 0.9,
        }
    }
}

/// QBER above which BB84 (Shor–Preskill, one-way post-processing) yields no key with ideal
/// error correction (f = 1): the root of 1 − 2·h(e) = 0, 11.0 %.
pub const QBER_THRESHOLD_BB84: f64 = 0.11;

/// QBER threshold for BB84 with a realistic error-correction inefficiency f = 1.16: the root
/// of 1 − h(e) − f·h(e) = 0, 9.8 %. See [`qber_threshold`] for other values of f.
pub const QBER_THRESHOLD_BB84_F116: f64 = 0.098;

/// Binary (Shannon) entropy h(x) = −x·log2 x − (1−x)·log2(1−x), in bits.
///
/// Safe at the edges: h(0) = h(1) = 0, and arguments outside [0, 1] also give 0.
pub fn binary_entropy(x: f64) -> f64 {
    if x <= 0.0 || x >= 1.0 {
        return 0.0;
    }
    -x * x.log2() - (1.0 - x) * (1.0 - x).log2()
}

/// Repeaterless secret-key capacity (Pirandola–Laurenza–Ottaviani–Banchi): at most
/// −log2(1 − η) secret bits per channel use over a pure-loss channel of transmittance `eta`
/// (dimensionless). η ≤ 0 gives 0; η ≥ 1 gives +∞.
pub fn plob_bits_per_use(eta: f64) -> f64 {
    if eta <= 0.0 {
        return 0.0;
    }
    if eta >= 1.0 {
        return f64::INFINITY;
    }
    // −log2(1 − η) computed through ln_1p, accurate for the tiny η of long links.
    -(-eta).ln_1p() / std::f64::consts::LN_2
}

/// The PLOB bound as a bit rate, bit/s, at `pulse_rate_hz` channel uses per second.
pub fn plob_rate_bps(eta: f64, pulse_rate_hz: f64) -> f64 {
    plob_bits_per_use(eta) * pulse_rate_hz.max(0.0)
}

/// The intermediate quantities of the decoy-state BB84 formula, all per pulse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecoyBb84Terms {
    /// Overall transmittance η = η_det · η_fibre (dimensionless).
    pub eta: f64,
    /// Gain of the signal state, Q_μ = Y0 + 1 − e^(−ημ).
    pub gain: f64,
    /// QBER of the signal state, E_μ = (Y0/2 + e_d·(1 − e^(−ημ))) / Q_μ — what the link
    /// reports as its QBER.
    pub qber: f64,
    /// Single-photon yield Y1 = Y0 + η.
    pub single_photon_yield: f64,
    /// Single-photon error rate e1 = (Y0/2 + e_d·η) / Y1.
    pub single_photon_error: f64,
    /// Single-photon gain Q1 = Y1·μ·e^(−μ).
    pub single_photon_gain: f64,
    /// Secret bits per pulse R = q·(Q1·(1 − h(e1)) − Q_μ·f·h(E_μ)), clamped to ≥ 0.
    pub bits_per_pulse: f64,
}

/// Evaluates the asymptotic decoy-state BB84 formula (DESIGN §5, Lo–Ma–Chen 2005 with
/// infinitely many decoys) for the protocol `params` over a channel of fibre transmittance
/// `fibre_transmittance` (dimensionless, *excluding* the detector — see
/// [`crate::physics::fibre::transmittance`]); the detector efficiency of `params` is
/// multiplied in here.
pub fn decoy_bb84(params: &DecoyBb84, fibre_transmittance: f64) -> DecoyBb84Terms {
    let eta = (params.detector_efficiency * fibre_transmittance).clamp(0.0, 1.0);
    let mu = params.mean_photon_number.max(0.0);
    let y0 = params.dark_count_yield.max(0.0);
    let e_d = params.misalignment;

    let detected = -(-eta * mu).exp_m1(); // 1 − e^(−ημ), accurate for small ημ
    let gain = y0 + detected;
    let qber = if gain > 0.0 {
        (y0 / 2.0 + e_d * detected) / gain
    } else {
        0.0
    };
    let single_photon_yield = y0 + eta;
    let single_photon_error = if single_photon_yield > 0.0 {
        (y0 / 2.0 + e_d * eta) / single_photon_yield
    } else {
        0.0
    };
    let single_photon_gain = single_photon_yield * mu * (-mu).exp();
    let raw = params.sifting
        * (single_photon_gain * (1.0 - binary_entropy(single_photon_error))
            - gain * params.ec_inefficiency * binary_entropy(qber));
    DecoyBb84Terms {
        eta,
        gain,
        qber,
        single_photon_yield,
        single_photon_error,
        single_photon_gain,
        // `max` also maps a NaN from nonsensical parameters to 0.
        bits_per_pulse: raw.max(0.0),
    }
}

/// Asymptotic decoy-state BB84 secret bits per pulse (≥ 0); see [`decoy_bb84`].
pub fn decoy_bb84_bits_per_pulse(params: &DecoyBb84, fibre_transmittance: f64) -> f64 {
    decoy_bb84(params, fibre_transmittance).bits_per_pulse
}

/// Asymptotic decoy-state BB84 secret key rate in bit/s (≥ 0): bits per pulse ×
/// `params.pulse_rate_hz`. `fibre_transmittance` excludes the detector; see [`decoy_bb84`].
///
/// This never exceeds [`plob_rate_bps`] at the same pulse rate, even with the detector's
/// efficiency counted into the PLOB transmittance (for e_d ≤ ½): since h(p) ≥ 2p on [0, ½],
/// Q1·(1 − h(e1)) ≤ μe^(−μ)·η ≤ η/e < η/ln 2 ≤ −log2(1 − η).
pub fn decoy_bb84_key_rate_bps(params: &DecoyBb84, fibre_transmittance: f64) -> f64 {
    decoy_bb84_bits_per_pulse(params, fibre_transmittance) * params.pulse_rate_hz.max(0.0)
}

/// The QBER e in [0, ½] at which BB84 stops producing key with error-correction
/// inefficiency `ec_inefficiency` (f): the root of 1 − h(e) − f·h(e) = 0, found by bisection
/// to full double precision. f = 1 gives 0.1100, f = 1.16 gives 0.0981. For f ≤ 0 there is
/// no root and ½ is returned.
pub fn qber_threshold(ec_inefficiency: f64) -> f64 {
    let f = ec_inefficiency;
    if f.is_nan() || f <= 0.0 {
        return 0.5;
    }
    // g(e) = 1 − (1 + f)·h(e) falls from 1 at e = 0 to −f at e = ½ (h rises on [0, ½]).
    let g = |e: f64| 1.0 - (1.0 + f) * binary_entropy(e);
    let (mut lo, mut hi) = (0.0f64, 0.5f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if g(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::fibre::transmittance;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    fn reference_rate_bps(length_km: f64) -> f64 {
        decoy_bb84_key_rate_bps(&DecoyBb84::default(), transmittance(0.2, length_km, 0.0))
    }

    #[test]
    fn default_params_are_the_reference_params() {
        let p = DecoyBb84::default();
        assert!(close(p.pulse_rate_hz, 1e9, 0.0));
        assert!(close(p.detector_efficiency, 0.2, 0.0));
        assert!(close(p.dark_count_yield, 1e-6, 0.0));
        assert!(close(p.misalignment, 0.01, 0.0));
        assert!(close(p.ec_inefficiency, 1.16, 0.0));
        assert!(close(p.mean_photon_number, 0.5, 0.0));
        assert!(close(p.sifting, 0.9, 0.0));
    }

    #[test]
    fn binary_entropy_values_and_edges() {
        assert!(close(binary_entropy(0.0), 0.0, 0.0));
        assert!(close(binary_entropy(1.0), 0.0, 0.0));
        assert!(close(binary_entropy(-0.1), 0.0, 0.0));
        assert!(close(binary_entropy(1.5), 0.0, 0.0));
        assert!(close(binary_entropy(0.5), 1.0, 1e-15));
        assert!(close(binary_entropy(0.11), 0.4999, 1e-4));
        assert!(binary_entropy(1e-300).is_finite());
        assert!(close(binary_entropy(0.2), binary_entropy(0.8), 1e-15));
    }

    #[test]
    fn plob_reference_values() {
        // 1 GHz, α = 0.2 dB/km: 14.5 Mbit/s at 100 km, 144 kbit/s at 200 km.
        let r100 = plob_rate_bps(transmittance(0.2, 100.0, 0.0), 1e9);
        let r200 = plob_rate_bps(transmittance(0.2, 200.0, 0.0), 1e9);
        assert!(close(r100, 14.5e6, 0.05e6), "PLOB at 100 km: {r100}");
        assert!(close(r200, 144e3, 0.5e3), "PLOB at 200 km: {r200}");
        assert!(close(plob_bits_per_use(0.5), 1.0, 1e-15));
        assert!(close(plob_bits_per_use(0.0), 0.0, 0.0));
        assert!(plob_bits_per_use(1.0).is_infinite());
    }

    #[test]
    fn decoy_bb84_reference_values() {
        // DESIGN §5: 13.2 Mbit/s at 25 km, 413 kbit/s at 100 km, 37.8 kbit/s at 150 km.
        let r25 = reference_rate_bps(25.0);
        let r100 = reference_rate_bps(100.0);
        let r150 = reference_rate_bps(150.0);
        assert!(close(r25, 13.2e6, 0.05e6), "BB84 at 25 km: {r25}");
        assert!(close(r100, 413e3, 0.5e3), "BB84 at 100 km: {r100}");
        assert!(close(r150, 37.8e3, 0.05e3), "BB84 at 150 km: {r150}");
    }

    #[test]
    fn decoy_bb84_clamps_to_zero_beyond_cutoff() {
        // The reference parameters stop producing key at ≈ 207 km.
        assert!(reference_rate_bps(200.0) > 0.0);
        assert!(close(reference_rate_bps(250.0), 0.0, 0.0));
        assert!(close(reference_rate_bps(1000.0), 0.0, 0.0));
        assert!(close(
            decoy_bb84_key_rate_bps(&DecoyBb84::default(), 0.0),
            0.0,
            0.0
        ));
    }

    #[test]
    fn decoy_bb84_qber_is_misalignment_on_short_links() {
        let t = decoy_bb84(&DecoyBb84::default(), transmittance(0.2, 10.0, 0.0));
        assert!(close(t.qber, 0.01, 1e-4));
        assert!(close(t.eta, 0.2 * transmittance(0.2, 10.0, 0.0), 1e-15));
    }

    #[test]
    fn qber_thresholds() {
        assert!(close(qber_threshold(1.0), 0.110, 5e-4));
        assert!(close(qber_threshold(1.16), 0.098, 5e-4));
        assert!(close(qber_threshold(1.0), QBER_THRESHOLD_BB84, 5e-4));
        assert!(close(qber_threshold(1.16), QBER_THRESHOLD_BB84_F116, 5e-4));
        // At the threshold the key fraction vanishes.
        let e = qber_threshold(1.16);
        assert!(close(
            1.0 - binary_entropy(e) - 1.16 * binary_entropy(e),
            0.0,
            1e-12
        ));
        assert!(close(qber_threshold(0.0), 0.5, 0.0));
    }

    /// Realistic but random protocol parameters (e_d ≤ ½ so the PLOB argument applies).
    fn params() -> impl Strategy<Value = DecoyBb84> {
        (
            1e6f64..1e10,
            0.05f64..0.9,
            0.05f64..1.0,
            -7.0f64..-5.0,
            0.0f64..0.05,
            1.0f64..1.5,
            0.5f64..1.0,
        )
            .prop_map(|(rate, mu, det, y0_exp, e_d, f, q)| DecoyBb84 {
                pulse_rate_hz: rate,
                mean_photon_number: mu,
                detector_efficiency: det,
                dark_count_yield: 10f64.powf(y0_exp),
                misalignment: e_d,
                ec_inefficiency: f,
                sifting: q,
            })
    }

    proptest! {
        #[test]
        fn reference_key_rate_non_increasing_in_length(l in 0.0f64..400.0, dl in 0.0f64..100.0) {
            // 1e-9 relative slack for floating-point cancellation near the cut-off.
            prop_assert!(reference_rate_bps(l + dl) <= reference_rate_bps(l) * (1.0 + 1e-9));
        }

        #[test]
        fn key_rate_non_increasing_in_length(
            p in params(), alpha in 0.15f64..0.5, l in 0.0f64..300.0, dl in 0.0f64..100.0
        ) {
            let near = decoy_bb84_key_rate_bps(&p, transmittance(alpha, l, 0.0));
            let far = decoy_bb84_key_rate_bps(&p, transmittance(alpha, l + dl, 0.0));
            prop_assert!(far <= near * (1.0 + 1e-9), "{far} > {near}");
        }

        #[test]
        fn key_rate_never_above_plob(p in params(), alpha in 0.15f64..0.5, l in 0.0f64..400.0) {
            let fibre = transmittance(alpha, l, 0.0);
            let rate = decoy_bb84_key_rate_bps(&p, fibre);
            prop_assert!(rate >= 0.0);
            // Against PLOB over the whole channel including the detector (the stricter
            // comparison) and over the fibre alone (the bound configured on a link).
            let total = p.detector_efficiency * fibre;
            prop_assert!(rate <= plob_rate_bps(total, p.pulse_rate_hz));
            prop_assert!(rate <= plob_rate_bps(fibre, p.pulse_rate_hz));
        }

        #[test]
        fn binary_entropy_bounded_and_symmetric(x in 0.0f64..=1.0) {
            let h = binary_entropy(x);
            prop_assert!((0.0..=1.0).contains(&h));
            prop_assert!((h - binary_entropy(1.0 - x)).abs() < 1e-12);
        }
    }
}
