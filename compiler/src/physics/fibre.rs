//! Optical fibre: power transmittance from attenuation and length, and the propagation delay
//! of light in glass (DESIGN §5).

/// Speed of light in standard single-mode fibre, km/s (group index ≈ 1.5).
pub const LIGHT_SPEED_IN_FIBRE_KM_PER_S: f64 = 2.0e5;

/// Total loss of a fibre span in dB: `loss_db_per_km · length_km + extra_loss_db`
/// (connectors, splices, switches). Negative inputs are taken as 0.
pub fn fibre_loss_db(loss_db_per_km: f64, length_km: f64, extra_loss_db: f64) -> f64 {
    loss_db_per_km.max(0.0) * length_km.max(0.0) + extra_loss_db.max(0.0)
}

/// Power transmittance (dimensionless, in (0, 1]) of a loss given in dB: `10^(−loss_db/10)`.
/// Negative loss (gain) is taken as 0 dB, so the result never exceeds 1.
pub fn db_to_transmittance(loss_db: f64) -> f64 {
    10f64.powf(-loss_db.max(0.0) / 10.0)
}

/// Fibre transmittance η = 10^(−(α·L + extra)/10), dimensionless, with α in dB/km, L in km
/// and the extra loss in dB.
pub fn transmittance(loss_db_per_km: f64, length_km: f64, extra_loss_db: f64) -> f64 {
    db_to_transmittance(fibre_loss_db(loss_db_per_km, length_km, extra_loss_db))
}

/// One-way propagation delay of light over `length_km` of fibre, in seconds
/// (L / 2·10^5 km/s). Negative lengths give 0.
pub fn fibre_delay_s(length_km: f64) -> f64 {
    length_km.max(0.0) / LIGHT_SPEED_IN_FIBRE_KM_PER_S
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn transmittance_reference_values() {
        // 0.2 dB/km × 100 km = 20 dB → 1 %.
        assert!(close(transmittance(0.2, 100.0, 0.0), 0.01, 1e-15));
        // 0.2 dB/km × 50 km + 3 dB extra = 13 dB.
        assert!(close(
            transmittance(0.2, 50.0, 3.0),
            10f64.powf(-1.3),
            1e-15
        ));
        assert!(close(transmittance(0.2, 0.0, 0.0), 1.0, 0.0));
        assert!(close(db_to_transmittance(3.0), 0.501_187, 1e-6));
        assert!(close(fibre_loss_db(0.3, 10.0, 1.5), 4.5, 1e-12));
    }

    #[test]
    fn delay_reference_values() {
        // 200 km at 2·10^5 km/s = 1 ms.
        assert!(close(fibre_delay_s(200.0), 1e-3, 1e-15));
        assert!(close(fibre_delay_s(0.0), 0.0, 0.0));
        assert!(close(fibre_delay_s(-5.0), 0.0, 0.0));
    }

    proptest! {
        #[test]
        fn transmittance_in_unit_interval_and_decreasing(
            alpha in 0.0f64..1.0, l1 in 0.0f64..500.0, dl in 0.0f64..500.0, extra in 0.0f64..20.0
        ) {
            let t1 = transmittance(alpha, l1, extra);
            let t2 = transmittance(alpha, l1 + dl, extra);
            prop_assert!(t1 > 0.0 && t1 <= 1.0);
            prop_assert!(t2 <= t1);
        }
    }
}
