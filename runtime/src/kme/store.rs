//! What a KME keeps between calls: the relayed keys waiting at the slave end for `dec_keys`,
//! each until it is fetched once or its lifecycle's valid-until passes, and one token bucket
//! per application session that holds `enc_keys` to the intent's rate and burst.
//!
//! Times are the twin's simulated seconds ([`crate::world::World::now`]), the clock
//! that key generation runs on as well.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Most keys one service unit may have waiting at its slave KME; `enc_keys` is refused with a
/// 503 beyond it rather than letting an absent slave fill the memory.
pub const MAX_WAITING_KEYS_PER_UNIT: usize = 100_000;
/// How many expired key ids a store remembers, to tell "expired" from "unknown".
const EXPIRED_MEMORY: usize = 10_000;

/// A token bucket: `rate` tokens (keys) per second, at most `burst`; starts full.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    pub rate: f64,
    pub burst: f64,
    tokens: f64,
    last_s: f64,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64, now_s: f64) -> TokenBucket {
        let (rate, burst) = sane(rate, burst);
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last_s: now_s,
        }
    }

    /// New rate and depth (a re-plan); the tokens held are kept up to the new depth.
    pub fn reconfigure(&mut self, rate: f64, burst: f64, now_s: f64) {
        self.refill(now_s);
        let (rate, burst) = sane(rate, burst);
        self.rate = rate;
        self.burst = burst;
        self.tokens = self.tokens.min(burst);
    }

    fn refill(&mut self, now_s: f64) {
        if now_s > self.last_s {
            self.tokens = (self.tokens + self.rate * (now_s - self.last_s)).min(self.burst);
            self.last_s = now_s;
        }
    }

    /// Tokens available now.
    pub fn tokens(&mut self, now_s: f64) -> f64 {
        self.refill(now_s);
        self.tokens
    }

    /// Can `n` tokens be taken now? `Err(seconds)` until they can.
    pub fn check(&mut self, n: f64, now_s: f64) -> Result<(), f64> {
        self.refill(now_s);
        // A hair of tolerance so that float rounding never withholds a whole token.
        if self.tokens + 1e-9 >= n {
            Ok(())
        } else if self.rate > 0.0 {
            Err((n - self.tokens) / self.rate)
        } else {
            Err(f64::INFINITY)
        }
    }

    /// Takes `n` tokens after a successful [`TokenBucket::check`].
    pub fn take(&mut self, n: f64) {
        self.tokens = (self.tokens - n).max(0.0);
    }

    /// Gives back `n` tokens taken for keys that were never handed out (their relay failed).
    pub fn refund(&mut self, n: f64) {
        self.tokens = (self.tokens + n.max(0.0)).min(self.burst);
    }
}

fn sane(rate: f64, burst: f64) -> (f64, f64) {
    let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
    let burst = if burst.is_finite() {
        burst.max(1.0)
    } else {
        1.0
    };
    (rate, burst)
}

/// A key relayed to this (slave) KME and not yet fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredKey {
    pub key_id: String,
    pub service_unit: String,
    pub master_sae: String,
    /// The SAEs allowed to fetch it: the slave, and any additional slaves.
    pub slave_saes: Vec<String>,
    pub key: Vec<u8>,
    pub created_s: f64,
    /// Valid-until of the service unit's lifecycle, when it has one.
    pub valid_until_s: Option<f64>,
}

/// Why a key id cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    Unknown,
    Expired,
}

/// A valid-until as an ordered key: non-negative finite seconds order like their bits.
fn order(t: f64) -> u64 {
    if t.is_finite() {
        t.max(0.0).to_bits()
    } else {
        u64::MAX
    }
}

/// The keys waiting at one KME, by key id.
#[derive(Debug, Default)]
pub struct KeyStore {
    keys: BTreeMap<String, StoredKey>,
    /// Keys with a valid-until, soonest first.
    deadlines: BTreeSet<(u64, String)>,
    /// Waiting keys per service unit.
    per_unit: BTreeMap<String, usize>,
    expired: VecDeque<String>,
}

impl KeyStore {
    pub fn insert(&mut self, key: StoredKey) {
        *self.per_unit.entry(key.service_unit.clone()).or_default() += 1;
        if let Some(t) = key.valid_until_s {
            self.deadlines.insert((order(t), key.key_id.clone()));
        }
        if let Some(old) = self.keys.insert(key.key_id.clone(), key) {
            self.forget(&old);
        }
    }

    fn forget(&mut self, key: &StoredKey) {
        if let Some(n) = self.per_unit.get_mut(&key.service_unit) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_unit.remove(&key.service_unit);
            }
        }
        if let Some(t) = key.valid_until_s {
            self.deadlines.remove(&(order(t), key.key_id.clone()));
        }
    }

    /// Drops every key whose valid-until has passed; returns how many.
    pub fn expire(&mut self, now_s: f64) -> usize {
        let mut n = 0;
        while let Some((t, id)) = self.deadlines.first().cloned() {
            if t > order(now_s) {
                break;
            }
            self.deadlines.pop_first();
            if let Some(k) = self.keys.remove(&id) {
                self.forget(&k);
                n += 1;
            }
            self.expired.push_back(id);
            if self.expired.len() > EXPIRED_MEMORY {
                self.expired.pop_front();
            }
        }
        n
    }

    /// Adds `slaves` to the SAEs that may fetch key `key_id` (a key multicast reaching this
    /// KME over a second path); false when no such key is held.
    pub fn add_slaves(&mut self, key_id: &str, slaves: &[String]) -> bool {
        let Some(k) = self.keys.get_mut(key_id) else {
            return false;
        };
        for s in slaves {
            if !k.slave_saes.contains(s) {
                k.slave_saes.push(s.clone());
            }
        }
        true
    }

    pub fn get(&self, key_id: &str) -> Result<&StoredKey, Missing> {
        self.keys.get(key_id).ok_or_else(|| {
            if self.expired.iter().any(|k| k == key_id) {
                Missing::Expired
            } else {
                Missing::Unknown
            }
        })
    }

    /// Removes and returns a key: it is served once.
    pub fn remove(&mut self, key_id: &str) -> Option<StoredKey> {
        let k = self.keys.remove(key_id)?;
        self.forget(&k);
        Some(k)
    }

    /// Keys of `unit` waiting.
    pub fn waiting(&self, unit: &str) -> usize {
        self.per_unit.get(unit).copied().unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_requests_to_its_rate_after_the_burst() {
        let mut b = TokenBucket::new(10.0, 5.0, 0.0);
        let mut served = 0;
        // Ask every millisecond for 10 s.
        for ms in 0..10_000 {
            let now = f64::from(ms) / 1000.0;
            if b.check(1.0, now).is_ok() {
                b.take(1.0);
                served += 1;
            }
        }
        assert_eq!(served, 5 + 100 - 1, "burst, then 10/s");
        let wait = b.check(3.0, 10.0).unwrap_err();
        assert!(wait > 0.0 && wait <= 0.3 + 1e-9, "{wait}");
        b.reconfigure(1.0, 2.0, 20.0);
        assert_eq!(b.tokens(20.0), 2.0);
    }

    fn key(id: &str, until: Option<f64>) -> StoredKey {
        StoredKey {
            key_id: id.into(),
            service_unit: "u".into(),
            master_sae: "m".into(),
            slave_saes: vec!["s".into()],
            key: vec![1, 2],
            created_s: 0.0,
            valid_until_s: until,
        }
    }

    #[test]
    fn keys_are_served_once_and_expire() {
        let mut s = KeyStore::default();
        s.insert(key("a", Some(5.0)));
        s.insert(key("b", None));
        assert_eq!(s.waiting("u"), 2);
        assert_eq!(s.expire(4.9), 0);
        assert_eq!(s.expire(5.0), 1);
        assert_eq!(s.get("a"), Err(Missing::Expired));
        assert_eq!(s.get("zz"), Err(Missing::Unknown));
        assert!(s.remove("b").is_some());
        assert!(s.remove("b").is_none());
        assert_eq!(s.waiting("u"), 0);
        assert!(s.is_empty());
    }
}
