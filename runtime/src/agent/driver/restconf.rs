//! A RESTCONF (RFC 8040) client for one data resource in RFC 7951 JSON
//! (`application/yang-data+json`): `GET`, `PUT` and `DELETE` over `http://` or `https://`
//! (server checked against a given CA, optionally with a client certificate). One
//! connection per request; errors are said in the operator's terms, with the server's
//! `ietf-restconf:errors` message when it sends one.

use crate::pki;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The media type of RFC 8040 §5.2 for JSON.
pub const YANG_JSON: &str = "application/yang-data+json";

/// How long one request may take before the device counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(10);

/// TLS material for an `https://` device.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub ca: Option<std::path::PathBuf>,
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
}

/// Where a device's RESTCONF server is and how to reach it.
#[derive(Clone, Debug)]
pub struct Restconf {
    /// The URL given, for messages.
    url: String,
    host: String,
    port: u16,
    /// Path of the RESTCONF root, e.g. `/restconf`.
    root: String,
    tls: Option<Arc<ClientConfig>>,
}

/// A response: status and body (`Null` when empty).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Restconf {
    /// `url` is `http://HOST:PORT[/PATH]` or `https://…`; the RESTCONF root is `PATH`
    /// when it ends in `/restconf`, else `PATH/restconf`.
    pub fn new(url: &str, tls: &TlsFiles) -> Result<Restconf, String> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(format!(
                    "`{url}`: the device URL must start with http:// or https://"
                ));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("`{url}` names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri.path().trim_end_matches('/');
        let root = if path.ends_with("/restconf") {
            path.to_string()
        } else {
            format!("{path}/restconf")
        };
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
        };
        let tls = if https {
            let ca = tls.ca.as_deref().ok_or_else(|| {
                format!("`{url}` is https: give the CA that issued the device's certificate with --device-ca")
            })?;
            let ca = read(ca)?;
            Some(match (&tls.cert, &tls.key) {
                (Some(c), Some(k)) => pki::client_config(&ca, &read(c)?, &read(k)?)?,
                (None, None) => pki::anonymous_client_config(&ca)?,
                _ => return Err("--device-cert and --device-key go together".into()),
            })
        } else {
            if tls.ca.is_some() || tls.cert.is_some() {
                return Err(format!(
                    "`{url}` is plain http: the TLS options need an https:// URL"
                ));
            }
            None
        };
        Ok(Restconf {
            url: url.to_string(),
            host,
            port,
            root,
            tls,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path of data resource `resource` (e.g. `etsi-qkd-sdn-node:qkd_node`).
    pub fn data_path(&self, resource: &str) -> String {
        format!("{}/data/{resource}", self.root)
    }

    /// Sends one request to `path` and reads the answer.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        tokio::time::timeout(TIMEOUT, self.exchange(method, path, body))
            .await
            .map_err(|_| {
                format!(
                    "the device at {} did not answer {method} {path} within {} s",
                    self.url,
                    TIMEOUT.as_secs()
                )
            })?
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let unreachable =
            |e: &dyn std::fmt::Display| format!("cannot reach the device at {}: {e}", self.url);
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| unreachable(&e))?;
        let bytes = body
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, format!("{}:{}", self.host, self.port))
            .header(hyper::header::ACCEPT, YANG_JSON);
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, YANG_JSON);
        }
        let req = req
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| format!("bad request: {e}"))?;
        let response = match &self.tls {
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("`{}` is not a TLS server name: {e}", self.host))?;
                let stream = TlsConnector::from(tls.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with the device at {} failed: {e}", self.url))?;
                send(TokioIo::new(stream), req).await
            }
            None => send(TokioIo::new(tcp), req).await,
        }
        .map_err(|e| unreachable(&e))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                format!(
                    "the device at {} answered {method} {path} with HTTP {status} and a body that is not JSON: {e}",
                    self.url
                )
            })?
        };
        Ok(Answer { status, body })
    }

    /// An error for an unexpected answer, with the server's own message if it gave one.
    pub fn refused(&self, method: &str, path: &str, a: &Answer) -> String {
        format!(
            "the device at {} refused {method} {path}: HTTP {}{}",
            self.url,
            a.status,
            error_message(&a.body)
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )
    }
}

async fn send<S>(
    io: TokioIo<S>,
    req: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    // The connection task runs until the body has been read and the connection closes.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender.send_request(req).await
}

/// The messages of an RFC 8040 §7.1 `ietf-restconf:errors` body.
pub fn error_message(body: &Value) -> Option<String> {
    let errors = body
        .get("ietf-restconf:errors")
        .and_then(|e| e.get("error"))
        .and_then(Value::as_array)?;
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let tag = e
                .get("error-tag")
                .and_then(Value::as_str)
                .unwrap_or("error");
            match e.get("error-message").and_then(Value::as_str) {
                Some(m) => format!("{tag} ({m})"),
                None => tag.to_string(),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_the_restconf_root() {
        let plain = |u: &str| Restconf::new(u, &TlsFiles::default());
        let r = plain("http://10.0.0.7:8080").unwrap();
        assert_eq!(
            r.data_path("etsi-qkd-sdn-node:qkd_node"),
            "/restconf/data/etsi-qkd-sdn-node:qkd_node"
        );
        assert_eq!((r.host.as_str(), r.port), ("10.0.0.7", 8080));
        let r = plain("http://node/api/restconf/").unwrap();
        assert_eq!(r.data_path("x:y"), "/api/restconf/data/x:y");
        assert_eq!(r.port, 80);
        assert!(plain("ftp://node").unwrap_err().contains("http://"));
        assert!(plain("https://node").unwrap_err().contains("--device-ca"));
        let tls = TlsFiles {
            ca: Some("ca.pem".into()),
            ..TlsFiles::default()
        };
        assert!(Restconf::new("http://node", &tls).is_err());
    }

    #[test]
    fn restconf_errors_are_read() {
        let body = serde_json::json!({"ietf-restconf:errors": {"error": [
            {"error-type": "application", "error-tag": "operation-failed", "error-message": "busy"},
            {"error-type": "protocol", "error-tag": "lock-denied"}
        ]}});
        assert_eq!(
            error_message(&body).as_deref(),
            Some("operation-failed (busy); lock-denied")
        );
        assert_eq!(error_message(&Value::Null), None);
    }
}
