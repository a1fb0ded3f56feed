//! The KME's HTTPS listener: TLS with a mandatory client certificate from the twin's CA
//! (a caller without one fails the handshake and gets nothing), HTTP/1.1 with keep-alive, and
//! every request handed to [`super::api::handle`] as the SAE named by the certificate's CN.
//! Handshakes, open connections (in all and per SAE) and idle time are bounded
//! ([`crate::conn_limits`]), so one SAE cannot starve the others.

use super::Kms;
use super::api::{self, MAX_BODY_BYTES, Reply};
use crate::conn_limits::{Bounded, Gate, Limits};
use crate::pki;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `node`'s KME on `listener` until `stop` turns true; open connections are cut then.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    kms: Arc<Kms>,
    node: String,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let gate = Gate::new(Limits {
        handshake_timeout: HANDSHAKE_TIMEOUT,
        ..Limits::default()
    });
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = stop.wait_for(|s| *s) => break,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                connections.spawn(connection(
                    acceptor.clone(),
                    gate.clone(),
                    tcp,
                    peer,
                    kms.clone(),
                    node.clone(),
                ));
            }
            // Out of descriptors or similar: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    connections.abort_all();
}

async fn connection(
    acceptor: TlsAcceptor,
    gate: Arc<Gate>,
    tcp: TcpStream,
    peer: SocketAddr,
    kms: Arc<Kms>,
    node: String,
) {
    let slot = match gate.handshake() {
        Ok(slot) => slot,
        Err(refusal) => {
            kms.log(&node, format!("connection from {peer} refused: {refusal}"));
            return;
        }
    };
    let tls = match gate.within_handshake(acceptor.accept(tcp)).await {
        Ok(tls) => tls,
        Err(e) => {
            kms.log(&node, format!("TLS handshake from {peer} refused: {e}"));
            return;
        }
    };
    drop(slot);
    let caller: Option<Arc<str>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| pki::common_name(c))
        .map(Arc::from);
    let client = caller
        .as_deref()
        .map_or_else(|| peer.ip().to_string(), str::to_string);
    let admission = match gate.admit(&client) {
        Ok(a) => a,
        Err(refusal) => {
            kms.log(&node, format!("connection from {peer} refused: {refusal}"));
            return;
        }
    };
    let tls = Bounded::new(tls, gate.limits.idle_timeout, admission);
    let service = service_fn(move |req: Request<Incoming>| {
        let (kms, node, caller) = (kms.clone(), node.clone(), caller.clone());
        async move { Ok::<_, Infallible>(respond(&kms, &node, caller.as_deref(), req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

async fn respond(
    kms: &Kms,
    node: &str,
    caller: Option<&str>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return json(Reply::error(
                400,
                format!("the request body cannot be read (at most {MAX_BODY_BYTES} bytes): {e}"),
                vec![],
            ));
        }
    };
    json(
        api::handle(
            kms,
            node,
            caller,
            api::Request {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query(),
                body: &body,
            },
        )
        .await,
    )
}

fn json(reply: Reply) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&reply.body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}
