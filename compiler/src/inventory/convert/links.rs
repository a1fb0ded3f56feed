//! Links: QKD and entanglement links along one path ([`RawQuantumLink`]) — the name, ends,
//! length, loss and classical path they share, and their rate given measured or computed,
//! with both or neither reported in the same words — then what is each kind's own (a QKD
//! link's QBER and decoy-state parameters, an entanglement link's fidelity and heralding);
//! and classical links.

use super::cx::{
    AT_LEAST_ONE, Cx, FIDELITY, MISALIGNMENT, NON_NEGATIVE, POSITIVE, PROBABILITY, QBER, cover,
};
use crate::inventory::codes;
use crate::inventory::model::{
    ClassicalLink, DecoyBb84, EntanglementLink, Heralding, KeyRate, PairRate, QkdLink,
};
use crate::inventory::raw::{
    RawClassicalLink, RawDecoyBb84, RawEntanglementLink, RawHeralding, RawProtocol, RawQkdLink,
    RawQuantumLink,
};
use serde_saphyr::Spanned as S;
use strata_grammar::{Diagnostic, Span, Spanned};

/// Default fibre attenuation, dB/km (standard single-mode fibre at 1550 nm).
const DEFAULT_LOSS_DB_PER_KM: f64 = 0.2;

/// The fields every quantum link starts with, converted, and the spans its entry covers so
/// far.
struct LinkHead {
    name: Spanned<String>,
    ends: [Spanned<String>; 2],
    length_km: f64,
    loss_db_per_km: f64,
    parts: Vec<Span>,
}

/// Which way a quantum link gives its rate ([`RawQuantumLink`]).
enum Source<'r, P> {
    /// Measured only.
    Measured(&'r S<f64>),
    /// Computed only, from this protocol or efficiency.
    Physical(&'r S<P>),
    /// Both (reported); the measured rate is kept.
    Both(&'r S<f64>),
    /// Neither (reported).
    Neither,
}

/// How messages name one kind of quantum link and its rate.
struct RateWords {
    /// `QKD link`, `entanglement link`.
    link: &'static str,
    /// `key rate`, `pair rate`.
    rate: &'static str,
    /// The article before the field that asks for the computed rate.
    article: &'static str,
    /// What the measured rate is, when it is out of range.
    measured_help: &'static str,
    /// How to keep one source when both are given.
    both_help: &'static str,
    /// How to give a rate when none is.
    neither_help: &'static str,
}

const KEY_RATE: RateWords = RateWords {
    link: "QKD link",
    rate: "key rate",
    article: "a",
    measured_help: HELP_SKR,
    both_help: "keep `skr_bps` for a rate measured on the deployed system, or \
                `protocol: decoy-bb84` to compute it from the fibre — not both",
    neither_help: "add `skr_bps: 120000` (secret key rate measured on the system, bit/s) \
                   or `protocol: decoy-bb84` (computed from the fibre; add `derating: 15` \
                   for a field system)",
};

const PAIR_RATE: RateWords = RateWords {
    link: "entanglement link",
    rate: "pair rate",
    article: "an",
    measured_help: "heralded elementary pairs per second measured on the link; \
                    must be greater than 0",
    both_help: "keep `pair_rate_hz` for a rate measured on the link, or `efficiency` \
                to compute it from the fibre — not both",
    neither_help: "add `pair_rate_hz: 800` (heralded pairs per second, measured) or \
                   `efficiency: 0.5` (emission × detection efficiency per side, computed \
                   from the fibre)",
};

impl Cx<'_, '_> {
    pub(super) fn qkd_link(&mut self, raw: S<RawQkdLink>) -> QkdLink {
        let entry = self.locator.span(&raw.referenced);
        let l = raw.value;
        let mut head = self.link_head(&l);
        let extra_loss_db = self.opt_num(
            "extra_loss_db",
            l.extra_loss_db.as_ref(),
            0.0,
            NON_NEGATIVE,
            HELP_EXTRA_LOSS,
        );
        let qber_span = self.span(&l.qber);
        let qber_help = qber_help(l.qber.value);
        let qber = Spanned::new(self.num("qber", &l.qber, QBER, &qber_help), qber_span);
        head.parts.push(qber_span);
        for v in [&l.extra_loss_db, &l.derating].into_iter().flatten() {
            head.parts.push(self.span(v));
        }
        if let Some(p) = &l.params {
            head.parts.push(self.span(p));
        }
        let key_rate = self.key_rate(&head.name, &l);
        let (span, classical_path) = self.link_tail(entry, &l, &mut head.parts);
        QkdLink {
            span,
            name: head.name,
            ends: head.ends,
            length_km: head.length_km,
            loss_db_per_km: head.loss_db_per_km,
            extra_loss_db,
            key_rate,
            qber,
            classical_path,
        }
    }

    fn key_rate(&mut self, name: &Spanned<String>, l: &RawQkdLink) -> KeyRate {
        match self.rate_source(name, l, &KEY_RATE) {
            Source::Measured(skr) => {
                let skr_span = self.span(skr);
                for (field, span) in [
                    ("params", l.params.as_ref().map(|p| self.span(p))),
                    ("derating", l.derating.as_ref().map(|d| self.span(d))),
                ] {
                    if let Some(span) = span {
                        self.push(
                            Diagnostic::error(
                                codes::RATE_SOURCE,
                                span,
                                format!(
                                    "`{field}` of QKD link `{}` only applies to a rate computed \
                                     by `protocol`, but the link gives a measured `skr_bps`",
                                    name.value
                                ),
                            )
                            .label(format!("`{field}` without `protocol`"))
                            .related(skr_span, "measured rate given here")
                            .help(format!(
                                "remove `{field}`, or replace `skr_bps` by `protocol: decoy-bb84`"
                            )),
                        );
                    }
                }
                KeyRate::Measured(self.measured_rate::<RawQkdLink>(skr, &KEY_RATE))
            }
            Source::Both(skr) => {
                KeyRate::Measured(self.measured_rate::<RawQkdLink>(skr, &KEY_RATE))
            }
            Source::Physical(protocol) => {
                let span = self.span(protocol);
                let RawProtocol::DecoyBb84 = protocol.value;
                let raw_params = l.params.as_ref().map(|p| &p.value);
                let params = self.decoy_params(raw_params);
                let derating = self.opt_num(
                    "derating",
                    l.derating.as_ref(),
                    1.0,
                    AT_LEAST_ONE,
                    "the ideal rate is divided by `derating`; field systems deliver 10–20× less \
                     than the asymptotic formula, so `derating: 15` is typical, and 1 means ideal",
                );
                KeyRate::Protocol {
                    params,
                    derating,
                    span,
                }
            }
            Source::Neither => KeyRate::Measured(Spanned::new(0.0, name.span)),
        }
    }

    fn decoy_params(&mut self, raw: Option<&RawDecoyBb84>) -> DecoyBb84 {
        let d = DecoyBb84::default();
        let Some(p) = raw else {
            return d;
        };
        DecoyBb84 {
            pulse_rate_hz: self.opt_num(
                "pulse_rate_hz",
                p.pulse_rate_hz.as_ref(),
                d.pulse_rate_hz,
                POSITIVE,
                "source clock rate in pulses per second, e.g. `1e9` for 1 GHz",
            ),
            mean_photon_number: self.opt_num(
                "mean_photon_number",
                p.mean_photon_number.as_ref(),
                d.mean_photon_number,
                POSITIVE,
                "mean photon number μ of the signal state, typically `0.5`",
            ),
            detector_efficiency: self.opt_num(
                "detector_efficiency",
                p.detector_efficiency.as_ref(),
                d.detector_efficiency,
                PROBABILITY,
                "a probability: 20 % is `0.2`",
            ),
            dark_count_yield: self.opt_num(
                "dark_count_yield",
                p.dark_count_yield.as_ref(),
                d.dark_count_yield,
                PROBABILITY,
                "dark-count probability per pulse, typically `1e-6`",
            ),
            misalignment: self.opt_num(
                "misalignment",
                p.misalignment.as_ref(),
                d.misalignment,
                MISALIGNMENT,
                "probability that a photon hits the wrong detector: 1 % is `0.01`",
            ),
            ec_inefficiency: self.opt_num(
                "ec_inefficiency",
                p.ec_inefficiency.as_ref(),
                d.ec_inefficiency,
                AT_LEAST_ONE,
                "error-correction leakage relative to the Shannon limit; 1 is ideal, \
                 `1.16` is typical",
            ),
            sifting: self.opt_num(
                "sifting",
                p.sifting.as_ref(),
                d.sifting,
                PROBABILITY,
                "fraction of detections kept after basis sifting, e.g. `0.9` for efficient BB84",
            ),
        }
    }

    pub(super) fn entanglement_link(&mut self, raw: S<RawEntanglementLink>) -> EntanglementLink {
        let entry = self.locator.span(&raw.referenced);
        let l = raw.value;
        let mut head = self.link_head(&l);
        let fidelity_span = self.span(&l.fidelity);
        head.parts.push(fidelity_span);
        let fidelity = Spanned::new(
            self.num(
                "fidelity",
                &l.fidelity,
                FIDELITY,
                "fidelity of the elementary pairs: above 0.25 (a fully mixed state) and at most \
                 1 (perfect); deployed links reach 0.9–0.99",
            ),
            fidelity_span,
        );
        let pair_rate = self.pair_rate(&head.name, &l);
        let heralding = l.heralding.as_ref().map_or(Heralding::SingleClick, |h| {
            head.parts.push(self.span(h));
            match h.value {
                RawHeralding::SingleClick => Heralding::SingleClick,
                RawHeralding::TwoRound => Heralding::TwoRound,
            }
        });
        let (span, classical_path) = self.link_tail(entry, &l, &mut head.parts);
        EntanglementLink {
            span,
            name: head.name,
            ends: head.ends,
            length_km: head.length_km,
            loss_db_per_km: head.loss_db_per_km,
            pair_rate,
            heralding,
            fidelity,
            classical_path,
        }
    }

    fn pair_rate(&mut self, name: &Spanned<String>, l: &RawEntanglementLink) -> PairRate {
        const HELP_EFFICIENCY: &str = "emission × detection efficiency per side, a \
                                       probability: 50 % is `0.5`";
        match self.rate_source(name, l, &PAIR_RATE) {
            Source::Measured(rate) | Source::Both(rate) => {
                PairRate::Measured(self.measured_rate::<RawEntanglementLink>(rate, &PAIR_RATE))
            }
            Source::Physical(eff) => PairRate::Physical {
                efficiency: self.num("efficiency", eff, PROBABILITY, HELP_EFFICIENCY),
                span: self.span(eff),
            },
            Source::Neither => PairRate::Measured(Spanned::new(0.0, name.span)),
        }
    }

    /// The name, ends, length and fibre loss every quantum link starts with.
    fn link_head(&mut self, l: &impl RawQuantumLink) -> LinkHead {
        let name = self.name(l.name(), "link");
        let mut parts = vec![name.span, self.span(l.ends()), self.span(l.length_km())];
        let ends = self.ends(l.ends());
        let length_km = self.num("length_km", l.length_km(), NON_NEGATIVE, HELP_LENGTH);
        let loss_db_per_km = self.opt_num(
            "loss_db_per_km",
            l.loss_db_per_km(),
            DEFAULT_LOSS_DB_PER_KM,
            NON_NEGATIVE,
            HELP_LOSS,
        );
        if let Some(loss) = l.loss_db_per_km() {
            parts.push(self.span(loss));
        }
        LinkHead {
            name,
            ends,
            length_km,
            loss_db_per_km,
            parts,
        }
    }

    /// Which way a quantum link gives its rate; giving both or neither is reported (both:
    /// the measured rate is kept).
    fn rate_source<'r, L: RawQuantumLink>(
        &mut self,
        name: &Spanned<String>,
        l: &'r L,
        words: &RateWords,
    ) -> Source<'r, L::Physical> {
        match (l.measured(), l.physical()) {
            (Some(measured), None) => Source::Measured(measured),
            (None, Some(physical)) => Source::Physical(physical),
            (Some(measured), Some(physical)) => {
                let measured_span = self.span(measured);
                self.push(
                    Diagnostic::error(
                        codes::RATE_SOURCE,
                        self.span(physical),
                        format!(
                            "{} `{}` gives both a measured `{}` and {} `{}`",
                            words.link,
                            name.value,
                            L::MEASURED,
                            words.article,
                            L::PHYSICAL
                        ),
                    )
                    .label(format!("second source of the {}", words.rate))
                    .related(measured_span, "measured rate given here")
                    .help(words.both_help),
                );
                Source::Both(measured)
            }
            (None, None) => {
                self.push(
                    Diagnostic::error(
                        codes::RATE_SOURCE,
                        name.span,
                        format!("{} `{}` has no {}", words.link, name.value, words.rate),
                    )
                    .label(format!("neither `{}` nor `{}`", L::MEASURED, L::PHYSICAL))
                    .help(words.neither_help),
                );
                Source::Neither
            }
        }
    }

    /// A measured rate, which must be positive.
    fn measured_rate<L: RawQuantumLink>(
        &mut self,
        rate: &S<f64>,
        words: &RateWords,
    ) -> Spanned<f64> {
        let v = self.num(L::MEASURED, rate, POSITIVE, words.measured_help);
        Spanned::new(v, self.span(rate))
    }

    /// The rest of every quantum link: the spans of its rate sources and its classical path;
    /// returns the span of the whole entry and the path.
    fn link_tail(
        &self,
        entry: Span,
        l: &impl RawQuantumLink,
        parts: &mut Vec<Span>,
    ) -> (Span, Vec<Spanned<String>>) {
        if let Some(measured) = l.measured() {
            parts.push(self.span(measured));
        }
        if let Some(physical) = l.physical() {
            parts.push(self.span(physical));
        }
        let classical_path = self.classical_path(l.classical_path(), parts);
        (cover(entry, parts), classical_path)
    }

    /// The entries of a `classical_path`; a missing path is empty and reported by
    /// `validate`, which knows the classical links and can suggest one.
    fn classical_path(
        &self,
        raw: Option<&S<Vec<S<String>>>>,
        parts: &mut Vec<Span>,
    ) -> Vec<Spanned<String>> {
        let Some(path) = raw else {
            return Vec::new();
        };
        parts.push(self.span(path));
        let entries: Vec<_> = path.value.iter().map(|e| self.string(e)).collect();
        parts.extend(entries.iter().map(|e| e.span));
        entries
    }

    pub(super) fn classical_link(&mut self, raw: S<RawClassicalLink>) -> ClassicalLink {
        let entry = self.locator.span(&raw.referenced);
        let l = raw.value;
        let name = self.name(&l.name, "link");
        let parts = [
            name.span,
            self.span(&l.ends),
            self.span(&l.bandwidth_bps),
            self.span(&l.latency_ms),
        ];
        let ends = self.ends(&l.ends);
        let bandwidth_bps = self.num(
            "bandwidth_bps",
            &l.bandwidth_bps,
            POSITIVE,
            "capacity reserved for strata's classical traffic in bit/s, e.g. `1e9` for 1 Gbit/s",
        );
        let latency_ms = self.num(
            "latency_ms",
            &l.latency_ms,
            NON_NEGATIVE,
            "one-way latency in milliseconds; fibre adds about 0.005 ms per km",
        );
        ClassicalLink {
            span: cover(entry, &parts),
            name,
            ends,
            bandwidth_bps,
            latency_ms,
        }
    }
}

const HELP_LENGTH: &str = "fibre length in km, 0 or more (0 for co-located equipment)";

const HELP_LOSS: &str =
    "fibre attenuation in dB/km, 0 or more: 0.2 for new fibre, 0.25–0.5 for deployed metro fibre";

const HELP_EXTRA_LOSS: &str =
    "fixed losses (connectors, splices, optical switches) in dB, 0 or more";

const HELP_SKR: &str = "secret key rate measured on the deployed system, in bit/s, greater than \
                        0; remove the link if it delivers no key";

fn qber_help(v: f64) -> String {
    if v > 1.0 && v <= 50.0 {
        format!(
            "QBER is a fraction, not a percentage: {v} % is `{}`",
            v / 100.0
        )
    } else {
        "quantum bit error rate as a fraction: 2 % is `0.02`; BB84 yields no key above 0.11"
            .to_string()
    }
}
