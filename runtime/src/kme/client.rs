//! A small ETSI GS QKD 014 client for SAEs written in Rust: mutual TLS with the SAE's client
//! certificate, one HTTP/1.1 keep-alive connection, and the key container decoded.
//!
//! ```no_run
//! # async fn demo(dir: &strata_runtime::kme::KmeDirectory) -> Result<(), String> {
//! use strata_runtime::kme::client::KmeClient;
//! let mut ccips = KmeClient::for_sae(dir, "ccips").await?;
//! let keys = ccips.enc_keys("ipsec-controller", 1, 256).await?;
//! let mut ctl = KmeClient::for_sae(dir, "ipsec-controller").await?;
//! let same = ctl.dec_keys("ccips", &[keys[0].key_id.clone()]).await?;
//! assert_eq!(same[0].key, keys[0].key);
//! # Ok(()) }
//! ```

use super::KmeDirectory;
use super::api::Reply;
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// One key as an SAE receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub key_id: String,
    pub key: Vec<u8>,
}

/// A connection to one KME.
pub struct KmeClient {
    sender: SendRequest<Full<Bytes>>,
    authority: String,
    connection: JoinHandle<()>,
}

impl Drop for KmeClient {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

impl KmeClient {
    /// Connects to the KME at `addr` (`127.0.0.1:PORT`) with `tls`.
    pub async fn connect(addr: &str, tls: Arc<ClientConfig>) -> Result<KmeClient, String> {
        let sock: SocketAddr = addr
            .parse()
            .map_err(|e| format!("bad KME address `{addr}`: {e}"))?;
        let tcp = TcpStream::connect(sock)
            .await
            .map_err(|e| format!("cannot reach the KME at {addr}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let stream = TlsConnector::from(tls)
            .connect(ServerName::IpAddress(sock.ip().into()), tcp)
            .await
            .map_err(|e| format!("TLS with the KME at {addr} failed: {e}"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP with the KME at {addr} failed: {e}"))?;
        let connection = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(KmeClient {
            sender,
            authority: addr.to_string(),
            connection,
        })
    }

    /// Connects SAE `sae` to the KME it is attached to, with its files from `dir`.
    pub async fn for_sae(dir: &KmeDirectory, sae: &str) -> Result<KmeClient, String> {
        let creds = dir
            .saes
            .get(sae)
            .ok_or_else(|| format!("no credentials for SAE `{sae}`"))?;
        Self::for_sae_at(dir, sae, &creds.kme).await
    }

    /// Connects SAE `sae` to `node`'s KME.
    pub async fn for_sae_at(
        dir: &KmeDirectory,
        sae: &str,
        node: &str,
    ) -> Result<KmeClient, String> {
        let creds = dir
            .saes
            .get(sae)
            .ok_or_else(|| format!("no credentials for SAE `{sae}`"))?;
        let addr = dir
            .kmes
            .get(node)
            .ok_or_else(|| format!("no KME at node `{node}`"))?;
        let read = |p: &std::path::Path| {
            crate::input_file::read_to_string(p)
                .map_err(|e| format!("cannot read `{}`: {e}", p.display()))
        };
        let tls =
            crate::pki::client_config(&read(&dir.ca)?, &read(&creds.cert)?, &read(&creds.key)?)?;
        Self::connect(addr, tls).await
    }

    /// Sends one request; `Err` only when no HTTP answer came back.
    pub async fn request(
        &mut self,
        method: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(hyper::header::HOST, &self.authority);
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| format!("bad request: {e}"))?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("the connection to the KME is gone: {e}"))?;
        let response = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("no answer from the KME: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("cannot read the KME's answer: {e}"))?
            .to_bytes();
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| format!("the KME's answer is not JSON: {e}"))?
        };
        Ok(Reply { status, body })
    }

    pub async fn get(&mut self, path_and_query: &str) -> Result<Reply, String> {
        self.request("GET", path_and_query, None).await
    }

    pub async fn post(&mut self, path: &str, body: &Value) -> Result<Reply, String> {
        self.request("POST", path, Some(body)).await
    }

    /// `GET …/{slave}/status`.
    pub async fn status(&mut self, slave: &str) -> Result<Reply, String> {
        self.get(&format!("/api/v1/keys/{}/status", encode(slave)))
            .await
    }

    /// `POST …/{slave}/enc_keys` for `number` keys of `size` bits.
    pub async fn enc_keys(
        &mut self,
        slave: &str,
        number: u64,
        size: u64,
    ) -> Result<Vec<Key>, String> {
        let r = self
            .post(
                &format!("/api/v1/keys/{}/enc_keys", encode(slave)),
                &json!({ "number": number, "size": size }),
            )
            .await?;
        keys(&r)
    }

    /// `POST …/{master}/dec_keys` for the keys `ids`.
    pub async fn dec_keys(&mut self, master: &str, ids: &[String]) -> Result<Vec<Key>, String> {
        let ids: Vec<Value> = ids.iter().map(|id| json!({ "key_ID": id })).collect();
        let r = self
            .post(
                &format!("/api/v1/keys/{}/dec_keys", encode(master)),
                &json!({ "key_IDs": ids }),
            )
            .await?;
        keys(&r)
    }
}

/// Percent-encodes an SAE id for a path segment.
pub fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The keys of a key container; a non-200 answer becomes its message.
pub fn keys(reply: &Reply) -> Result<Vec<Key>, String> {
    if reply.status != 200 {
        return Err(format!(
            "HTTP {}: {}",
            reply.status,
            reply.body["message"].as_str().unwrap_or("(no message)")
        ));
    }
    let items = reply.body["keys"]
        .as_array()
        .ok_or("the answer has no `keys` array")?;
    items
        .iter()
        .map(|k| {
            let key_id = k["key_ID"]
                .as_str()
                .ok_or("a key without key_ID")?
                .to_string();
            let key = base64::engine::general_purpose::STANDARD
                .decode(k["key"].as_str().ok_or("a key without key")?)
                .map_err(|e| format!("key {key_id} is not base64: {e}"))?;
            Ok(Key { key_id, key })
        })
        .collect()
}
