//! Why an intent has no usable path, in the operator's terms: [`Blocked`], with the sentence
//! that describes it and the fix it suggests.

use crate::units::format_amount;

/// Why an intent has no usable path, in the operator's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocked {
    /// Every allowed path uses a link that currently delivers nothing.
    NoCapacity,
    /// No loop-free path satisfies the constraints together (e.g. `via` forces a detour back).
    NoSimplePath,
    Fidelity {
        best: f64,
        target: f64,
        path: Vec<String>,
    },
    Latency {
        best_ms: f64,
        limit_ms: f64,
        path: Vec<String>,
    },
    Hops {
        best: usize,
        limit: u32,
    },
    Disjoint {
        found: u32,
        wanted: u32,
    },
    /// Purification would reach the bound, but raw pairs arrive too seldom: the first of a
    /// batch decays in memory while it waits for the others.
    Storage {
        best: f64,
        target: f64,
        path: Vec<String>,
        rounds: u32,
        /// Delivered pairs/s the path was evaluated at.
        rate: f64,
        /// Seconds between raw end-to-end pairs at that rate.
        raw_period_s: f64,
        /// Seconds the first raw pair of a batch waits for the last.
        wait_s: f64,
        coherence_s: f64,
        /// Least delivered rate that keeps the bound, if any does.
        min_rate: Option<f64>,
        /// Most delivered pairs/s the path's links supply.
        max_rate: f64,
    },
}

impl Blocked {
    pub fn describe(&self) -> String {
        match self {
            Blocked::NoCapacity => {
                "every allowed path crosses a link that currently yields no key or pairs".into()
            }
            Blocked::NoSimplePath => {
                "no loop-free path satisfies all of its constraints and policies together".into()
            }
            Blocked::Fidelity { best, target, path } => format!(
                "the best fidelity any allowed path reaches is {best:.4} (via {}), below the required {target}",
                path.join(" – ")
            ),
            Blocked::Latency {
                best_ms,
                limit_ms,
                path,
            } => format!(
                "the fastest allowed path takes {best_ms:.2} ms (via {}), over the {} allowed",
                path.join(" – "),
                format_amount(*limit_ms, "ms")
            ),
            Blocked::Hops { best, limit } => {
                format!("the shortest allowed path has {best} hops, over the {limit} allowed")
            }
            Blocked::Disjoint { found, wanted } => {
                format!("only {found} disjoint allowed path(s) exist, {wanted} are required")
            }
            Blocked::Storage {
                best,
                target,
                path,
                rounds,
                rate,
                raw_period_s,
                wait_s,
                coherence_s,
                min_rate,
                max_rate,
            } => {
                let need = match min_rate {
                    Some(m) if *m <= *max_rate => {
                        format!("; it needs at least {} pairs/s", significant(*m))
                    }
                    Some(m) => format!(
                        "; it would need at least {} pairs/s, more than the path's links supply ({} pairs/s)",
                        significant(*m),
                        significant(*max_rate)
                    ),
                    None => String::new(),
                };
                format!(
                    "after {rounds} purification round(s) the best allowed path (via {}) reaches fidelity {best:.4}, below the required {target}: at {} pairs/s a raw pair arrives every {} s, and the first of the {} pairs purified together waits {} s for the others in a memory that keeps {} s{need}",
                    path.join(" – "),
                    significant(*rate),
                    significant(*raw_period_s),
                    1u64 << rounds,
                    significant(*wait_s),
                    significant(*coherence_s),
                )
            }
        }
    }

    pub fn fix(&self) -> &'static str {
        match self {
            Blocked::NoCapacity => "restore the failed links, or allow other paths",
            Blocked::NoSimplePath => {
                "relax `via`, `avoid` or the policies so that a path need not pass a node twice"
            }
            Blocked::Fidelity { .. } => {
                "lower the fidelity target, allow other paths, or improve the links on the best path"
            }
            Blocked::Latency { .. } => "raise the latency bound or allow a shorter path",
            Blocked::Hops { .. } => "raise `max hops` or add a shorter link",
            Blocked::Disjoint { .. } => {
                "lower `disjoint paths` or add links that give independent routes"
            }
            Blocked::Storage { .. } => {
                "raise the rate or the entanglement capacity of the path so that raw pairs arrive faster, use end-node memories with longer coherence times, or lower the fidelity target"
            }
        }
    }
}

/// Three significant digits, for rates and durations from microseconds to hours.
fn significant(v: f64) -> String {
    if !v.is_finite() {
        return "∞".into();
    }
    if v <= 0.0 {
        return "0".into();
    }
    let decimals = (2 - v.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
