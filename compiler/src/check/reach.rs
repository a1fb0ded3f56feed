//! Reachability in the inventory's quantum topology, used to reject intents that no path
//! could ever serve — either because no chain of links joins their endpoints, or because
//! the intent's constraints and policies remove every such chain. These are necessary
//! conditions only; the optimiser decides what is actually admitted.

use super::checked::{Endpoint, Service};
use super::clauses::{PathRule, RuleKind};
use super::codes;
use crate::topology::{LinkKind, Topology};
use std::collections::{BTreeMap, VecDeque};
use strata_grammar::{Diagnostic, Span};

/// Which nodes and links a search may use.
struct Filter<'a> {
    service: Service,
    rules: &'a [&'a PathRule],
    /// Ignore which roles may relay (to tell "disconnected" from "no relay").
    any_transit: bool,
}

/// Reachability questions over a [`Topology`].
pub struct Reach<'t> {
    pub topology: &'t Topology,
}

fn kind(service: Service) -> LinkKind {
    match service {
        Service::Keys { .. } => LinkKind::Qkd,
        Service::Pairs => LinkKind::Entanglement,
    }
}

impl Reach<'_> {
    /// May a path pass through node `i` (not as an endpoint)?
    fn transit_ok(&self, i: usize, f: &Filter) -> bool {
        let n = &self.topology.nodes[i];
        if !f.any_transit {
            let can_relay = match f.service {
                Service::Keys { .. } => n.relays_keys(),
                Service::Pairs => n.swaps(),
            };
            if !can_relay {
                return false;
            }
        }
        // Trusted relaying concerns keys only: swapping never reveals a pair to a repeater.
        let keys = matches!(f.service, Service::Keys { .. });
        f.rules.iter().all(|r| match &r.kind {
            RuleKind::TrustedOnly => !keys || n.trusted_relay(),
            _ => true,
        })
    }

    fn node_ok(&self, i: usize, f: &Filter) -> bool {
        let n = &self.topology.nodes[i];
        f.rules.iter().all(|r| match &r.kind {
            RuleKind::AvoidNode(x) => &n.name != x,
            RuleKind::AvoidDomain(d) => &n.domain != d,
            _ => true,
        })
    }

    fn link_ok(&self, link: &str, f: &Filter) -> bool {
        f.rules
            .iter()
            .all(|r| !matches!(&r.kind, RuleKind::AvoidLink(l) if l == link))
    }

    /// Fewest hops from `a` to `b` under the filter.
    fn hops(&self, a: usize, b: usize, f: &Filter) -> Option<u32> {
        let adj = self.topology.adjacency(kind(f.service));
        let mut dist = vec![u32::MAX; self.topology.nodes.len()];
        let mut queue = VecDeque::from([a]);
        dist[a] = 0;
        while let Some(u) = queue.pop_front() {
            if u == b {
                return Some(dist[u]);
            }
            if u != a && !self.transit_ok(u, f) {
                continue;
            }
            for &(v, link) in &adj[u] {
                let v = &v;
                if dist[*v] == u32::MAX
                    && self.node_ok(*v, f)
                    && self.link_ok(&self.topology.qlinks[link].name, f)
                {
                    dist[*v] = dist[u] + 1;
                    queue.push_back(*v);
                }
            }
        }
        None
    }

    /// Fewest hops of a walk a → via… → b (a lower bound on any real path), if any.
    fn walk_hops(&self, a: usize, b: usize, f: &Filter) -> Option<u32> {
        let vias: Vec<usize> = f
            .rules
            .iter()
            .filter_map(|r| match &r.kind {
                RuleKind::Via(v) => self.topology.index.get(v).copied(),
                _ => None,
            })
            .collect();
        let mut total = 0;
        let mut at = a;
        for v in vias.into_iter().chain([b]) {
            if v != b && !self.transit_ok(v, f) {
                return None;
            }
            total += self.hops(at, v, f)?;
            at = v;
        }
        Some(total)
    }

    /// Number of paths from a to b that share no link and no intermediate node (up to `want`).
    fn disjoint_paths(&self, a: usize, b: usize, f: &Filter, want: u32) -> u32 {
        // Node splitting: node i becomes in = 2i, out = 2i + 1 with capacity 1 (∞ at a, b).
        let n = self.topology.nodes.len() * 2;
        let mut cap: BTreeMap<(usize, usize), i32> = BTreeMap::new();
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut add = |cap: &mut BTreeMap<(usize, usize), i32>, u: usize, v: usize, c: i32| {
            *cap.entry((u, v)).or_insert(0) += c;
            cap.entry((v, u)).or_insert(0);
            adj[u].push(v);
            adj[v].push(u);
        };
        for i in 0..self.topology.nodes.len() {
            let through = if i == a || i == b {
                want as i32
            } else if self.node_ok(i, f) && self.transit_ok(i, f) {
                1
            } else {
                0
            };
            add(&mut cap, 2 * i, 2 * i + 1, through);
        }
        for (u, edges) in self.topology.adjacency(kind(f.service)).iter().enumerate() {
            for &(v, link) in edges {
                let v = &v;
                if self.link_ok(&self.topology.qlinks[link].name, f)
                    && self.node_ok(u, f)
                    && self.node_ok(*v, f)
                {
                    add(&mut cap, 2 * u + 1, 2 * v, 1);
                }
            }
        }
        let (src, dst) = (2 * a, 2 * b + 1);
        let mut flow = 0;
        while flow < want {
            let mut prev = vec![usize::MAX; n];
            prev[src] = src;
            let mut queue = VecDeque::from([src]);
            while let Some(u) = queue.pop_front() {
                for &v in &adj[u] {
                    if prev[v] == usize::MAX && cap.get(&(u, v)).copied().unwrap_or(0) > 0 {
                        prev[v] = u;
                        queue.push_back(v);
                    }
                }
            }
            if prev[dst] == usize::MAX {
                break;
            }
            let mut v = dst;
            while v != src {
                let u = prev[v];
                *cap.entry((u, v)).or_insert(0) -= 1;
                *cap.entry((v, u)).or_insert(0) += 1;
                v = u;
            }
            flow += 1;
        }
        flow
    }

    /// Does some allowed path exist for these rules? Returns why not, in words.
    fn blocked(&self, a: usize, b: usize, service: Service, rules: &[&PathRule]) -> Option<String> {
        let f = Filter {
            service,
            rules,
            any_transit: false,
        };
        let max_hops = rules
            .iter()
            .filter_map(|r| match r.kind {
                RuleKind::MaxHops(h) => Some(h),
                _ => None,
            })
            .min();
        let Some(hops) = self.walk_hops(a, b, &f) else {
            return Some("no allowed path remains".into());
        };
        if let Some(max) = max_hops
            && hops > max
        {
            return Some(format!(
                "the shortest allowed path has {hops} hops, more than the {max} allowed"
            ));
        }
        let want = rules
            .iter()
            .filter_map(|r| match r.kind {
                RuleKind::Disjoint(d) => Some(d),
                _ => None,
            })
            .max()
            .unwrap_or(1);
        if want > 1 {
            let got = self.disjoint_paths(a, b, &f, want);
            if got < want {
                return Some(format!(
                    "only {got} disjoint allowed path(s) exist, {want} are required"
                ));
            }
        }
        None
    }

    /// A diagnostic when no allowed path could ever serve the intent.
    pub fn explain_unreachable(
        &self,
        name: &str,
        service: Service,
        a: &Endpoint,
        b: &Endpoint,
        rules: &[PathRule],
        at: Span,
    ) -> Option<Diagnostic> {
        let (ia, ib) = (
            *self.topology.index.get(&a.node)?,
            *self.topology.index.get(&b.node)?,
        );
        let links = match service {
            Service::Keys { .. } => "QKD links",
            Service::Pairs => "entanglement links",
        };
        let bare = Filter {
            service,
            rules: &[],
            any_transit: false,
        };
        if self.hops(ia, ib, &bare).is_none() {
            let physical = Filter {
                service,
                rules: &[],
                any_transit: true,
            };
            let (message, help) = if self.hops(ia, ib, &physical).is_some() {
                let relays = match service {
                    Service::Keys { .. } => {
                        "every chain passes a node that cannot relay keys (only endpoint KMEs and trusted relays can)"
                    }
                    Service::Pairs => {
                        "every chain passes a node that cannot swap entanglement (only repeaters and endpoints with memories can)"
                    }
                };
                (
                    format!(
                        "intent `{name}` cannot be served: {links} join `{}` and `{}`, but {relays}",
                        a.node, b.node
                    ),
                    "change the intermediate node's role in the inventory, or add links that bypass it",
                )
            } else {
                (
                    format!(
                        "intent `{name}` cannot be served: no chain of {links} joins `{}` and `{}`",
                        a.node, b.node
                    ),
                    "pick endpoints in the same connected part of the network, or add the missing links to the inventory",
                )
            };
            return Some(
                Diagnostic::error(codes::NO_PATH, at, message)
                    .label("no path between its endpoints")
                    .related(a.span, "this end")
                    .related(b.span, "cannot reach this end")
                    .help(help),
            );
        }
        let all: Vec<&PathRule> = rules.iter().collect();
        let why = self.blocked(ia, ib, service, &all)?;
        // Blame the rules whose removal alone makes a path possible.
        let culprits: Vec<&PathRule> = rules
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let rest: Vec<&PathRule> = rules
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| j != i)
                    .map(|(_, r)| r)
                    .collect();
                self.blocked(ia, ib, service, &rest).is_none()
            })
            .map(|(_, r)| r)
            .collect();
        let shown: Vec<&PathRule> = if culprits.is_empty() { all } else { culprits };
        let names: Vec<String> = shown.iter().map(|r| r.describe()).collect();
        let mut d = Diagnostic::error(
            codes::NO_ALLOWED_PATH,
            at,
            format!(
                "intent `{name}` cannot be served between `{}` and `{}`: {why} under {}",
                a.node,
                b.node,
                names.join(" and ")
            ),
        )
        .label("every path is ruled out")
        .help(if shown.len() == 1 {
            format!(
                "relax {} for this intent, or add links that satisfy it",
                names[0]
            )
        } else {
            "relax one of these constraints, or add links that satisfy them".to_string()
        });
        for r in shown {
            d = d.related(r.span, "rules out paths");
        }
        Some(d)
    }
}
