//! The control channel's security: agents serve gRPC over mutual TLS, within the
//! [`Limits`] of [`crate::conn_limits`], and obey only the controller's certificate
//! ([`Access`]); the controller connects with the credentials an agents file names
//! ([`ControlTls`]).
//!
//! The peer's identity is the subject CN of its client certificate, verified against the CA
//! during the handshake; a plaintext agent (`strata agent --insecure-dev`) knows no identity
//! and serves anyone.

use super::service::AgentService;
use crate::conn_limits::{Bounded, Gate, Limits};
use crate::pb::agent_client::AgentClient;
use crate::pb::agent_server::AgentServer;
use crate::pki;
use rustls::ServerConfig;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tonic::service::Routes;
use tonic::transport::server::Connected;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Request, Status};

/// The controller's side of the channel: the CA that signed the agents' certificates, and
/// the controller's own certificate and key (PEM files).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ControlTls {
    /// Relative paths taken from the directory of the file that names them.
    pub fn relative_to(mut self, dir: &Path) -> ControlTls {
        for p in [&mut self.ca, &mut self.cert, &mut self.key] {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        self
    }

    fn client_config(&self) -> Result<ClientTlsConfig, String> {
        let read = |what: &str, p: &Path| {
            crate::input_file::read(p)
                .map_err(|e| format!("cannot read the {what} `{}`: {e}", p.display()))
        };
        let ca = read("CA certificate", &self.ca)?;
        let cert = read("controller certificate", &self.cert)?;
        let key = read("controller key", &self.key)?;
        Ok(ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .identity(Identity::from_pem(cert, key)))
    }
}

/// Connects to the agent at `addr` with a bounded wait: over mutual TLS with `tls`, in
/// plaintext without.
pub async fn connect(
    addr: &str,
    tls: Option<&ControlTls>,
    timeout: Duration,
) -> Result<AgentClient<Channel>, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| format!("bad agent address `{addr}`: {e}"))?
        .connect_timeout(timeout)
        .timeout(timeout);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls.client_config()?)
            .map_err(|e| format!("bad TLS settings for the agent at {addr}: {e}"))?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("cannot reach the agent at {addr}: {}", chain(&e)))?;
    Ok(AgentClient::new(channel))
}

/// An error with its causes, which is where a TLS failure says what went wrong.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Who an agent takes requests from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Only a caller whose verified client certificate has this subject CN.
    Controller(String),
    /// Anyone (a plaintext agent for development).
    Open,
}

impl Access {
    /// The controller of the twin's PKI.
    pub fn controller() -> Access {
        Access::Controller(pki::CONTROLLER.to_string())
    }

    /// Refuses a request that does not come from the controller.
    pub fn check<T>(&self, req: &Request<T>, what: &str) -> Result<(), Status> {
        let Access::Controller(controller) = self else {
            return Ok(());
        };
        match req
            .extensions()
            .get::<Peer>()
            .and_then(|p| p.identity.as_deref())
        {
            Some(cn) if cn == controller => Ok(()),
            Some(cn) => Err(Status::permission_denied(format!(
                "the certificate of `{cn}` may not {what}; only the controller's (`{controller}`) may"
            ))),
            None => Err(Status::unauthenticated(format!(
                "{what} takes the controller's client certificate"
            ))),
        }
    }
}

/// What a gRPC server of strata (an agent, a KME's relay) knows of a connection's peer.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The subject CN of its verified client certificate.
    pub identity: Option<Arc<str>>,
    /// The subject OU of that certificate ([`pki::KME_UNIT`] for a KME).
    pub unit: Option<Arc<str>>,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One accepted connection to an agent.
pub struct Connection {
    io: Bounded<Box<dyn Io>>,
    peer: Peer,
}

impl Connected for Connection {
    type ConnectInfo = Peer;
    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

async fn accept(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    gate: Arc<Gate>,
) -> Result<Connection, String> {
    let address = tcp
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let _ = tcp.set_nodelay(true);
    let (io, peer): (Box<dyn Io>, Peer) = match tls {
        None => (Box::new(tcp), Peer::default()),
        Some(acceptor) => {
            let _slot = gate.handshake().map_err(|r| r.to_string())?;
            let stream = gate.within_handshake(acceptor.accept(tcp)).await?;
            let cert = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .cloned();
            let identity = cert
                .as_ref()
                .and_then(|c| pki::common_name(c))
                .map(Arc::from);
            let unit = cert
                .as_ref()
                .and_then(|c| pki::organizational_unit(c))
                .map(Arc::from);
            (Box::new(stream), Peer { identity, unit })
        }
    };
    let client = peer.identity.as_deref().unwrap_or(&address).to_string();
    let admission = gate.admit(&client).map_err(|r| r.to_string())?;
    Ok(Connection {
        io: Bounded::new(io, gate.limits.idle_timeout, admission),
        peer,
    })
}

/// Serves `service` on `listener` until `shutdown` completes: over mutual TLS with `tls`
/// (a caller without a certificate from its CA fails the handshake), in plaintext without;
/// at most `limits` connections, each closed when idle.
pub async fn serve(
    listener: TcpListener,
    service: AgentServer<AgentService>,
    tls: Option<Arc<ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    serve_routes(listener, Routes::new(service), tls, limits, shutdown).await
}

/// [`serve`] for any gRPC services (a KME's relay service too): each request carries the
/// caller's [`Peer`] in its extensions.
pub async fn serve_routes(
    listener: TcpListener,
    routes: Routes,
    tls: Option<Arc<ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let gate = Gate::new(limits);
    let acceptor = tls.map(TlsAcceptor::from);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Connection, io::Error>>(16);
    let accepting = tokio::spawn(async move {
        loop {
            let tcp = match listener.accept().await {
                Ok((tcp, _)) => tcp,
                // Out of descriptors or similar: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let (acceptor, gate, tx) = (acceptor.clone(), gate.clone(), tx.clone());
            tokio::spawn(async move {
                if let Ok(connection) = accept(tcp, acceptor, gate).await {
                    let _ = tx.send(Ok(connection)).await;
                }
            });
        }
    });
    let served = tonic::transport::Server::builder()
        .add_routes(routes)
        .serve_with_incoming_shutdown(tokio_stream::wrappers::ReceiverStream::new(rx), shutdown)
        .await
        .map_err(|e| e.to_string());
    accepting.abort();
    served
}
