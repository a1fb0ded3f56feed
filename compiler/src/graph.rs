//! A picture of the network in Graphviz DOT: nodes by role (shape) and domain (colour, and a
//! cluster per domain), quantum links by kind with their utilisation, classical links, and
//! the paths of every intent in a colour of its own. Nodes that carry a `location` are
//! pinned at their coordinates (an equirectangular projection, laid out by `neato`); the
//! others are placed by the layout. What is down right now ([`Live`]) is drawn in red.
//!
//! Pure: text in, text out; the same inputs give the same bytes.

use crate::config::{ConfigSet, Summary};
use crate::inventory::{Inventory, Role, Trust};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Colours of the intents' paths, in the order the intents come (ColorBrewer Set1 and Dark2
/// without their reds and greys, which mean "down" and "link" here).
const PATH_COLOURS: [&str; 11] = [
    "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#1b9e77", "#d95f02",
    "#7570b3", "#e7298a", "#e6ab02",
];

/// Colour of what is down.
const DOWN: &str = "#d62728";

/// Fill colours of the domains, in the order the inventory lists them (ColorBrewer Pastel1).
const DOMAIN_COLOURS: [&str; 8] = [
    "#b3cde3", "#ccebc5", "#fed9a6", "#decbe4", "#fbb4ae", "#ffffcc", "#e5d8bd", "#fddaec",
];

/// Width of a map drawn from locations, inches.
const MAP_WIDTH_IN: f64 = 12.0;

/// What the agents report as down, for a picture of the network as it runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub down_links: BTreeSet<String>,
    pub quarantined: BTreeSet<String>,
    pub down_nodes: BTreeSet<String>,
}

/// The DOT text of `inventory` with the paths of `summary`'s intents and the utilisation of
/// each quantum link in `configs`, and what `live` says is down.
pub fn dot(
    inventory: &Inventory,
    configs: &ConfigSet,
    summary: &Summary,
    live: Option<&Live>,
) -> String {
    let mut out = String::new();
    let positions = positions(inventory);
    let _ = writeln!(out, "graph {} {{", quote(&inventory.name));
    let layout = if positions.is_empty() { "dot" } else { "neato" };
    let _ = writeln!(
        out,
        "  graph [layout={layout}, label={}, labelloc=t, fontname=\"Helvetica\", fontsize=18, overlap=false, splines=true, rankdir=LR, nodesep=0.6];",
        quote(&format!("{} — intents and their paths", inventory.name))
    );
    out.push_str("  node [fontname=\"Helvetica\", fontsize=11, style=filled];\n");
    out.push_str("  edge [fontname=\"Helvetica\", fontsize=9];\n");

    // Nodes, in a cluster per domain when the layout may move them.
    let colours: BTreeMap<&str, &str> = inventory
        .domains
        .iter()
        .enumerate()
        .map(|(i, d)| {
            (
                d.name.value.as_str(),
                DOMAIN_COLOURS[i % DOMAIN_COLOURS.len()],
            )
        })
        .collect();
    for domain in &inventory.domains {
        let d = domain.name.value.as_str();
        let clustered = positions.is_empty();
        let indent = if clustered { "    " } else { "  " };
        if clustered {
            let trust = match domain.trust {
                Trust::Trusted => "trusted",
                Trust::Untrusted => "untrusted",
            };
            let _ = writeln!(out, "  subgraph {} {{", quote(&format!("cluster_{d}")));
            let _ = writeln!(
                out,
                "    label={}; style=dashed; color=\"#999999\"; fontname=\"Helvetica\";",
                quote(&format!("{d} ({trust})"))
            );
        }
        for n in inventory.nodes.iter().filter(|n| n.domain.value == d) {
            let name = n.name.value.as_str();
            let down = live.is_some_and(|l| l.down_nodes.contains(name));
            let (shape, role) = match n.role.value {
                Role::Endpoint => ("ellipse", "endpoint"),
                Role::TrustedRelay => ("box", "trusted relay"),
                Role::UntrustedRelay => ("diamond", "untrusted relay"),
                Role::Repeater => ("hexagon", "repeater"),
            };
            let label = if down {
                format!("{name}\\n{role} — DOWN")
            } else {
                format!("{name}\\n{role}")
            };
            let mut attrs = format!(
                "shape={shape}, label=\"{}\", fillcolor=\"{}\"",
                escape(&label),
                if down {
                    "#bbbbbb"
                } else {
                    colours.get(d).copied().unwrap_or("#ffffff")
                }
            );
            if down {
                let _ = write!(attrs, ", color=\"{DOWN}\", penwidth=2");
            }
            if let Some((x, y)) = positions.get(name) {
                let _ = write!(attrs, ", pos=\"{x:.3},{y:.3}!\"");
            }
            let _ = writeln!(out, "{indent}{} [{attrs}];", quote(name));
        }
        if clustered {
            out.push_str("  }\n");
        }
    }

    // Links: quantum links darker and wider the more they are used, classical links dotted.
    let loads = configs.link_loads();
    let live_state = |link: &str| match live {
        Some(l) if l.down_links.contains(link) => Some("DOWN"),
        Some(l) if l.quarantined.contains(link) => Some("QUARANTINED"),
        _ => None,
    };
    let quantum = inventory
        .qkd_links
        .iter()
        .map(|l| (&l.name.value, &l.ends, "QKD", "solid", "bit/s"))
        .chain(
            inventory
                .entanglement_links
                .iter()
                .map(|l| (&l.name.value, &l.ends, "entanglement", "dashed", "pairs/s")),
        );
    for (name, ends, kind, style, unit) in quantum {
        let (used, rate) = loads.get(name.as_str()).copied().unwrap_or((0.0, 0.0));
        let share = if rate > 0.0 { used / rate } else { 0.0 };
        let mut label = format!("{name} ({kind})");
        if rate > 0.0 {
            let _ = write!(label, "\\n{:.0} % of {} {unit}", share * 100.0, human(rate));
        }
        let (colour, extra) = match live_state(name) {
            Some(state) => {
                let _ = write!(label, "\\n{state}");
                (DOWN, ", penwidth=3")
            }
            None => (utilisation_colour(share), ""),
        };
        let width = 1.0 + 4.0 * share.clamp(0.0, 1.0);
        let _ = writeln!(
            out,
            "  {} -- {} [label=\"{}\", style={style}, color=\"{colour}\", penwidth={width:.2}{extra}];",
            quote(&ends[0].value),
            quote(&ends[1].value),
            escape(&label)
        );
    }
    for c in &inventory.classical_links {
        let _ = writeln!(
            out,
            "  {} -- {} [style=dotted, color=\"#aaaaaa\", tooltip=\"{} (classical)\"];",
            quote(&c.ends[0].value),
            quote(&c.ends[1].value),
            escape(&c.name.value)
        );
    }

    // Each intent's paths, hop by hop, in its own colour, from master to slave.
    for (i, intent) in summary.intents.iter().enumerate() {
        let colour = PATH_COLOURS[i % PATH_COLOURS.len()];
        for p in &intent.paths {
            for hop in p.nodes.windows(2) {
                let _ = writeln!(
                    out,
                    "  {} -- {} [color=\"{colour}\", penwidth=2.5, dir=forward, arrowsize=0.7, tooltip=\"{} path {}\"];",
                    quote(&hop[0]),
                    quote(&hop[1]),
                    escape(&intent.name),
                    p.path
                );
            }
        }
    }

    // The legend: one line per intent in its colour, with what it was admitted.
    if !summary.intents.is_empty() {
        let mut rows = String::new();
        for (i, intent) in summary.intents.iter().enumerate() {
            let colour = PATH_COLOURS[i % PATH_COLOURS.len()];
            let _ = write!(
                rows,
                "<tr><td bgcolor=\"{colour}\">   </td><td align=\"left\">{} — {} of {}/s, {} path(s)</td></tr>",
                html(&intent.name),
                human(intent.admitted_rate),
                human(intent.requested_rate),
                intent.paths.len()
            );
        }
        // On a map, the legend stands to the right of it.
        let pinned = positions
            .values()
            .copied()
            .reduce(|(ax, ay), (bx, by)| (ax.max(bx), ay.max(by)))
            .map(|(x, y)| format!("pos=\"{:.3},{y:.3}!\", ", x + 3.5))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  legend [{pinned}shape=plain, style=\"\", label=<<table border=\"0\" cellborder=\"1\" cellspacing=\"0\" cellpadding=\"4\"><tr><td colspan=\"2\"><b>intents</b></td></tr>{rows}</table>>];"
        );
    }
    out.push_str("}\n");
    out
}

/// Inches on the map for every node with a location: longitude scaled by the cosine of the
/// mean latitude (equirectangular), the whole fitted to [`MAP_WIDTH_IN`].
fn positions(inventory: &Inventory) -> BTreeMap<&str, (f64, f64)> {
    let located: Vec<(&str, f64, f64)> = inventory
        .nodes
        .iter()
        .filter_map(|n| n.location.map(|l| (n.name.value.as_str(), l.lat, l.lon)))
        .collect();
    if located.is_empty() {
        return BTreeMap::new();
    }
    let mean_lat = located.iter().map(|(_, lat, _)| lat).sum::<f64>() / located.len() as f64;
    let k = mean_lat.to_radians().cos();
    let xs = located.iter().map(|(_, _, lon)| lon * k);
    let ys = located.iter().map(|(_, lat, _)| *lat);
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let span = (x1 - x0).max(y1 - y0);
    let scale = if span > 0.0 { MAP_WIDTH_IN / span } else { 1.0 };
    located
        .into_iter()
        .map(|(n, lat, lon)| (n, ((lon * k - x0) * scale, (lat - y0) * scale)))
        .collect()
}

/// Light grey when unused, darker the more of its rate is reserved, black when nearly full.
fn utilisation_colour(share: f64) -> &'static str {
    match share {
        s if s <= 0.0 => "#bbbbbb",
        s if s < 0.5 => "#888888",
        s if s < 0.8 => "#444444",
        _ => "#000000",
    }
}

/// A rate with an SI prefix: 1.5k, 132k, 2.1M.
fn human(v: f64) -> String {
    let (v, prefix) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let digits = if v >= 100.0 || v.fract() == 0.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$}{prefix}")
}

/// A DOT identifier in double quotes.
fn quote(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// Escapes `"` for a DOT quoted string (`\n` and other escapes written on purpose stay).
fn escape(s: &str) -> String {
    s.replace('"', "\\\"")
}

/// Escapes text inside a DOT HTML-like label.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(human(132000.0), "132k");
        assert_eq!(human(2500.0), "2.50k");
        assert_eq!(human(10.0), "10");
        assert_eq!(human(9.765625), "9.77");
        assert_eq!(human(2.1e6), "2.10M");
    }

    #[test]
    fn quotes_inside_names_are_escaped() {
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(html("<x&y>"), "&lt;x&amp;y&gt;");
    }
}
