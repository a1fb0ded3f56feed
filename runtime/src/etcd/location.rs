//! Where an etcd state lives: `etcd://HOST:PORT[,HOST:PORT…]/PREFIX`, parsed and printed.

/// Where an etcd state lives: the members to ask and the key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdLocation {
    pub endpoints: Vec<String>,
    pub prefix: String,
}

impl EtcdLocation {
    /// Whether `spec` names an etcd state rather than a file.
    pub fn is_etcd(spec: &str) -> bool {
        spec.starts_with("etcd://")
    }

    /// Parses `etcd://HOST:PORT[,HOST:PORT…]/PREFIX`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let usage = "write it as etcd://HOST:PORT[,HOST:PORT…]/PREFIX, e.g. etcd://127.0.0.1:2379/strata/metro";
        let rest = spec
            .strip_prefix("etcd://")
            .ok_or_else(|| format!("`{spec}` is not an etcd state; {usage}"))?;
        let (hosts, prefix) = rest
            .split_once('/')
            .ok_or_else(|| format!("`{spec}` names no key prefix; {usage}"))?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Err(format!("`{spec}` names no key prefix; {usage}"));
        }
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            let ok = host
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !ok {
                return Err(format!(
                    "`{host}` in `{spec}` is not HOST:PORT (etcd's client port, usually 2379); {usage}"
                ));
            }
            endpoints.push(host.to_string());
        }
        Ok(EtcdLocation {
            endpoints,
            prefix: format!("/{}", prefix.trim_start_matches('/')),
        })
    }

    pub(crate) fn key(&self, name: &str) -> Vec<u8> {
        format!("{}/{name}", self.prefix).into_bytes()
    }
}

impl std::fmt::Display for EtcdLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "etcd://{}{}", self.endpoints.join(","), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_hosts_and_prefix_and_reject_what_is_not_one() {
        let l = EtcdLocation::parse("etcd://127.0.0.1:2379,h2:2380/strata/metro/").unwrap();
        assert_eq!(l.endpoints, vec!["127.0.0.1:2379", "h2:2380"]);
        assert_eq!(l.prefix, "/strata/metro");
        assert_eq!(l.to_string(), "etcd://127.0.0.1:2379,h2:2380/strata/metro");
        for bad in [
            "etcd://127.0.0.1:2379",
            "etcd://127.0.0.1:2379/",
            "etcd://127.0.0.1/x",
            "etcd://h:99999/x",
            "etcd://:2379/x",
        ] {
            assert!(EtcdLocation::parse(bad).is_err(), "{bad}");
        }
    }
}
