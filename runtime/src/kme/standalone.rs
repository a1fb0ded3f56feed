//! One KME as its own process (`strata kme`): the ETSI GS QKD 014 API for the SAEs attached
//! to its node and the key relay for its peer KMEs, each on its own mutual-TLS listener,
//! with the link pools of its node's QKD links only.
//!
//! It runs the plan of a compile output directory: every node's configuration is known (the
//! far SAE's name and a unit's whole path come from the peers' documents), but keys, pools,
//! token buckets and relays are this node's alone, and each hop forwards by its own node's
//! forwarding table. The link secrets file and the peers file are the two inputs a twin's
//! KMEs have for free: the key material both ends of each QKD link share, and where the
//! other KMEs listen.

use super::environment::Configured;
use super::pool::Pools;
use super::relay::net::Peers;
use super::{Kms, serve_relay, server};
use crate::pki;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use strata_compiler::config::NodeConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a standalone KME runs with.
pub struct Options {
    /// The node whose KME this is.
    pub node: String,
    /// Every node's committed configuration (a compile output directory).
    pub configs: BTreeMap<String, NodeConfig>,
    /// QKD link → the 256-bit secret both of its ends expand into its key.
    pub link_secrets: BTreeMap<String, [u8; 32]>,
    /// Node → `HOST:PORT` of its KME's relay listener.
    pub peers: BTreeMap<String, String>,
    /// PEM text: the CA that issued every KME's and SAE's certificate, this KME's certificate
    /// (subject OU [`pki::KME_UNIT`], CN the node) and its key.
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    /// A link pool holds at most this many seconds of the link's rate.
    pub pool_seconds: f64,
    /// How often the pools are fed.
    pub tick: Duration,
}

/// A running standalone KME.
pub struct Running {
    pub kms: Arc<Kms>,
    pub tasks: Vec<JoinHandle<()>>,
    /// Neighbours over a QKD link that no peer address names: keys cannot be relayed to them.
    pub unreachable: Vec<String>,
}

/// Parses a file of `NAME VALUE` lines (blank lines and `#` comments skipped; the value is
/// the last word, so a name may hold spaces).
pub fn parse_pairs(text: &str, what: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.rsplit_once(char::is_whitespace) else {
            return Err(format!(
                "line {}: expected `NAME {what}`, got `{line}`",
                i + 1
            ));
        };
        out.push((name.trim().to_string(), value.to_string()));
    }
    Ok(out)
}

/// Parses a link secrets file: `LINK HEX` lines, 64 hex digits each.
pub fn parse_link_secrets(text: &str) -> Result<BTreeMap<String, [u8; 32]>, String> {
    let mut out = BTreeMap::new();
    for (link, hex) in parse_pairs(text, "HEX")? {
        if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "the secret of QKD link `{link}` must be 64 hex digits (256 bits)"
            ));
        }
        let mut secret = [0u8; 32];
        for (i, b) in secret.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        if out.insert(link.clone(), secret).is_some() {
            return Err(format!("QKD link `{link}` is named twice"));
        }
    }
    Ok(out)
}

/// Starts the KME of `options.node`: the ETSI 014 server on `api`, the relay server on
/// `relay`, and the task that feeds its link pools, until `stop`.
pub async fn start(
    options: Options,
    api: TcpListener,
    relay: TcpListener,
    stop: watch::Receiver<bool>,
) -> Result<Running, String> {
    let node = options.node.clone();
    let own = options.configs.get(&node).ok_or_else(|| {
        format!(
            "the configuration names no node `{node}` (it has {})",
            options
                .configs
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let missing: Vec<&str> = own
        .forwarding
        .qkd_links
        .iter()
        .map(|l| l.qkdl_id.as_str())
        .filter(|l| !options.link_secrets.contains_key(*l))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the link secrets name no secret for QKD link(s) {} of node `{node}`",
            missing.join(", ")
        ));
    }
    let unreachable: Vec<String> = own
        .forwarding
        .qkd_links
        .iter()
        .map(|l| l.remote_qkdn_id.clone())
        .filter(|n| !options.peers.contains_key(n))
        .collect();
    let api_tls = pki::server_config(&options.ca_pem, &options.cert_pem, &options.key_pem)?;
    let relay_tls = pki::grpc_server_config(&options.ca_pem, &options.cert_pem, &options.key_pem)?;
    let env = Arc::new(Configured::new(own));
    let identities = BTreeMap::from([(
        node.clone(),
        (
            options.ca_pem.clone(),
            options.cert_pem.clone(),
            options.key_pem.clone(),
        ),
    )]);
    let kms = Arc::new(Kms::new(
        env,
        1.0,
        Pools::with_secrets(options.pool_seconds, options.link_secrets),
        Peers::new(options.peers, identities),
    ));
    for (n, cfg) in &options.configs {
        if n != &node {
            kms.know(n, cfg);
        }
    }
    kms.install(&node, own);
    let mut tasks = vec![
        tokio::spawn(server::serve(
            api,
            api_tls,
            kms.clone(),
            node.clone(),
            stop.clone(),
        )),
        tokio::spawn(serve_relay(
            relay,
            relay_tls,
            kms.clone(),
            node.clone(),
            stop.clone(),
        )),
    ];
    let feeder = kms.clone();
    let mut halt = stop;
    let tick = options.tick.max(Duration::from_millis(1));
    tasks.push(tokio::spawn(async move {
        let mut every = tokio::time::interval(tick);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => feeder.refresh(),
                _ = halt.wait_for(|s| *s) => return,
            }
        }
    }));
    Ok(Running {
        kms,
        tasks,
        unreachable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_link_secrets_parse_and_say_what_is_wrong() {
        let text =
            "# links\nq-a-b 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n\n";
        let s = parse_link_secrets(text).unwrap();
        assert_eq!(s["q-a-b"][0], 0x00);
        assert_eq!(s["q-a-b"][31], 0xff);
        assert!(
            parse_link_secrets("q 0011")
                .unwrap_err()
                .contains("64 hex digits")
        );
        assert!(parse_link_secrets("lonely").unwrap_err().contains("line 1"));
        let twice = format!("{}{}", text, text.lines().nth(1).unwrap());
        assert!(parse_link_secrets(&twice).unwrap_err().contains("twice"));
        assert_eq!(
            parse_pairs("Node A 127.0.0.1:7401\n", "ADDR").unwrap(),
            vec![("Node A".to_string(), "127.0.0.1:7401".to_string())]
        );
    }
}
