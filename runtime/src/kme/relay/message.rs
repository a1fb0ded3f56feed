//! One hop of a key relay on the wire: sealing keys into a [`RelayRequest`] with the hop's
//! pad (one-time-pad encryption and an HMAC-SHA256 tag keyed with the pad's first 32 bytes)
//! and opening them again.
//!
//! The tag covers every field but itself, in the order of `proto/kme_relay.proto`, each
//! string and byte string as a 4-byte big-endian length and its bytes, each number big-endian
//! (`path`, `hop`, `key_size` 4 bytes; `pad_offset` 8 bytes; `valid_for_s` the 8 bytes of its
//! IEEE 754 binary64), each list as a 4-byte count and its items, after the 20-byte label
//! `strata kme relay v1\n`. The authentication key is fresh link key used once, so a tag
//! cannot be forged or replayed without that link's key; HMAC is computationally secure
//! (a Wegman–Carter polynomial MAC would be information-theoretically so).

use crate::pb::relay::{RelayRequest, RelayedKey};
use ring::hmac;

/// Bytes of a hop's pad that key its tag.
pub const AUTH_KEY_BYTES: usize = 32;

/// Most keys one relay request carries.
pub const MAX_KEYS: usize = 4096;

/// Largest key a relay carries, bits.
pub const MAX_KEY_BITS: u32 = 1 << 16;

/// A key in clear: its id and bytes.
pub type ClearKey = (String, Vec<u8>);

/// Why a relay request is refused before its keys are looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not a well-formed request (sizes that do not add up, too many keys).
    Malformed(String),
    /// The tag does not match: the request was altered, or sealed with other key.
    Forged,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed(m) => write!(f, "malformed relay request: {m}"),
            Refusal::Forged => write!(
                f,
                "the relay request's tag does not match: it was altered on the way or not sealed with this link's key"
            ),
        }
    }
}

/// Pad bytes a request with `keys` keys of `key_size` bits needs.
pub fn pad_len(keys: usize, key_size: u32) -> usize {
    AUTH_KEY_BYTES + keys * (key_size as usize / 8)
}

/// Checks the shape of `req` and returns the pad bytes it needs.
pub fn check_shape(req: &RelayRequest) -> Result<usize, Refusal> {
    let bad = |m: String| Err(Refusal::Malformed(m));
    if req.key_size == 0 || !req.key_size.is_multiple_of(8) || req.key_size > MAX_KEY_BITS {
        return bad(format!(
            "key_size {} is not a multiple of 8 in 8..={MAX_KEY_BITS}",
            req.key_size
        ));
    }
    if req.keys.is_empty() || req.keys.len() > MAX_KEYS {
        return bad(format!(
            "{} keys (1..={MAX_KEYS} per request)",
            req.keys.len()
        ));
    }
    let bytes = req.key_size as usize / 8;
    if let Some(k) = req.keys.iter().find(|k| k.ciphertext.len() != bytes) {
        return bad(format!(
            "key {} has {} bytes, key_size says {bytes}",
            k.key_id,
            k.ciphertext.len()
        ));
    }
    if req.tag.len() != 32 {
        return bad(format!("a tag of {} bytes (32 expected)", req.tag.len()));
    }
    Ok(pad_len(req.keys.len(), req.key_size))
}

/// The bytes the tag covers.
pub fn authenticated_bytes(req: &RelayRequest) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    }
    let mut out = Vec::with_capacity(256 + req.keys.len() * 64);
    out.extend_from_slice(b"strata kme relay v1\n");
    text(&mut out, req.service_unit.as_bytes());
    out.extend_from_slice(&req.path.to_be_bytes());
    text(&mut out, req.source_kme_id.as_bytes());
    text(&mut out, req.target_kme_id.as_bytes());
    text(&mut out, req.master_sae_id.as_bytes());
    out.extend_from_slice(&(req.slave_sae_id.len() as u32).to_be_bytes());
    for s in &req.slave_sae_id {
        text(&mut out, s.as_bytes());
    }
    out.extend_from_slice(&req.hop.to_be_bytes());
    text(&mut out, req.link.as_bytes());
    out.extend_from_slice(&req.pad_offset.to_be_bytes());
    out.extend_from_slice(&req.key_size.to_be_bytes());
    out.extend_from_slice(&(req.keys.len() as u32).to_be_bytes());
    for k in &req.keys {
        text(&mut out, k.key_id.as_bytes());
        text(&mut out, &k.ciphertext);
    }
    out.extend_from_slice(&req.valid_for_s.to_bits().to_be_bytes());
    out
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Encrypts `keys` (all `req.key_size` bits) into `req` with `pad` (of [`pad_len`] bytes)
/// and tags it. Every other field of `req` must be set already.
pub fn seal(req: &mut RelayRequest, keys: &[ClearKey], pad: &[u8]) {
    let bytes = req.key_size as usize / 8;
    debug_assert_eq!(pad.len(), pad_len(keys.len(), req.key_size));
    let (auth, pads) = pad.split_at(AUTH_KEY_BYTES.min(pad.len()));
    req.keys = keys
        .iter()
        .zip(pads.chunks(bytes.max(1)))
        .map(|((id, key), p)| RelayedKey {
            key_id: id.clone(),
            ciphertext: xor(key, p),
        })
        .collect();
    req.tag.clear();
    let key = hmac::Key::new(hmac::HMAC_SHA256, auth);
    req.tag = hmac::sign(&key, &authenticated_bytes(req))
        .as_ref()
        .to_vec();
}

/// Verifies `req`'s tag with `pad` and decrypts its keys. `pad` is what [`check_shape`]
/// asked for.
pub fn open(req: &RelayRequest, pad: &[u8]) -> Result<Vec<ClearKey>, Refusal> {
    let need = check_shape(req)?;
    if pad.len() != need {
        return Err(Refusal::Malformed(format!(
            "{} pad bytes for a request that needs {need}",
            pad.len()
        )));
    }
    let (auth, pads) = pad.split_at(AUTH_KEY_BYTES);
    let key = hmac::Key::new(hmac::HMAC_SHA256, auth);
    hmac::verify(&key, &authenticated_bytes(req), &req.tag).map_err(|_| Refusal::Forged)?;
    let bytes = req.key_size as usize / 8;
    Ok(req
        .keys
        .iter()
        .zip(pads.chunks(bytes))
        .map(|(k, p)| (k.key_id.clone(), xor(&k.ciphertext, p)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RelayRequest {
        RelayRequest {
            service_unit: "vpn-core".into(),
            path: 0,
            source_kme_id: "A".into(),
            target_kme_id: "C".into(),
            master_sae_id: "ccips".into(),
            slave_sae_id: vec!["ctl".into()],
            hop: 1,
            link: "ab".into(),
            pad_offset: 1000,
            key_size: 128,
            keys: vec![],
            valid_for_s: 0.0,
            tag: vec![],
        }
    }

    fn sealed() -> (RelayRequest, Vec<ClearKey>, Vec<u8>) {
        let keys = vec![
            ("k1".to_string(), vec![1u8; 16]),
            ("k2".into(), vec![2u8; 16]),
        ];
        let pad: Vec<u8> = (0..pad_len(2, 128)).map(|i| (i * 7 + 3) as u8).collect();
        let mut req = request();
        seal(&mut req, &keys, &pad);
        (req, keys, pad)
    }

    #[test]
    fn a_sealed_request_opens_to_its_keys_and_hides_them() {
        let (req, keys, pad) = sealed();
        assert_eq!(check_shape(&req), Ok(pad.len()));
        for (k, (_, clear)) in req.keys.iter().zip(&keys) {
            assert_ne!(&k.ciphertext, clear);
        }
        assert_eq!(open(&req, &pad).unwrap(), keys);
    }

    #[test]
    fn any_altered_field_or_other_pad_is_refused() {
        let (req, _, pad) = sealed();
        type Alteration = Box<dyn Fn(&mut RelayRequest)>;
        let alterations: Vec<Alteration> = vec![
            Box::new(|r| r.keys[1].ciphertext[3] ^= 1),
            Box::new(|r| r.keys[0].key_id = "k9".into()),
            Box::new(|r| r.slave_sae_id.push("eve".into())),
            Box::new(|r| r.master_sae_id = "eve".into()),
            Box::new(|r| r.service_unit = "other".into()),
            Box::new(|r| r.target_kme_id = "E".into()),
            Box::new(|r| r.path = 1),
            Box::new(|r| r.hop = 2),
            Box::new(|r| r.pad_offset += 1),
            Box::new(|r| r.valid_for_s = 5.0),
            Box::new(|r| r.tag[0] ^= 0x80),
            Box::new(|r| r.keys.swap(0, 1)),
        ];
        for (i, alter) in alterations.iter().enumerate() {
            let mut r = req.clone();
            alter(&mut r);
            assert_eq!(open(&r, &pad), Err(Refusal::Forged), "alteration {i}");
        }
        let mut other = pad.clone();
        other[0] ^= 1;
        assert_eq!(open(&req, &other), Err(Refusal::Forged));
    }

    #[test]
    fn malformed_requests_are_refused_before_any_pad_is_taken() {
        let (req, _, _) = sealed();
        let mut r = req.clone();
        r.keys[0].ciphertext.pop();
        assert!(matches!(check_shape(&r), Err(Refusal::Malformed(_))));
        let mut r = req.clone();
        r.key_size = 12;
        assert!(matches!(check_shape(&r), Err(Refusal::Malformed(_))));
        let mut r = req.clone();
        r.keys.clear();
        assert!(matches!(check_shape(&r), Err(Refusal::Malformed(_))));
        let mut r = req;
        r.tag.truncate(8);
        assert!(matches!(check_shape(&r), Err(Refusal::Malformed(_))));
    }
}
