//! RFC 8141 syntax of the application URNs an inventory declares:
//! `urn:` NID `:` NSS, with no r-, q- or f-component — strata adds the q-component
//! (`?=nonce=…`) per service unit, so the inventory names the application only.

/// What is wrong with a URN, in the operator's terms, and the byte offset in the URN text
/// where it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UrnProblem {
    pub message: String,
    /// A few words to show under the offending character.
    pub label: &'static str,
    pub offset: usize,
}

impl UrnProblem {
    fn new(offset: usize, label: &'static str, message: impl Into<String>) -> Self {
        UrnProblem {
            message: message.into(),
            label,
            offset,
        }
    }
}

/// Checks `urn` against RFC 8141 (`assigned-name` only).
pub(super) fn check(urn: &str) -> Result<(), UrnProblem> {
    let prefix = urn.get(..4).filter(|p| p.eq_ignore_ascii_case("urn:"));
    if prefix.is_none() {
        return Err(UrnProblem::new(
            0,
            "expected `urn:` here",
            "it does not start with `urn:`",
        ));
    }
    let rest = &urn[4..];
    let Some(colon) = rest.find(':') else {
        return Err(UrnProblem::new(
            4,
            "no `:` after the namespace identifier",
            "there is no `:` between the namespace identifier and the namespace-specific string",
        ));
    };
    check_nid(&rest[..colon])?;
    let nss_start = 4 + colon + 1;
    let nss_text = &urn[nss_start..];
    let nss_end = nss_text.find(['?', '#']).unwrap_or(nss_text.len());
    check_nss(&nss_text[..nss_end], nss_start)?;
    let tail = &nss_text[nss_end..];
    let at = nss_start + nss_end;
    if tail.starts_with("?=") {
        Err(UrnProblem::new(
            at,
            "q-component not allowed in the inventory",
            "it carries a q-component (`?=…`); strata adds the q-component per service unit",
        ))
    } else if tail.starts_with("?+") {
        Err(UrnProblem::new(
            at,
            "r-component not allowed in the inventory",
            "it carries an r-component (`?+…`), which an inventory URN does not use",
        ))
    } else if tail.starts_with('#') {
        Err(UrnProblem::new(
            at,
            "f-component not allowed in the inventory",
            "it carries an f-component (`#…`), which an inventory URN does not use",
        ))
    } else if tail.starts_with('?') {
        Err(UrnProblem::new(
            at,
            "stray `?`",
            "`?` may only start a `?+` or `?=` component",
        ))
    } else {
        Ok(())
    }
}

/// NID: 2–32 letters, digits and hyphens, starting and ending with a letter or digit.
fn check_nid(nid: &str) -> Result<(), UrnProblem> {
    if let Some((i, c)) = nid
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(UrnProblem::new(
            4 + i,
            "not allowed in a namespace identifier",
            format!(
                "the namespace identifier `{nid}` contains `{}`; only letters, digits and `-` \
                 are allowed",
                c.escape_default()
            ),
        ));
    }
    if !(2..=32).contains(&nid.len()) {
        return Err(UrnProblem::new(
            4,
            "namespace identifier of the wrong length",
            format!(
                "the namespace identifier `{nid}` has {} characters; it needs 2 to 32",
                nid.len()
            ),
        ));
    }
    if nid.starts_with('-') || nid.ends_with('-') {
        return Err(UrnProblem::new(
            4,
            "`-` at the start or end",
            format!("the namespace identifier `{nid}` starts or ends with `-`"),
        ));
    }
    Ok(())
}

/// NSS: one or more `pchar`s or `/`, not starting with `/`; `%` starts a two-digit hex
/// escape.
fn check_nss(nss: &str, base: usize) -> Result<(), UrnProblem> {
    if nss.is_empty() {
        return Err(UrnProblem::new(
            base,
            "empty namespace-specific string",
            "the namespace-specific string after the second `:` is empty",
        ));
    }
    if nss.starts_with('/') {
        return Err(UrnProblem::new(
            base,
            "`/` at the start",
            "the namespace-specific string must not start with `/`",
        ));
    }
    let bytes = nss.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(UrnProblem::new(
                    base + i,
                    "incomplete percent-escape",
                    "`%` must be followed by two hexadecimal digits, e.g. `%20`",
                ));
            }
            i += 3;
            continue;
        }
        if !(b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)) {
            let shown = nss[i..]
                .chars()
                .next()
                .map_or_else(String::new, |c| c.escape_default().to_string());
            return Err(UrnProblem::new(
                base + i,
                "not allowed in a URN",
                format!("`{shown}` is not allowed in a URN; percent-encode it"),
            ));
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_the_draft_examples() {
        assert_eq!(check("urn:qkd:madqci:ccips"), Ok(()));
        assert_eq!(check("urn:qkd:quditto:emulator:ipsec:controller"), Ok(()));
        assert_eq!(check("URN:ietf:rfc:8141"), Ok(()));
        assert_eq!(check("urn:example:a%2Fb/c@d"), Ok(()));
    }

    #[test]
    fn rejects_bad_syntax_and_components() {
        for bad in [
            "",
            "urn",
            "qkd:madqci",
            "urn:qkd",
            "urn:q:x",
            "urn:-qkd:x",
            "urn:qkd-:x",
            "urn:q_d:x",
            "urn:abcdefghijklmnopqrstuvwxyz0123456:x",
            "urn:qkd:",
            "urn:qkd:/x",
            "urn:qkd:a b",
            "urn:qkd:a%2",
            "urn:qkd:ccips?=nonce=1",
            "urn:qkd:ccips?+r",
            "urn:qkd:ccips#f",
            "urn:qkd:é",
        ] {
            assert!(check(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn points_at_the_problem() {
        let p = check("urn:qkd:ccips?=nonce=1").err();
        assert_eq!(p.map(|p| p.offset), Some(13));
    }
}
