//! Link key pools: the secret key bits each QKD link has distilled and not yet used, held at
//! both of its ends.
//!
//! Every QKD link that the twin reports up produces key at its current secret key rate
//! (`skr` of [`crate::twin::world::World::sample`]: 0 while the link is cut, its classical
//! channel is cut, an end node is stopped or its QBER is over the threshold). The bytes come
//! from the operating system's CSPRNG and are appended to *both* ends' copies, so the two
//! KMEs of a link hold identical key material, as QKD post-processing leaves them. A pool is
//! bounded to `pool_seconds` of the highest rate the link was seen at; the oldest key is
//! discarded first. Key is always taken from both ends in step (the relay consumes a pad at
//! the sending and the receiving end of a hop together), so the copies never diverge.

use ring::rand::{SecureRandom, SystemRandom};
use std::collections::{BTreeMap, VecDeque};

/// One QKD link's pool, one copy per end.
#[derive(Debug)]
pub struct LinkPool {
    /// The two end nodes, in the order the twin reported them.
    pub ends: [String; 2],
    copies: [VecDeque<u8>; 2],
    /// Up as last observed.
    pub up: bool,
    /// Secret key rate as last observed, bit/s.
    pub skr: f64,
    /// Highest rate observed, bit/s: the pool holds at most `pool_seconds` of it.
    peak_skr: f64,
    /// Fraction of a byte produced but not yet stored.
    carry_bits: f64,
    /// Key bytes produced, used by relays, and dropped because the pool was full.
    pub generated_bytes: u64,
    pub consumed_bytes: u64,
    pub discarded_bytes: u64,
}

impl LinkPool {
    /// Bytes available at both ends.
    pub fn available(&self) -> usize {
        self.copies[0].len().min(self.copies[1].len())
    }

    /// Most bytes the pool holds.
    pub fn capacity(&self, pool_seconds: f64) -> usize {
        (self.peak_skr * pool_seconds / 8.0) as usize
    }

    fn end(&self, node: &str) -> Option<usize> {
        self.ends.iter().position(|e| e == node)
    }
}

/// Every QKD link's pool, keyed by link name.
pub struct Pools {
    links: BTreeMap<String, LinkPool>,
    pool_seconds: f64,
    rng: SystemRandom,
}

impl Pools {
    pub fn new(pool_seconds: f64) -> Pools {
        Pools {
            links: BTreeMap::new(),
            pool_seconds: if pool_seconds.is_finite() {
                pool_seconds.max(0.0)
            } else {
                0.0
            },
            rng: SystemRandom::new(),
        }
    }

    /// Records the state of QKD link `link` between `a` and `b` as the twin reports it now.
    pub fn observe(&mut self, link: &str, a: &str, b: &str, up: bool, skr: f64) {
        let skr = if skr.is_finite() { skr.max(0.0) } else { 0.0 };
        let pool = self
            .links
            .entry(link.to_string())
            .or_insert_with(|| LinkPool {
                ends: [a.to_string(), b.to_string()],
                copies: [VecDeque::new(), VecDeque::new()],
                up,
                skr,
                peak_skr: skr,
                carry_bits: 0.0,
                generated_bytes: 0,
                consumed_bytes: 0,
                discarded_bytes: 0,
            });
        pool.up = up;
        pool.skr = skr;
        pool.peak_skr = pool.peak_skr.max(skr);
    }

    /// Lets `dt_s` seconds of key generation happen at every link's observed rate.
    pub fn generate(&mut self, dt_s: f64) {
        if !(dt_s.is_finite() && dt_s > 0.0) {
            return;
        }
        let mut buf = Vec::new();
        for pool in self.links.values_mut() {
            if !pool.up || pool.skr <= 0.0 {
                continue;
            }
            let bits = pool.skr * dt_s + pool.carry_bits;
            let bytes = (bits / 8.0).floor();
            pool.carry_bits = bits - bytes * 8.0;
            let cap = pool.capacity(self.pool_seconds);
            let bytes = bytes as u64;
            // Bytes that would be pushed out again at once are never drawn.
            let kept = bytes.min(cap as u64) as usize;
            pool.generated_bytes += bytes;
            pool.discarded_bytes += bytes - kept as u64;
            if kept == 0 {
                continue;
            }
            buf.resize(kept, 0);
            if self.rng.fill(&mut buf).is_err() {
                // No entropy, no key: the link produced nothing this time.
                pool.generated_bytes -= bytes;
                pool.discarded_bytes -= bytes - kept as u64;
                continue;
            }
            for copy in &mut pool.copies {
                copy.extend(buf.iter().copied());
            }
            let over = pool.copies[0].len().saturating_sub(cap);
            if over > 0 {
                for copy in &mut pool.copies {
                    copy.drain(..over);
                }
                pool.discarded_bytes += over as u64;
            }
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

    /// Takes the oldest `n` bytes of `node`'s copy of `link`'s pool; `None` when the link does
    /// not end at the node or holds less. Callers take the same bytes at the other end in
    /// the same step (see [`crate::kme::relay`]).
    pub fn take(&mut self, link: &str, node: &str, n: usize) -> Option<Vec<u8>> {
        let pool = self.links.get_mut(link)?;
        let end = pool.end(node)?;
        let copy = &mut pool.copies[end];
        if copy.len() < n {
            return None;
        }
        if end == 0 {
            pool.consumed_bytes += n as u64;
        }
        Some(copy.drain(..n).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ends_get_the_same_random_bytes_at_the_link_rate() {
        let mut p = Pools::new(30.0);
        p.observe("l", "A", "B", true, 8000.0);
        p.generate(0.5);
        p.generate(0.5);
        let pool = p.get("l").unwrap();
        assert_eq!(pool.available(), 1000);
        assert_eq!(pool.generated_bytes, 1000);
        let a = p.take("l", "A", 600).unwrap();
        let b = p.take("l", "B", 600).unwrap();
        assert_eq!(a, b);
        assert!(a.iter().any(|&x| x != 0), "random, not zeros");
        assert!(p.take("l", "A", 401).is_none());
        assert!(p.take("l", "C", 1).is_none());
        // A fraction of a byte carries over.
        p.observe("l", "A", "B", true, 4.0);
        p.generate(1.0);
        p.generate(1.0);
        assert_eq!(p.get("l").unwrap().available(), 401);
    }

    #[test]
    fn down_links_make_nothing_and_pools_are_bounded() {
        let mut p = Pools::new(2.0);
        p.observe("l", "A", "B", false, 8000.0);
        p.generate(1.0);
        assert_eq!(p.get("l").unwrap().available(), 0);
        p.observe("l", "A", "B", true, 8000.0);
        p.generate(10.0);
        let pool = p.get("l").unwrap();
        assert_eq!(pool.available(), 2000);
        assert_eq!(pool.discarded_bytes, 8000);
        p.observe("l", "A", "B", true, 0.0);
        p.generate(1.0);
        assert_eq!(p.get("l").unwrap().available(), 2000);
    }
}
