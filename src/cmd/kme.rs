//! `strata kme`: the KME of one node as its own process. It serves ETSI GS QKD 014 to the
//! SAEs attached to the node and the key relay to its peer KMEs, both over mutual TLS, and
//! runs the node's key services and forwarding from a compile output directory.

use crate::Outcome;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use strata_runtime::kme::standalone::{self, Options, parse_link_secrets, parse_pairs};
use strata_runtime::pki;
use strata_runtime::world::KEY_POOL_SECONDS;

/// Run the key management entity (KME) of a single node.
#[derive(clap::Args)]
pub struct Args {
    /// The node this KME serves (as named in the inventory).
    #[arg(long, value_name = "NAME")]
    node: String,
    /// Compile output directory (`strata compile -o DIR`): the node's key services and
    /// forwarding table, and its peers' plans.
    #[arg(long, value_name = "DIR")]
    config: PathBuf,
    /// Address of the ETSI GS QKD 014 API for the node's SAEs (HTTPS).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7443")]
    listen: String,
    /// Address of the key relay for peer KMEs (gRPC).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7444")]
    relay_listen: String,
    /// A peer KME's relay address, `NODE=HOST:PORT` (repeatable; adds to --peers).
    #[arg(long = "peer", value_name = "NODE=HOST:PORT", value_parser = peer_value)]
    peer: Vec<(String, String)>,
    /// File of peer KMEs' relay addresses, one `NODE HOST:PORT` line each (`#` comments).
    #[arg(long, value_name = "FILE")]
    peers: Option<PathBuf>,
    /// File of QKD link secrets, one `LINK HEX` line each: 64 hex digits that both ends of
    /// the link hold, from which they draw identical link key (the QKD devices' stand-in).
    /// Keep it readable by the KMEs only.
    #[arg(long, value_name = "FILE")]
    link_secrets: PathBuf,
    /// CA certificate (PEM) that issued every KME's and SAE's certificate.
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// This KME's certificate (PEM): CN the node's name, subject OU `kme`, server and client
    /// authentication (`kme/NODE.pem` of a twin's certificate directory).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// This KME's private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// A link's key pool holds at most this many seconds of the link's secret key rate.
    #[arg(long, value_name = "SECONDS", default_value_t = KEY_POOL_SECONDS, value_parser = positive_seconds)]
    pool_seconds: f64,
}

fn peer_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((node, addr)) if !node.is_empty() && !addr.is_empty() => {
            Ok((node.to_string(), addr.to_string()))
        }
        _ => Err(format!("expected NODE=HOST:PORT, got `{s}`")),
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a number of seconds above 0, got `{s}`")),
    }
}

fn read(what: &str, p: &Path) -> anyhow::Result<String> {
    strata_runtime::input_file::read_to_string(p)
        .with_context(|| format!("cannot read the {what} `{}`", p.display()))
}

impl Args {
    fn options(&self) -> anyhow::Result<Options> {
        let files = super::verify::read_output_dir(&self.config)?;
        let (configs, _) = strata_compiler::verify::read_dir_documents(&files)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.config.display()))?;
        let link_secrets = parse_link_secrets(&read("link secrets", &self.link_secrets)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.link_secrets.display()))?;
        let mut peers = BTreeMap::new();
        if let Some(file) = &self.peers {
            for (node, addr) in parse_pairs(&read("peers file", file)?, "HOST:PORT")
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
            {
                peers.insert(node, addr);
            }
        }
        peers.extend(self.peer.iter().cloned());
        peers.remove(&self.node);
        let (ca_pem, cert_pem, key_pem) = (
            read("CA certificate", &self.ca)?,
            read("KME certificate", &self.cert)?,
            read("KME key", &self.key)?,
        );
        let (cn, ou) = pki::subject(&cert_pem).map_err(anyhow::Error::msg)?;
        if cn.as_deref() != Some(self.node.as_str()) || ou.as_deref() != Some(pki::KME_UNIT) {
            anyhow::bail!(
                "`{}` is not the certificate of node {}'s KME: its subject has CN {} and OU {}, and peer KMEs take relays only from CN `{}` with OU `{}`",
                self.cert.display(),
                self.node,
                cn.as_deref().unwrap_or("(none)"),
                ou.as_deref().unwrap_or("(none)"),
                self.node,
                pki::KME_UNIT
            );
        }
        Ok(Options {
            node: self.node.clone(),
            configs: configs.nodes,
            link_secrets,
            peers,
            ca_pem,
            cert_pem,
            key_pem,
            pool_seconds: self.pool_seconds,
            tick: Duration::from_millis(50),
        })
    }

    pub fn run(self) -> anyhow::Result<Outcome> {
        let options = self.options()?;
        tokio::runtime::Runtime::new()?.block_on(async move {
            let api = tokio::net::TcpListener::bind(&self.listen)
                .await
                .with_context(|| format!("cannot listen on `{}`", self.listen))?;
            let relay = tokio::net::TcpListener::bind(&self.relay_listen)
                .await
                .with_context(|| format!("cannot listen on `{}`", self.relay_listen))?;
            let (api_addr, relay_addr) = (api.local_addr()?, relay.local_addr()?);
            let peers = options.peers.len();
            let (stop, watcher) = tokio::sync::watch::channel(false);
            let running = standalone::start(options, api, relay, watcher)
                .await
                .map_err(anyhow::Error::msg)?;
            for n in &running.unreachable {
                eprintln!(
                    "warning: no relay address for the KME of neighbour {n} (--peer {n}=HOST:PORT): keys cannot be relayed over the link to it"
                );
            }
            let mut log = running.kms.follow_log();
            for l in running.kms.log_lines() {
                outln!("[t={:.1}s] KME {}: {}", l.time_s, l.node, l.message);
            }
            outln!(
                "KME of node `{}`: ETSI GS QKD 014 on https://{api_addr}, key relay on {relay_addr} (mutual TLS), {peers} peer KME(s); stop with Ctrl-C",
                self.node
            );
            loop {
                tokio::select! {
                    line = log.next() => match line {
                        Some(l) => outln!("[t={:.1}s] KME {}: {}", l.time_s, l.node, l.message),
                        None => break,
                    },
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
            let _ = stop.send(true);
            for t in running.tasks {
                t.abort();
            }
            Ok(Outcome::Ok)
        })
    }
}
