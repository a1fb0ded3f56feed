//! Link key pools: the secret key each QKD link has distilled and not yet used, as each of its
//! two ends holds it.
//!
//! **Budget.** Every QKD link that is up produces key at its current secret key rate (in the
//! twin, `skr` of [`crate::world::World::sample`]: 0 while the link is cut, its
//! classical channel is cut, an end node is stopped or its QBER is over the threshold; in a
//! standalone `strata kme`, the rate its node configuration gives the link). Each end counts
//! the bytes it holds: generation adds to both, a hop of a key relay takes the pad from the
//! sending end when it sends and from the receiving end when it receives. A pool holds at
//! most `pool_seconds` of the highest rate the link was seen at; the excess is discarded.
//!
//! **Key material.** The key bytes of a link are two streams, one per direction (the key the
//! end `A` sends to `B` with, and the key `B` sends to `A` with), so that the two ends never
//! pick the same bytes when they relay towards each other at once. Each stream is addressed
//! by a byte offset and is HMAC-SHA256 in counter mode under the link's 256-bit secret:
//! block `i` is `HMAC(secret, "strata qkd link" ‖ from ‖ 0 ‖ to ‖ 0 ‖ i)`. This is the
//! stand-in for the QKD devices, which hand identical key to both ends of a link: the twin
//! draws each link's secret from the OS CSPRNG, a standalone KME reads it from its link
//! secrets file, written once for both ends. A sender takes its stream in order from an
//! offset that starts at the wall-clock time in nanoseconds, so a restarted KME never reuses
//! the pad bytes it used before; a receiver takes the bytes at the offset the sender names
//! and remembers which ranges it has used, so no pad byte is ever accepted twice.

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::BTreeMap;

/// Ranges of a receiving stream remembered as used; beyond this the oldest are forgotten and
/// everything below them refused.
const USED_RANGES: usize = 4096;

/// One direction's pad bytes already taken by the receiving end.
#[derive(Debug, Default)]
struct Used {
    /// Offsets below this are refused.
    floor: u64,
    /// Start → end of used ranges above the floor, merged when they touch.
    ranges: BTreeMap<u64, u64>,
}

impl Used {
    /// Is no byte of `[start, end)` used (nor below the floor)?
    fn free(&self, start: u64, end: u64) -> bool {
        if start < self.floor || end < start {
            return false;
        }
        !matches!(self.ranges.range(..end).next_back(), Some((_, &e)) if e > start)
    }

    /// Marks `[start, end)` used; false when any byte of it was used (or is below the floor).
    fn claim(&mut self, start: u64, end: u64) -> bool {
        if !self.free(start, end) {
            return false;
        }
        let (mut start, mut end) = (start, end);
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back()
            && e == start
        {
            self.ranges.remove(&s);
            start = s;
        }
        if let Some(e) = self.ranges.remove(&end) {
            end = e;
        }
        self.ranges.insert(start, end);
        while self.ranges.len() > USED_RANGES {
            if let Some((_, e)) = self.ranges.pop_first() {
                self.floor = e;
            }
        }
        true
    }
}

/// One QKD link's pool.
#[derive(Debug)]
pub struct LinkPool {
    /// The two end nodes, in the order the link was first reported.
    pub ends: [String; 2],
    secret: hmac::Key,
    /// Bytes each end holds.
    held: [f64; 2],
    /// Up as last observed.
    pub up: bool,
    /// Secret key rate as last observed, bit/s.
    pub skr: f64,
    /// Highest rate observed, bit/s: the pool holds at most `pool_seconds` of it.
    peak_skr: f64,
    /// Next offset of the stream each end sends with.
    next_send: [u64; 2],
    /// Pad bytes of the stream each end sends with that the other end has taken.
    received: [Used; 2],
    /// Bytes produced, with their fraction.
    made: f64,
    /// Key bytes produced, used by relays, and dropped because the pool was full.
    pub generated_bytes: u64,
    pub consumed_bytes: u64,
    pub discarded_bytes: u64,
}

impl LinkPool {
    /// Bytes available at both ends.
    pub fn available(&self) -> usize {
        self.held[0].min(self.held[1]).max(0.0) as usize
    }

    /// Bytes available at `node`'s end.
    pub fn available_at(&self, node: &str) -> usize {
        self.end(node).map_or(0, |e| self.held[e].max(0.0) as usize)
    }

    /// Most bytes the pool holds.
    pub fn capacity(&self, pool_seconds: f64) -> usize {
        (self.peak_skr * pool_seconds / 8.0) as usize
    }

    fn end(&self, node: &str) -> Option<usize> {
        self.ends.iter().position(|e| e == node)
    }

    /// `n` bytes of the stream that `ends[from]` sends with, from `offset`.
    fn stream(&self, from: usize, offset: u64, n: usize) -> Vec<u8> {
        const BLOCK: u64 = 32;
        let mut out = Vec::with_capacity(n);
        let mut block = offset / BLOCK;
        let mut skip = (offset % BLOCK) as usize;
        while out.len() < n {
            let mut ctx = hmac::Context::with_key(&self.secret);
            ctx.update(b"strata qkd link");
            ctx.update(self.ends[from].as_bytes());
            ctx.update(&[0]);
            ctx.update(self.ends[1 - from].as_bytes());
            ctx.update(&[0]);
            ctx.update(&block.to_be_bytes());
            let tag = ctx.sign();
            let bytes = &tag.as_ref()[skip..];
            let want = (n - out.len()).min(bytes.len());
            out.extend_from_slice(&bytes[..want]);
            skip = 0;
            block += 1;
        }
        out
    }
}

/// Why pad bytes cannot be had.
#[derive(Debug, Clone, PartialEq)]
pub enum PadError {
    /// The link is not a QKD link of this KME, or it is down.
    LinkDown(String),
    /// The pool holds fewer bytes than needed.
    Short {
        link: String,
        available_bits: u64,
        needed_bits: u64,
    },
    /// The receiver has used (or forgotten) some of the named bytes: a replay, or a sender
    /// that reused its pad.
    Reused { link: String, offset: u64 },
}

impl std::fmt::Display for PadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PadError::LinkDown(l) => write!(f, "QKD link {l} is down"),
            PadError::Short {
                link,
                available_bits,
                needed_bits,
            } => write!(
                f,
                "the key pool of QKD link {link} holds {available_bits} bits, {needed_bits} are needed"
            ),
            PadError::Reused { link, offset } => write!(
                f,
                "the key of QKD link {link} at offset {offset} was already used"
            ),
        }
    }
}

/// Pad bytes a sender took: where they sit in its stream, and the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pad {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// Every QKD link's pool, keyed by link name.
pub struct Pools {
    links: BTreeMap<String, LinkPool>,
    /// Secrets of links not yet observed (a standalone KME's link secrets file).
    secrets: BTreeMap<String, [u8; 32]>,
    pool_seconds: f64,
    /// Every QKD link of the network is here (the twin), not only one KME's.
    complete: bool,
    rng: SystemRandom,
}

impl Pools {
    pub fn new(pool_seconds: f64) -> Pools {
        Pools {
            links: BTreeMap::new(),
            secrets: BTreeMap::new(),
            pool_seconds: if pool_seconds.is_finite() {
                pool_seconds.max(0.0)
            } else {
                0.0
            },
            complete: true,
            rng: SystemRandom::new(),
        }
    }

    /// The pools of one KME's links, whose key streams come from `secrets` (link → 256-bit
    /// secret) instead of a fresh random secret each.
    pub fn with_secrets(pool_seconds: f64, secrets: BTreeMap<String, [u8; 32]>) -> Pools {
        Pools {
            secrets,
            complete: false,
            ..Pools::new(pool_seconds)
        }
    }

    /// True when these pools hold every QKD link of the network (the twin's), so a link
    /// that is missing is one that does not exist or was never seen up.
    pub fn holds_every_link(&self) -> bool {
        self.complete
    }

    /// Records the state of QKD link `link` between `a` and `b` as observed now.
    pub fn observe(&mut self, link: &str, a: &str, b: &str, up: bool, skr: f64) {
        let skr = if skr.is_finite() { skr.max(0.0) } else { 0.0 };
        if !self.links.contains_key(link) {
            let secret = match self.secrets.get(link) {
                Some(s) => *s,
                None => {
                    let mut s = [0u8; 32];
                    // Without entropy the link has no secret, and so no key: keep it down.
                    if self.rng.fill(&mut s).is_err() {
                        return;
                    }
                    s
                }
            };
            let start = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            self.links.insert(
                link.to_string(),
                LinkPool {
                    ends: [a.to_string(), b.to_string()],
                    secret: hmac::Key::new(hmac::HMAC_SHA256, &secret),
                    held: [0.0; 2],
                    up,
                    skr,
                    peak_skr: skr,
                    next_send: [start; 2],
                    made: 0.0,
                    received: Default::default(),
                    generated_bytes: 0,
                    consumed_bytes: 0,
                    discarded_bytes: 0,
                },
            );
        }
        let Some(pool) = self.links.get_mut(link) else {
            return;
        };
        pool.up = up;
        pool.skr = skr;
        pool.peak_skr = pool.peak_skr.max(skr);
    }

    /// Lets `dt_s` seconds of key generation happen at every link's observed rate.
    pub fn generate(&mut self, dt_s: f64) {
        if !(dt_s.is_finite() && dt_s > 0.0) {
            return;
        }
        for pool in self.links.values_mut() {
            if !pool.up || pool.skr <= 0.0 {
                continue;
            }
            let bytes = pool.skr * dt_s / 8.0;
            let cap = pool.capacity(self.pool_seconds) as f64;
            let before = pool.available();
            for held in &mut pool.held {
                *held = (*held + bytes).min(cap.max(*held));
            }
            let gained = pool.available().saturating_sub(before) as u64;
            pool.made += bytes;
            let whole = pool.made.floor() as u64;
            let made = whole.saturating_sub(pool.generated_bytes);
            pool.generated_bytes = whole;
            pool.discarded_bytes += made.saturating_sub(gained);
        }
    }

    pub fn get(&self, link: &str) -> Option<&LinkPool> {
        self.links.get(link)
    }

    pub fn links(&self) -> impl Iterator<Item = (&String, &LinkPool)> {
        self.links.iter()
    }

    pub fn pool_seconds(&self) -> f64 {
        self.pool_seconds
    }

    /// Can `node` send `n` bytes over `link` now?
    pub fn check_send(&self, link: &str, node: &str, n: usize) -> Result<(), PadError> {
        let pool = self
            .links
            .get(link)
            .filter(|p| p.up)
            .ok_or_else(|| PadError::LinkDown(link.to_string()))?;
        let end = pool
            .end(node)
            .ok_or_else(|| PadError::LinkDown(link.to_string()))?;
        let have = pool.held[end].max(0.0) as usize;
        if have < n {
            return Err(PadError::Short {
                link: link.to_string(),
                available_bits: have as u64 * 8,
                needed_bits: n as u64 * 8,
            });
        }
        Ok(())
    }

    /// Takes the next `n` bytes of the stream `node` sends with over `link`.
    pub fn send_pad(&mut self, link: &str, node: &str, n: usize) -> Result<Pad, PadError> {
        self.check_send(link, node, n)?;
        let pool = self
            .links
            .get_mut(link)
            .ok_or_else(|| PadError::LinkDown(link.to_string()))?;
        let end = pool
            .end(node)
            .ok_or_else(|| PadError::LinkDown(link.to_string()))?;
        let offset = pool.next_send[end];
        pool.next_send[end] = offset.saturating_add(n as u64);
        pool.held[end] -= n as f64;
        pool.consumed_bytes += n as u64;
        let bytes = pool.stream(end, offset, n);
        Ok(Pad { offset, bytes })
    }

    /// Takes the `n` bytes at `offset` of the stream the other end of `link` sends to `node`
    /// with. Bytes already taken are refused. A receiving end that holds fewer bytes than
    /// the sender took (its count lags a little) goes to zero rather than refusing.
    pub fn receive_pad(
        &mut self,
        link: &str,
        node: &str,
        offset: u64,
        n: usize,
    ) -> Result<Vec<u8>, PadError> {
        self.receive_pad_if(link, node, offset, n, |_| true)
            .map(|(pad, _)| pad)
    }

    /// [`Pools::receive_pad`], but the bytes are taken only when `accept` (say, a tag that
    /// checks out under them) takes them: a request that fails it uses up no pad. Returns
    /// the pad and whether it was taken.
    pub fn receive_pad_if(
        &mut self,
        link: &str,
        node: &str,
        offset: u64,
        n: usize,
        accept: impl FnOnce(&[u8]) -> bool,
    ) -> Result<(Vec<u8>, bool), PadError> {
        let pool = self
            .links
            .get_mut(link)
            .ok_or_else(|| PadError::LinkDown(link.to_string()))?;
        let end = pool
            .end(node)
            .ok_or_else(|| PadError::LinkDown(link.to_string()))?;
        let from = 1 - end;
        let reused = || PadError::Reused {
            link: link.to_string(),
            offset,
        };
        let stop = offset.checked_add(n as u64).ok_or_else(reused)?;
        if !pool.received[from].free(offset, stop) {
            return Err(reused());
        }
        let pad = pool.stream(from, offset, n);
        if !accept(&pad) {
            return Ok((pad, false));
        }
        pool.received[from].claim(offset, stop);
        pool.held[end] = (pool.held[end] - n as f64).max(0.0);
        Ok((pad, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_get_the_same_pad_at_the_link_rate() {
        let mut p = Pools::new(30.0);
        p.observe("l", "A", "B", true, 8000.0);
        p.generate(0.5);
        p.generate(0.5);
        let pool = p.get("l").unwrap();
        assert_eq!(pool.available(), 1000);
        assert_eq!(pool.generated_bytes, 1000);
        let sent = p.send_pad("l", "A", 600).unwrap();
        assert_eq!(p.get("l").unwrap().available_at("A"), 400);
        let got = p.receive_pad("l", "B", sent.offset, 600).unwrap();
        assert_eq!(got, sent.bytes);
        assert!(
            sent.bytes.iter().any(|&x| x != 0),
            "pseudorandom, not zeros"
        );
        assert_eq!(p.get("l").unwrap().available(), 400);
        // The same bytes are never taken twice, nor any of them.
        assert!(matches!(
            p.receive_pad("l", "B", sent.offset + 10, 4),
            Err(PadError::Reused { .. })
        ));
        assert_eq!(
            p.check_send("l", "A", 401),
            Err(PadError::Short {
                link: "l".into(),
                available_bits: 3200,
                needed_bits: 3208
            })
        );
        assert!(p.send_pad("l", "C", 1).is_err());
        // The other direction is another stream.
        let back = p.send_pad("l", "B", 32).unwrap();
        let next = p.send_pad("l", "A", 32).unwrap();
        assert_ne!(back.bytes, next.bytes);
        assert_eq!(
            next.offset,
            sent.offset + 600,
            "a sender's offsets follow on"
        );
        // Out of order arrival is fine.
        assert_eq!(
            p.receive_pad("l", "A", back.offset, 32).unwrap(),
            back.bytes
        );
    }

    #[test]
    fn two_kmes_with_one_secret_agree_and_a_wrong_secret_does_not() {
        let secret = BTreeMap::from([("l".to_string(), [7u8; 32])]);
        let mut a = Pools::with_secrets(30.0, secret.clone());
        let mut b = Pools::with_secrets(30.0, secret);
        let mut c = Pools::with_secrets(30.0, BTreeMap::from([("l".to_string(), [8u8; 32])]));
        for p in [&mut a, &mut b, &mut c] {
            p.observe("l", "A", "B", true, 8000.0);
            p.generate(1.0);
        }
        let pad = a.send_pad("l", "A", 48).unwrap();
        assert_eq!(b.receive_pad("l", "B", pad.offset, 48).unwrap(), pad.bytes);
        assert_ne!(c.receive_pad("l", "B", pad.offset, 48).unwrap(), pad.bytes);
        // An unaligned piece is the same bytes.
        let tail = a.get("l").unwrap().stream(0, pad.offset + 5, 40);
        assert_eq!(tail, pad.bytes[5..45]);
    }

    #[test]
    fn down_links_make_nothing_and_pools_are_bounded() {
        let mut p = Pools::new(2.0);
        p.observe("l", "A", "B", false, 8000.0);
        p.generate(1.0);
        assert_eq!(p.get("l").unwrap().available(), 0);
        assert_eq!(p.send_pad("l", "A", 1), Err(PadError::LinkDown("l".into())));
        p.observe("l", "A", "B", true, 8000.0);
        p.generate(10.0);
        let pool = p.get("l").unwrap();
        assert_eq!(pool.available(), 2000);
        assert_eq!(pool.discarded_bytes, 8000);
        p.observe("l", "A", "B", true, 0.0);
        p.generate(1.0);
        assert_eq!(p.get("l").unwrap().available(), 2000);
    }

    #[test]
    fn a_pad_refused_by_its_check_stays_unused() {
        let mut p = Pools::new(30.0);
        p.observe("l", "A", "B", true, 8000.0);
        p.generate(1.0);
        let sent = p.send_pad("l", "A", 64).unwrap();
        let (pad, taken) = p
            .receive_pad_if("l", "B", sent.offset, 64, |_| false)
            .unwrap();
        assert!(!taken);
        assert_eq!(pad, sent.bytes);
        assert_eq!(p.get("l").unwrap().available_at("B"), 1000);
        let (_, taken) = p
            .receive_pad_if("l", "B", sent.offset, 64, |_| true)
            .unwrap();
        assert!(taken);
        assert_eq!(p.get("l").unwrap().available_at("B"), 936);
        assert!(p.receive_pad("l", "B", sent.offset, 64).is_err());
    }

    #[test]
    fn used_ranges_merge_and_refuse_overlaps() {
        let mut u = Used::default();
        assert!(u.claim(10, 20));
        assert!(u.claim(20, 30));
        assert!(u.claim(0, 10));
        assert_eq!(u.ranges.len(), 1);
        assert!(!u.claim(29, 31));
        assert!(!u.claim(5, 6));
        assert!(u.claim(40, 50));
        assert!(!u.claim(35, 45));
        assert!(u.claim(30, 40));
        assert_eq!(u.ranges, BTreeMap::from([(0, 50)]));
    }
}
