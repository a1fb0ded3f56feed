//! RFC 8141 URNs: parsing and character checks for the names service units are given.

/// The parts of an RFC 8141 URN.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct UrnParts<'a> {
    pub(super) nid: &'a str,
    pub(super) nss: &'a str,
    pub(super) r: Option<&'a str>,
    pub(super) q: Option<&'a str>,
    pub(super) f: Option<&'a str>,
}

/// Parses `urn:NID:NSS[?+r][?=q][#f]` after RFC 8141 §2.
pub(super) fn parse_urn(s: &str) -> Result<UrnParts<'_>, String> {
    if s.len() < 4 || !s[..4].eq_ignore_ascii_case("urn:") {
        return Err("it does not start with `urn:`".into());
    }
    let rest = &s[4..];
    let (nid, rest) = rest
        .split_once(':')
        .ok_or("no `:` after the namespace identifier")?;
    let nid_ok = (2..=32).contains(&nid.len())
        && nid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !nid.starts_with('-')
        && !nid.ends_with('-');
    if !nid_ok {
        return Err(format!(
            "namespace identifier `{nid}` is not 2–32 letters, digits and inner hyphens"
        ));
    }
    let (rest, f) = match rest.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let nss_end = rest.find('?').unwrap_or(rest.len());
    let (nss, mut tail) = rest.split_at(nss_end);
    if nss.is_empty() || nss.starts_with('/') || !chars_ok(nss, false) {
        return Err(format!(
            "namespace-specific string `{nss}` is empty or has characters RFC 8141 does not allow"
        ));
    }
    let mut r = None;
    if let Some(t) = tail.strip_prefix("?+") {
        let end = t.find("?=").unwrap_or(t.len());
        r = Some(&t[..end]);
        tail = &t[end..];
    }
    let mut q = None;
    if let Some(t) = tail.strip_prefix("?=") {
        q = Some(t);
        tail = "";
    }
    if !tail.is_empty() {
        return Err(format!(
            "`{tail}` is neither an r- (`?+`) nor a q-component (`?=`)"
        ));
    }
    for (what, part) in [("r-component", r), ("q-component", q), ("f-component", f)] {
        if let Some(p) = part
            && (p.is_empty() || !chars_ok(p, true))
        {
            return Err(format!(
                "{what} `{p}` is empty or has characters RFC 8141 does not allow"
            ));
        }
    }
    Ok(UrnParts { nid, nss, r, q, f })
}

/// Every character is a pchar, `/` or (when `question` is set) `?`; `%` starts two hex digits.
pub(super) fn chars_ok(s: &str, question: bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/".contains(&c)
            || (question && c == b'?');
        if c == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
            continue;
        }
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urn_syntax() {
        let p = parse_urn("urn:qkd:madqci:ccips?=nonce=177923").unwrap();
        assert_eq!(
            (p.nid, p.nss, p.q),
            ("qkd", "madqci:ccips", Some("nonce=177923"))
        );
        assert!(parse_urn("urn:qkd:lifecycle?=size=256&valid-until=1750708945").is_ok());
        assert!(parse_urn("URN:ex:a/b?+res?=q=1#frag").is_ok());
        assert!(parse_urn("urn:x:abc").is_err(), "one-letter NID");
        assert!(parse_urn("urn:-ab:abc").is_err());
        assert!(parse_urn("urn:ab:").is_err());
        assert!(parse_urn("urn:ab:a b").is_err());
        assert!(parse_urn("urn:ab:a%2").is_err());
        assert!(parse_urn("urn:ab:a%2f").is_ok());
        assert!(parse_urn("urn:ab:a?x").is_err());
        assert!(parse_urn("urn:ab:a?=").is_err());
        assert!(parse_urn("http://x").is_err());
    }
}
