//! Alarms, gathered and damped: a failure reported by every neighbour of a link or node is
//! collected into one batch and one log line before the loop reacts, and an element that
//! comes back must hold for the hold-off — longer while it keeps failing — before the
//! intents it displaced return to it.

use super::{Controller, Element};
use crate::monitor::Event;
use std::collections::BTreeSet;

/// How many hold-offs back failures count towards flap damping.
pub const FLAP_MEMORY: f64 = 20.0;
/// The hold-off grows at most this many times (doubling per recent failure).
pub const MAX_HOLD_OFF_FACTOR: f64 = 16.0;

impl Controller {
    /// Starts gathering alarms: wait for a sample from every node that is up (but `heard`).
    pub(super) fn gather(&mut self, heard: Option<&String>) {
        self.pending_since = Some(self.monitor.now());
        self.awaiting = self
            .agents
            .agents
            .keys()
            .filter(|n| Some(*n) != heard && !self.monitor.down_nodes.contains(*n))
            .cloned()
            .collect();
    }

    /// The batch of alarms gathered since the first: logged, with reversions scheduled or
    /// cancelled. A link that comes back while one of its nodes is still down waits for
    /// that node's own event.
    pub(super) fn take_batch(&mut self, now: f64) -> Vec<Event> {
        self.pending_since = None;
        let mut events = std::mem::take(&mut self.pending);
        // A link that comes back while one of its nodes is still down waits for that
        // node, so a restarted node is one event too.
        let (waiting, ready): (Vec<Event>, Vec<Event>) = events.drain(..).partition(|e| match e {
            Event::LinkUp(l) => self
                .link_ends(l)
                .iter()
                .any(|n| self.monitor.down_nodes.contains(n)),
            _ => false,
        });
        // A link that goes down with a node already known to be down was part of that
        // failure, and was handled with it.
        let nodes_now: BTreeSet<String> = ready
            .iter()
            .filter_map(|e| match e {
                Event::NodeDown(n) => Some(n.clone()),
                _ => None,
            })
            .collect();
        events = ready
            .into_iter()
            .filter(|e| match e {
                Event::LinkDown(l) => !self
                    .link_ends(l)
                    .iter()
                    .any(|n| self.monitor.down_nodes.contains(n) && !nodes_now.contains(n)),
                _ => true,
            })
            .collect();
        if !waiting.is_empty() {
            self.pending = waiting;
            self.gather(None);
        }
        self.log_events(&events);
        for e in &events {
            let (element, down) = match e {
                Event::LinkDown(l) | Event::Quarantined(l) => (Element::Link(l.clone()), true),
                Event::NodeDown(n) => (Element::Node(n.clone()), true),
                Event::LinkUp(l) | Event::Released(l) => (Element::Link(l.clone()), false),
                Event::NodeUp(n) => (Element::Node(n.clone()), false),
                Event::Shortfall(_) => continue,
            };
            if down {
                self.reversions.remove(&element);
                self.failures.entry(element).or_default().push(now);
            } else if !self.element_down(&element) {
                let wait = self.hold_off(&element, now);
                self.reversions.insert(element, now + wait);
            }
        }
        events
    }

    /// Have the alarms pending since `since` all come in? Once every node has reported again,
    /// or after [`LoopTiming::settle_s`] — longer, up to three times that, while a node that
    /// has not reported has links reported down by its neighbours: that may be the node
    /// itself failing, and its agent's silence is about to say so.
    pub(super) fn gathered(&self, since: f64, now: f64) -> bool {
        if self.awaiting.is_empty() {
            return true;
        }
        if now < since + self.timing.settle_s {
            return false;
        }
        let suspect = self.awaiting.iter().any(|n| {
            self.links_of(n)
                .iter()
                .any(|l| self.monitor.down_links.contains(l))
        });
        !suspect || now >= since + 3.0 * self.timing.settle_s
    }

    /// The hold-off for an element that came back: the base, doubled for every other time
    /// it failed recently.
    pub fn hold_off(&mut self, element: &Element, now: f64) -> f64 {
        let base = self.timing.hold_off_s;
        let memory = FLAP_MEMORY * base.max(self.timing.settle_s);
        let recent = self.failures.get_mut(element).map_or(0, |f| {
            f.retain(|&t| t >= now - memory);
            f.len()
        });
        base * 2f64
            .powi(recent.saturating_sub(1) as i32)
            .min(MAX_HOLD_OFF_FACTOR)
    }

    fn element_down(&self, e: &Element) -> bool {
        match e {
            Element::Link(l) => self.link_down(l),
            Element::Node(n) => self.monitor.down_nodes.contains(n),
        }
    }

    pub(super) fn link_down(&self, l: &str) -> bool {
        self.monitor.down_links.contains(l) || self.monitor.quarantined.contains(l)
    }

    /// The nodes at the ends of a quantum link.
    fn link_ends(&self, link: &str) -> Vec<String> {
        self.inventory
            .quantum_link_ends(link)
            .map_or_else(Vec::new, |ends| ends.map(str::to_string).to_vec())
    }

    /// The quantum links that end at `node`.
    pub(super) fn links_of(&self, node: &str) -> BTreeSet<String> {
        self.inventory
            .quantum_links_at(node)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// Logs a batch of alarms, one line per failure: a node's links are named on the
    /// node's line instead of on lines of their own.
    fn log_events(&mut self, events: &[Event]) {
        let mut seen = BTreeSet::new();
        let mut absorbed = BTreeSet::new();
        let mut lines = Vec::new();
        for e in events {
            let (links, word) = match e {
                Event::NodeDown(n) => (self.links_of(n), "down"),
                Event::NodeUp(n) => (self.links_of(n), "up again"),
                _ => continue,
            };
            let with: Vec<&String> = events
                .iter()
                .filter_map(|x| match (x, e) {
                    (Event::LinkDown(l), Event::NodeDown(_))
                    | (Event::LinkUp(l), Event::NodeUp(_))
                        if links.contains(l) =>
                    {
                        Some(l)
                    }
                    _ => None,
                })
                .collect();
            for l in &with {
                absorbed.insert(match e {
                    Event::NodeDown(_) => Event::LinkDown((*l).clone()),
                    _ => Event::LinkUp((*l).clone()),
                });
            }
            let subject = match e {
                Event::NodeDown(n) | Event::NodeUp(n) => n,
                _ => unreachable!("only node events reach here"),
            };
            lines.push((
                e.clone(),
                if with.is_empty() {
                    format!("node {subject} is {word}")
                } else {
                    let l: Vec<&str> = with.iter().map(|s| s.as_str()).collect();
                    format!("node {subject} is {word} (with link(s) {})", l.join(", "))
                },
            ));
        }
        for e in events {
            if !seen.insert(e.clone()) || absorbed.contains(e) {
                continue;
            }
            let line = match lines.iter().find(|(x, _)| x == e) {
                Some((_, l)) => l.clone(),
                None => e.to_string(),
            };
            self.note(line);
        }
    }
}
