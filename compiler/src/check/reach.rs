//! Reachability in the inventory's quantum topology, used to reject intents that no path
//! could ever serve — either because no chain of links joins their endpoints, or because
//! the intent's constraints and policies remove every such chain. These are necessary
//! conditions only; the optimiser decides what is actually admitted.

use super::checked::{Endpoint, Service};
use super::codes;
use super::rules::{PathRule, RuleKind};
use crate::topology::{LinkKind, Topology};
use std::collections::VecDeque;
use strata_grammar::{Diagnostic, Span};

/// Which nodes and links a search may use.
struct Filter<'a> {
    service: Service,
    rules: &'a [&'a PathRule],
    /// Ignore which roles may relay (to tell "disconnected" from "no relay").
    any_transit: bool,
    /// Keys: use only QKD links with 1 − QBER at least this (a `fidelity` bound).
    min_link_fidelity: Option<f64>,
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

    fn link_ok(&self, link: usize, f: &Filter) -> bool {
        let l = &self.topology.qlinks[link];
        f.min_link_fidelity.is_none_or(|min| l.fidelity >= min)
            && f.rules
                .iter()
                .all(|r| !matches!(&r.kind, RuleKind::AvoidLink(n) if *n == l.name))
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
                if dist[*v] == u32::MAX && self.node_ok(*v, f) && self.link_ok(link, f) {
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
        // Node splitting: node i becomes in = 2i, out = 2i + 1 with capacity 1 (`want` at a
        // and b). Arcs live in pairs: arc 2k is forward, 2k + 1 its residual reverse.
        let n = self.topology.nodes.len() * 2;
        let mut head: Vec<usize> = Vec::new();
        let mut cap: Vec<i32> = Vec::new();
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut add = |u: usize, v: usize, c: i32| {
            if c <= 0 {
                return;
            }
            out[u].push(head.len());
            head.push(v);
            cap.push(c);
            out[v].push(head.len());
            head.push(u);
            cap.push(0);
        };
        let node_ok: Vec<bool> = (0..self.topology.nodes.len())
            .map(|i| self.node_ok(i, f))
            .collect();
        for (i, &ok) in node_ok.iter().enumerate() {
            let through = if i == a || i == b {
                want as i32
            } else if ok && self.transit_ok(i, f) {
                1
            } else {
                0
            };
            add(2 * i, 2 * i + 1, through);
        }
        for (u, edges) in self.topology.adjacency(kind(f.service)).iter().enumerate() {
            if !node_ok[u] {
                continue;
            }
            for &(v, link) in edges {
                if node_ok[v] && self.link_ok(link, f) {
                    add(2 * u + 1, 2 * v, 1);
                }
            }
        }
        let (src, dst) = (2 * a, 2 * b + 1);
        let mut flow = 0;
        let mut prev = vec![usize::MAX; n];
        let mut queue = VecDeque::new();
        while flow < want {
            prev.fill(usize::MAX);
            prev[src] = usize::MAX - 1;
            queue.clear();
            queue.push_back(src);
            while let Some(u) = queue.pop_front() {
                if u == dst {
                    break;
                }
                for &arc in &out[u] {
                    let v = head[arc];
                    if prev[v] == usize::MAX && cap[arc] > 0 {
                        prev[v] = arc;
                        queue.push_back(v);
                    }
                }
            }
            if prev[dst] == usize::MAX {
                break;
            }
            let mut v = dst;
            while v != src {
                let arc = prev[v];
                cap[arc] -= 1;
                cap[arc ^ 1] += 1;
                v = head[arc ^ 1];
            }
            flow += 1;
        }
        flow
    }

    /// Does some allowed path exist for these rules? Returns why not, in words.
    fn blocked(&self, a: usize, b: usize, service: Service, rules: &[&PathRule]) -> Option<String> {
        self.blocked_with(a, b, service, rules, None)
    }

    fn blocked_with(
        &self,
        a: usize,
        b: usize,
        service: Service,
        rules: &[&PathRule],
        min_link_fidelity: Option<f64>,
    ) -> Option<String> {
        let f = Filter {
            service,
            rules,
            any_transit: false,
            min_link_fidelity,
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
        let all: Vec<&PathRule> = rules.iter().collect();
        // A path under every rule is also a path under none, so the bare search is needed
        // only when the rules block the intent.
        let why = self.blocked(ia, ib, service, &all)?;
        let bare = Filter {
            service,
            rules: &[],
            any_transit: false,
            min_link_fidelity: None,
        };
        if self.hops(ia, ib, &bare).is_none() {
            let physical = Filter {
                service,
                rules: &[],
                any_transit: true,
                min_link_fidelity: None,
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

    /// For keys a `fidelity >= F` admits only QKD links whose QBER is at most 1 − F. A
    /// diagnostic when allowed paths exist but none is made of such links, with the best
    /// bound some allowed path does meet.
    pub fn explain_key_fidelity(
        &self,
        name: &str,
        (a, b): (&Endpoint, &Endpoint),
        rules: &[PathRule],
        (min, bound_span): (f64, Span),
        at: Span,
    ) -> Option<Diagnostic> {
        let (ia, ib) = (
            *self.topology.index.get(&a.node)?,
            *self.topology.index.get(&b.node)?,
        );
        let service = Service::Keys { size_bits: 0 };
        let rules: Vec<&PathRule> = rules.iter().collect();
        self.blocked_with(ia, ib, service, &rules, Some(min))?;
        // The best bound: the highest link fidelity at which an allowed path still exists
        // (admitting more links only helps, so a binary search over the links' values).
        let mut levels: Vec<f64> = self
            .topology
            .qlinks
            .iter()
            .filter(|l| l.kind == LinkKind::Qkd && l.fidelity < min)
            .map(|l| l.fidelity)
            .collect();
        levels.sort_by(|x, y| y.total_cmp(x));
        levels.dedup();
        let (mut lo, mut hi) = (0, levels.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self
                .blocked_with(ia, ib, service, &rules, Some(levels[mid]))
                .is_none()
            {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let best = levels.get(lo).copied();
        let mut d = Diagnostic::error(
            codes::NO_ALLOWED_PATH,
            at,
            format!(
                "intent `{name}` cannot be served between `{}` and `{}`: for keys `fidelity >= {}` admits only QKD links with a QBER of at most {} %, and no allowed path is made of such links",
                a.node,
                b.node,
                round(min, 4),
                round((1.0 - min) * 100.0, 2)
            ),
        )
        .label("every path crosses a link with a higher QBER")
        .related(bound_span, "admits QBER up to 1 − F");
        d = match best {
            Some(best) => d.help(format!(
                "the best allowed path has a worst-link QBER of {} %, so `fidelity >= {}` is the most it can meet; lower the bound, or lower the QBER of the links on that path",
                round((1.0 - best) * 100.0, 2),
                floor(best, 4)
            )),
            None => d.help("lower the bound, or lower the QBER of the links between the endpoints"),
        };
        Some(d)
    }
}

/// `v` rounded to `digits` decimals, without trailing zeros.
fn round(v: f64, digits: i32) -> String {
    trim(format!("{v:.*}", digits as usize))
}

/// `v` rounded down to `digits` decimals (a bound that the value still meets).
fn floor(v: f64, digits: i32) -> String {
    let scale = 10f64.powi(digits);
    trim(format!(
        "{:.*}",
        digits as usize,
        (v * scale + 1e-9).floor() / scale
    ))
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
