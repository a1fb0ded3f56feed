//! The connection to an etcd cluster: its members tried in turn, TLS towards them, and the
//! authentication token each member gave.

use super::pb::{
    self,
    etcdserverpb::{
        AuthenticateRequest, LeaseKeepAliveRequest, LeaseRevokeRequest, RangeRequest, TxnRequest,
        TxnResponse, auth_client::AuthClient, lease_client::LeaseClient,
    },
};
use super::{CALL_TIMEOUT, EtcdLocation, kv};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Adds an etcd auth token (metadata `token`) to every request, when there is one.
#[derive(Clone)]
pub(crate) struct Token(Option<tonic::metadata::AsciiMetadataValue>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            r.metadata_mut().insert("token", t.clone());
        }
        Ok(r)
    }
}

/// A connection to one member, authenticated when the store has credentials.
pub(crate) type Svc = tonic::service::interceptor::InterceptedService<Channel, Token>;

/// TLS towards etcd: the CA that signed the members' certificates (PEM) and, for a cluster
/// that authenticates clients by certificate, strata's certificate and key (PEM).
#[derive(Debug, Clone, Default)]
pub struct EtcdTls {
    pub ca_pem: String,
    pub identity: Option<(String, String)>,
}

/// The members, tried in turn from the last one that answered.
#[derive(Clone)]
pub(crate) struct Members {
    channels: Arc<Vec<Channel>>,
    preferred: Arc<AtomicUsize>,
    /// User name and password for etcd's authentication, if it has it enabled.
    credentials: Option<Arc<(String, String)>>,
    /// The auth token each member gave (etcd's simple tokens are per member).
    tokens: Arc<Mutex<Vec<Option<tonic::metadata::AsciiMetadataValue>>>>,
}

impl Members {
    /// The members of the cluster at `location`, over TLS (`https`) when `tls` is given.
    /// Connections are made on first use; call it inside the Tokio runtime that will make
    /// the calls. An error names the member whose address or TLS settings are unusable.
    pub(crate) fn lazy(location: &EtcdLocation, tls: Option<&EtcdTls>) -> Result<Members, String> {
        let mut channels = Vec::new();
        for host in &location.endpoints {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let bad = |e: tonic::transport::Error| format!("{host}: {e}");
            let mut endpoint = Endpoint::from_shared(format!("{scheme}://{host}"))
                .map_err(bad)?
                .connect_timeout(CALL_TIMEOUT);
            if let Some(tls) = tls {
                let mut config =
                    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
                if let Some((cert, key)) = &tls.identity {
                    config = config.identity(Identity::from_pem(cert, key));
                }
                endpoint = endpoint.tls_config(config).map_err(bad)?;
            }
            channels.push(endpoint.connect_lazy());
        }
        Ok(Members {
            tokens: Arc::new(Mutex::new(vec![None; channels.len()])),
            channels: Arc::new(channels),
            preferred: Arc::new(AtomicUsize::new(0)),
            credentials: None,
        })
    }

    /// Logs in to etcd as `user` (for a cluster with authentication enabled).
    pub(crate) fn log_in_as(&mut self, user: &str, password: &str) {
        self.credentials = Some(Arc::new((user.to_string(), password.to_string())));
    }

    /// Runs `call` on the members in turn, twice round at most, until one answers; a member
    /// that is down or does not answer in time (while the cluster elects a leader) is
    /// skipped. Every call strata makes is safe to repeat: a write that timed out but was
    /// committed is recognised by the repeat (see `lock` and `save`).
    pub(crate) async fn call<T, F, Fut>(&self, call: F) -> Result<T, tonic::Status>
    where
        F: Fn(Svc) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.call_within(call, Some(CALL_TIMEOUT)).await
    }

    /// [`Self::call`] without a bound on how long a member may take to answer: for the calls
    /// that wait for something to happen (an election campaign, a stream of leaders). A
    /// member that goes down still ends the call, and the next member is asked.
    pub(crate) async fn call_unbounded<T, F, Fut>(&self, call: F) -> Result<T, tonic::Status>
    where
        F: Fn(Svc) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.call_within(call, None).await
    }

    async fn call_within<T, F, Fut>(
        &self,
        call: F,
        bound: Option<Duration>,
    ) -> Result<T, tonic::Status>
    where
        F: Fn(Svc) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let n = self.channels.len();
        let first = self.preferred.load(Ordering::Relaxed);
        let mut last = tonic::Status::unavailable("no etcd member given");
        for i in 0..2 * n {
            let at = (first + i) % n;
            let mut result = self.attempt(at, &call, bound).await;
            if self.credentials.is_some()
                && matches!(&result, Err(e) if e.code() == tonic::Code::Unauthenticated)
            {
                // The member forgot the token (it restarted, or the token expired): log in
                // again once.
                self.set_token(at, None);
                result = self.attempt(at, &call, bound).await;
            }
            match result {
                Ok(r) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    return Ok(r.into_inner());
                }
                Err(e)
                    if e.code() == tonic::Code::Unavailable
                        || e.code() == tonic::Code::DeadlineExceeded =>
                {
                    last = e
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// One call on member `at`, logging in first if the store has credentials and no token
    /// from that member yet; given up after `bound`, if any.
    async fn attempt<T, F, Fut>(
        &self,
        at: usize,
        call: &F,
        bound: Option<Duration>,
    ) -> Result<tonic::Response<T>, tonic::Status>
    where
        F: Fn(Svc) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let channel = self.channels[at].clone();
        let go = async {
            let token = match (&self.credentials, self.token(at)) {
                (Some(creds), None) => {
                    let answer = AuthClient::new(channel.clone())
                        .authenticate(AuthenticateRequest {
                            name: creds.0.clone(),
                            password: creds.1.clone(),
                        })
                        .await?
                        .into_inner();
                    let token = answer.token.parse().map_err(|_| {
                        tonic::Status::unauthenticated("etcd gave an auth token that is not ASCII")
                    })?;
                    self.set_token(at, Some(token));
                    self.token(at)
                }
                (_, token) => token,
            };
            call(Svc::new(channel, Token(token))).await
        };
        let Some(bound) = bound else {
            return go.await;
        };
        tokio::time::timeout(bound, go).await.unwrap_or_else(|_| {
            Err(tonic::Status::deadline_exceeded(format!(
                "no answer within {} s",
                bound.as_secs()
            )))
        })
    }

    fn token(&self, at: usize) -> Option<tonic::metadata::AsciiMetadataValue> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())[at].clone()
    }

    fn set_token(&self, at: usize, token: Option<tonic::metadata::AsciiMetadataValue>) {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())[at] = token;
    }

    pub(crate) async fn txn(&self, txn: TxnRequest) -> Result<TxnResponse, tonic::Status> {
        self.call(|ch| {
            let txn = txn.clone();
            async move { kv(ch).txn(txn).await }
        })
        .await
    }

    pub(crate) async fn get(
        &self,
        key: Vec<u8>,
    ) -> Result<Option<pb::mvccpb::KeyValue>, tonic::Status> {
        let r = self
            .call(|ch| {
                let key = key.clone();
                async move {
                    kv(ch)
                        .range(RangeRequest {
                            key,
                            ..RangeRequest::default()
                        })
                        .await
                }
            })
            .await?;
        Ok(r.kvs.into_iter().next())
    }

    pub(crate) async fn revoke(&self, id: i64) -> Result<(), tonic::Status> {
        self.call(|ch| async move {
            LeaseClient::new(ch)
                .lease_revoke(LeaseRevokeRequest { id })
                .await
        })
        .await
        .map(|_| ())
    }

    /// Renews lease `id` once: the TTL it has now, 0 or less when it is gone.
    pub(crate) async fn renew(&self, id: i64) -> Result<i64, tonic::Status> {
        self.call(|ch| async move {
            let mut stream = LeaseClient::new(ch)
                .lease_keep_alive(tokio_stream::once(LeaseKeepAliveRequest { id }))
                .await?
                .into_inner();
            let answer = stream.message().await?;
            Ok(tonic::Response::new(answer.map_or(0, |a| a.ttl)))
        })
        .await
    }

    /// Renews lease `id` every third of its TTL until the task is aborted or the lease is
    /// gone.
    pub(crate) async fn keep_alive(self, id: i64, ttl: i64) {
        let period = Duration::from_millis((ttl.max(1) as u64) * 1000 / 3);
        loop {
            tokio::time::sleep(period).await;
            if matches!(self.renew(id).await, Ok(ttl) if ttl <= 0) {
                return;
            }
        }
    }
}
