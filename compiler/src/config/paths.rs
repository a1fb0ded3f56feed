//! Paths rebuilt from the emitted forwarding tables: which nodes and links each path of a
//! service unit runs over, as the per-node entries chain it. The verifier rebuilds every path
//! this way, and so should anything else that reads committed tables (the twin's relay, the
//! KMEs), so all of them agree on what a table says.
//!
//! The rule: a path's entries are grouped by (service unit, path index) and node. A walk
//! begins at one node and follows `virt_next_hop` node by node; at every node it reads the
//! path's first entry there (well-formed tables hold one), whose `virt_prev_hop` must point
//! back over the link just taken. It ends at an entry without a next hop, at a node holding
//! no entry for the path, or at a node it already passed. What broke along the way is kept as
//! [`Defect`]s, so callers that only want whole paths drop those and the verifier reports
//! them.

use super::schema::{ForwardingConfig, ForwardingEntry, Hop};
use std::collections::{BTreeMap, BTreeSet};

/// The entries one path of a service unit has at each node, in table order.
pub type PathEntries<'c> = BTreeMap<&'c str, Vec<&'c ForwardingEntry>>;

/// Every path the forwarding tables of a set of nodes hold entries for, by service unit and
/// path index. Built by [`paths_from_forwarding`].
#[derive(Debug, Clone, Default)]
pub struct ForwardedPaths<'c> {
    /// Service unit → path index → entries by node.
    units: BTreeMap<&'c str, BTreeMap<usize, PathEntries<'c>>>,
}

/// One path followed along the forwarding tables from the node a walk began at.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain<'c> {
    /// The path's index among its unit's paths.
    pub index: usize,
    /// Nodes in the order the entries chain them; empty when the walk's first node holds no
    /// entry for the path.
    pub nodes: Vec<&'c str>,
    /// `links[i]` is the link `nodes[i]` forwards to `nodes[i + 1]` over (after a loop, the
    /// link back to the node already passed comes last).
    pub links: Vec<&'c str>,
    /// The entry read at each of `nodes`.
    pub entries: Vec<&'c ForwardingEntry>,
    /// What broke the chain, in the order the walk met it.
    pub defects: Vec<Defect<'c>>,
}

/// Where the entries of a path fail to chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Defect<'c> {
    /// The entry at the node the walk began at has a previous hop.
    StartsMidway { node: &'c str, prev: &'c Hop },
    /// `node` forwards over `next` to a node holding no entry for the path; the walk stops.
    Dangling { node: &'c str, next: &'c Hop },
    /// `node`'s entry does not point back over `link`, the link `from` forwards to it on;
    /// the walk goes on.
    PointsElsewhere {
        node: &'c str,
        prev: Option<&'c Hop>,
        from: &'c str,
        link: &'c str,
    },
    /// The path comes back to `node`, which it already passed; the walk stops.
    Loop { node: &'c str },
}

impl Chain<'_> {
    /// The entries chain over at least one link, and nothing broke the chain.
    pub fn is_whole(&self) -> bool {
        self.defects.is_empty() && !self.links.is_empty()
    }
}

/// Groups the forwarding entries of every node — `(node name, its forwarding document)`, in
/// any order — by service unit, path index and node, ready to follow with
/// [`ForwardedPaths::follow`] or [`ForwardedPaths::starting_at`].
pub fn paths_from_forwarding<'c>(
    tables: impl IntoIterator<Item = (&'c str, &'c ForwardingConfig)>,
) -> ForwardedPaths<'c> {
    let mut units: BTreeMap<&'c str, BTreeMap<usize, PathEntries<'c>>> = BTreeMap::new();
    for (node, forwarding) in tables {
        for e in &forwarding.forwarding_table {
            units
                .entry(e.service_unit.as_str())
                .or_default()
                .entry(e.path)
                .or_default()
                .entry(node)
                .or_default()
                .push(e);
        }
    }
    ForwardedPaths { units }
}

impl<'c> ForwardedPaths<'c> {
    /// Every path: service unit, path index and its entries by node, ordered by unit and
    /// index.
    pub fn iter(&self) -> impl Iterator<Item = (&'c str, usize, &PathEntries<'c>)> + '_ {
        self.units
            .iter()
            .flat_map(|(u, paths)| paths.iter().map(|(i, at)| (*u, *i, at)))
    }

    /// The entries of path `index` of `unit`, by node.
    pub fn entries(&self, unit: &str, index: usize) -> Option<&PathEntries<'c>> {
        self.units.get(unit)?.get(&index)
    }

    /// Follows path `index` of `unit` from `start` (see the module's rule). The chain has no
    /// nodes when `start` holds no entry for the path.
    pub fn follow(&self, unit: &str, index: usize, start: &str) -> Chain<'c> {
        match self.entries(unit, index) {
            Some(at) => follow(index, at, start),
            None => Chain::empty(index),
        }
    }

    /// The whole paths of `unit` that begin at `start` with an entry without a previous hop,
    /// by path index: what a relay from `start` can use. Callers check where they end.
    pub fn starting_at(&self, unit: &str, start: &str) -> Vec<Chain<'c>> {
        self.units
            .get(unit)
            .into_iter()
            .flatten()
            .filter(|(_, at)| {
                at.get(start)
                    .and_then(|es| es.first())
                    .is_some_and(|e| e.virt_prev_hop.is_none())
            })
            .map(|(index, at)| follow(*index, at, start))
            .filter(Chain::is_whole)
            .collect()
    }
}

impl Chain<'_> {
    fn empty(index: usize) -> Self {
        Chain {
            index,
            nodes: Vec::new(),
            links: Vec::new(),
            entries: Vec::new(),
            defects: Vec::new(),
        }
    }
}

fn follow<'c>(index: usize, at: &PathEntries<'c>, start: &str) -> Chain<'c> {
    let mut chain = Chain::empty(index);
    let first = |n: &str| at.get(n).and_then(|es| es.first().copied());
    let Some(mut cur) = at.get_key_value(start).map(|(n, _)| *n) else {
        return chain;
    };
    if let Some(prev) = first(cur).and_then(|e| e.virt_prev_hop.as_ref()) {
        chain.defects.push(Defect::StartsMidway { node: cur, prev });
    }
    let mut seen = BTreeSet::new();
    loop {
        chain.nodes.push(cur);
        seen.insert(cur);
        let Some(e) = first(cur) else { break };
        chain.entries.push(e);
        let Some(next) = &e.virt_next_hop else { break };
        let Some(ne) = first(&next.node) else {
            chain.defects.push(Defect::Dangling { node: cur, next });
            break;
        };
        let points_back = ne
            .virt_prev_hop
            .as_ref()
            .is_some_and(|h| h.node == cur && h.link == next.link);
        if !points_back {
            chain.defects.push(Defect::PointsElsewhere {
                node: &next.node,
                prev: ne.virt_prev_hop.as_ref(),
                from: cur,
                link: &next.link,
            });
        }
        chain.links.push(&next.link);
        if seen.contains(next.node.as_str()) {
            chain.defects.push(Defect::Loop { node: &next.node });
            break;
        }
        cur = &next.node;
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(node: &str, link: &str) -> Option<Hop> {
        Some(Hop {
            node: node.into(),
            link: link.into(),
        })
    }

    fn entry(path: usize, prev: Option<Hop>, next: Option<Hop>) -> ForwardingEntry {
        ForwardingEntry {
            service_unit: "u".into(),
            path,
            virt_prev_hop: prev,
            virt_next_hop: next,
            share: 1.0,
            rate: 1.0,
        }
    }

    fn table(entries: Vec<ForwardingEntry>) -> ForwardingConfig {
        ForwardingConfig {
            forwarding_table: entries,
            ..Default::default()
        }
    }

    /// Path 0 runs A–B–C; path 1 leaves A for B, but B's entry points back to C; path 2
    /// leaves A for D, which holds nothing; path 3 loops A–B–A.
    fn tables() -> Vec<(&'static str, ForwardingConfig)> {
        vec![
            (
                "A",
                table(vec![
                    entry(0, None, hop("B", "ab")),
                    entry(1, None, hop("B", "ab")),
                    entry(2, None, hop("D", "ad")),
                    entry(3, None, hop("B", "ab")),
                    entry(3, hop("B", "ab"), None),
                ]),
            ),
            (
                "B",
                table(vec![
                    entry(0, hop("A", "ab"), hop("C", "bc")),
                    entry(1, hop("C", "bc"), hop("C", "bc")),
                    entry(3, hop("A", "ab"), hop("A", "ab")),
                ]),
            ),
            (
                "C",
                table(vec![
                    entry(0, hop("B", "bc"), None),
                    entry(1, hop("B", "bc"), None),
                ]),
            ),
        ]
    }

    #[test]
    fn whole_paths_from_a_start() {
        let t = tables();
        let paths = paths_from_forwarding(t.iter().map(|(n, c)| (*n, c)));
        let whole = paths.starting_at("u", "A");
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].index, 0);
        assert_eq!(whole[0].nodes, ["A", "B", "C"]);
        assert_eq!(whole[0].links, ["ab", "bc"]);
        assert_eq!(whole[0].entries.len(), 3);
        assert!(paths.starting_at("u", "B").is_empty());
        assert!(paths.starting_at("v", "A").is_empty());
        assert_eq!(paths.iter().count(), 4);
    }

    #[test]
    fn defects_say_where_the_chain_breaks() {
        let t = tables();
        let paths = paths_from_forwarding(t.iter().map(|(n, c)| (*n, c)));
        let p1 = paths.follow("u", 1, "A");
        assert_eq!(p1.nodes, ["A", "B", "C"]);
        assert!(matches!(
            p1.defects.as_slice(),
            [
                Defect::PointsElsewhere {
                    node: "B",
                    from: "A",
                    link: "ab",
                    ..
                },
                ..
            ]
        ));
        let p2 = paths.follow("u", 2, "A");
        assert!(matches!(
            p2.defects.as_slice(),
            [Defect::Dangling { node: "A", .. }]
        ));
        let p3 = paths.follow("u", 3, "A");
        // Back at A the walk reads A's first entry for the path, which has no previous hop.
        assert!(matches!(
            p3.defects.as_slice(),
            [
                Defect::PointsElsewhere { node: "A", .. },
                Defect::Loop { node: "A" }
            ]
        ));
        assert_eq!(p3.links, ["ab", "ab"]);
        let mid = paths.follow("u", 0, "B");
        assert!(matches!(
            mid.defects.as_slice(),
            [Defect::StartsMidway { node: "B", .. }]
        ));
        assert!(paths.follow("u", 0, "D").nodes.is_empty());
        assert!(paths.follow("u", 9, "A").nodes.is_empty());
    }
}
