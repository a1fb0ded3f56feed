//! `strata agent`: the node agent for one node, serving the gRPC protocol over mutual TLS on
//! an address and keeping its running generation in a state directory across restarts. Only
//! the controller's certificate may change or read its configuration. With
//! `--driver etsi015` it configures an SD-QKD node over RESTCONF.

use crate::Outcome;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use strata_runtime::agent::channel::{self, Access};
use strata_runtime::agent::driver::etsi015::Etsi015Driver;
use strata_runtime::agent::driver::restconf::{Restconf, TlsFiles};
use strata_runtime::agent::service::AgentService;
use strata_runtime::agent::{Backend, ConfigOnly};
use strata_runtime::conn_limits::Limits;
use strata_runtime::pki::{CONTROLLER, grpc_server_config};

/// Run the agent of a single node.
#[derive(clap::Args)]
pub struct Args {
    /// The node this agent serves (as named in the inventory).
    #[arg(long)]
    node: String,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7400")]
    listen: String,
    /// Directory for the running generation.
    #[arg(long, value_name = "DIR", default_value = ".strata/agent")]
    state_dir: PathBuf,
    /// What the agent configures: `config-only` keeps and reports the configuration;
    /// `etsi015` writes it to the SD-QKD node at --device as an ETSI GS QKD 015 document.
    #[arg(long, value_enum, default_value_t = Driver::ConfigOnly)]
    driver: Driver,
    /// The device's RESTCONF server, `https://HOST:PORT` or `http://HOST:PORT` (`--driver etsi015`).
    #[arg(long, value_name = "URL")]
    device: Option<String>,
    /// CA certificate (PEM) that issued the device's server certificate.
    #[arg(long, value_name = "FILE")]
    device_ca: Option<PathBuf>,
    /// Client certificate (PEM) the agent presents to the device.
    #[arg(long, value_name = "FILE")]
    device_cert: Option<PathBuf>,
    /// Private key (PEM) of --device-cert.
    #[arg(long, value_name = "FILE")]
    device_key: Option<PathBuf>,
    /// CA certificate (PEM) that signed the controller's client certificate.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// This agent's server certificate (PEM).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// This agent's private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Subject CN of the controller's client certificate: the only caller obeyed.
    #[arg(long, value_name = "NAME", default_value = CONTROLLER)]
    controller: String,
    /// Serve plaintext gRPC that anyone who can reach the address may use to read and
    /// change this node's configuration. For development on a trusted machine only.
    #[arg(long, conflicts_with_all = ["ca", "cert", "key"])]
    insecure_dev: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    ConfigOnly,
    Etsi015,
}

impl Args {
    fn backend(&self) -> anyhow::Result<Arc<dyn Backend>> {
        let tls = TlsFiles {
            ca: self.device_ca.clone(),
            cert: self.device_cert.clone(),
            key: self.device_key.clone(),
        };
        match (self.driver, &self.device) {
            (Driver::ConfigOnly, None) => {
                if tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() {
                    anyhow::bail!(
                        "--device-ca, --device-cert and --device-key need --driver etsi015 and --device"
                    );
                }
                Ok(Arc::new(ConfigOnly::new()))
            }
            (Driver::ConfigOnly, Some(_)) => {
                anyhow::bail!(
                    "--device needs --driver etsi015 (the config-only agent drives no device)"
                )
            }
            (Driver::Etsi015, None) => anyhow::bail!(
                "--driver etsi015 needs --device URL, the SD-QKD node's RESTCONF server"
            ),
            (Driver::Etsi015, Some(url)) => Ok(Arc::new(Etsi015Driver::new(
                Restconf::new(url, &tls).map_err(anyhow::Error::msg)?,
            ))),
        }
    }
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let backend = self.backend()?;
        tokio::runtime::Runtime::new()?.block_on(async move {
            std::fs::create_dir_all(&self.state_dir)
                .with_context(|| format!("cannot create `{}`", self.state_dir.display()))?;
            let path = self.state_dir.join(format!(
                "{}.json",
                strata_compiler::config::file_name(&self.node)
            ));
            let (tls, access) = match (&self.ca, &self.cert, &self.key) {
                (Some(ca), Some(cert), Some(key)) => {
                    let read = |p: &PathBuf| {
                        strata_runtime::input_file::read_to_string(p)
                            .with_context(|| format!("cannot read `{}`", p.display()))
                    };
                    let tls = grpc_server_config(&read(ca)?, &read(cert)?, &read(key)?)
                        .map_err(anyhow::Error::msg)?;
                    (Some(tls), Access::Controller(self.controller.clone()))
                }
                _ if !self.insecure_dev => anyhow::bail!(
                    "`strata agent` serves only over mutual TLS: give it --ca (the CA that signed the controller's certificate), --cert and --key (this agent's server certificate and key); for a throwaway development agent that anyone on the network may reconfigure, use --insecure-dev"
                ),
                _ => {
                    eprintln!(
                        "WARNING: --insecure-dev: this agent serves plaintext gRPC without authentication; anyone who can reach {} can read and change the configuration of node `{}`",
                        self.listen, self.node
                    );
                    (None, Access::Open)
                }
            };
            let service = AgentService::new(self.node.clone(), backend)
                .access(access)
                .persisted(path)
                .map_err(anyhow::Error::msg)?;
            let listener = tokio::net::TcpListener::bind(&self.listen)
                .await
                .with_context(|| format!("cannot listen on `{}`", self.listen))?;
            outln!(
                "agent for node `{}` listening on {} ({}){}",
                self.node,
                self.listen,
                if tls.is_some() {
                    "mutual TLS"
                } else {
                    "plaintext, insecure"
                },
                self.device.as_ref().map_or(String::new(), |url| format!(
                    ", configuring the SD-QKD node at {url}"
                ))
            );
            channel::serve(
                listener,
                service.into_server(),
                tls,
                Limits::default(),
                async {
                    let _ = tokio::signal::ctrl_c().await;
                },
            )
            .await
            .map_err(anyhow::Error::msg)?;
            Ok(Outcome::Ok)
        })
    }
}
