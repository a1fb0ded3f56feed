//! Bounds on the connections a listener holds, shared by the agents' gRPC listeners and the
//! KMEs' HTTPS listeners: how many TLS handshakes may be under way at once (and for how
//! long), how many connections may be open in all and per client identity (the subject CN of
//! its certificate, or its address without one), and how long a connection may stay idle.
//! One client — even one holding a valid certificate — cannot take every slot, and a
//! connection nobody uses is closed.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// How many connections a listener holds and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// TLS handshakes under way at once; a connection beyond them is closed at once.
    pub handshakes: usize,
    /// Longest a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Open connections in all.
    pub connections: usize,
    /// Open connections of one client identity.
    pub per_client: usize,
    /// A connection with nothing read or written for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshakes: 64,
            handshake_timeout: Duration::from_secs(10),
            connections: 512,
            per_client: 32,
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// The bookkeeping of one listener's [`Limits`].
pub struct Gate {
    pub limits: Limits,
    handshakes: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    per_client: Arc<Mutex<HashMap<String, usize>>>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Handshakes,
    Connections,
    Client(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Handshakes => write!(f, "too many TLS handshakes under way"),
            Refusal::Connections => write!(f, "too many open connections"),
            Refusal::Client(c) => write!(f, "`{c}` holds too many open connections"),
        }
    }
}

/// A place among the open connections, given back when dropped.
pub struct Admission {
    _connection: OwnedSemaphorePermit,
    client: String,
    per_client: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Ok(mut m) = self.per_client.lock()
            && let Some(n) = m.get_mut(&self.client)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.client);
            }
        }
    }
}

impl Gate {
    pub fn new(limits: Limits) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            handshakes: Arc::new(Semaphore::new(limits.handshakes.max(1))),
            connections: Arc::new(Semaphore::new(limits.connections.max(1))),
            per_client: Arc::default(),
        })
    }

    /// A slot for one handshake, held until it ends.
    pub fn handshake(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        self.handshakes
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Handshakes)
    }

    /// A place for a connection of `client` (a certificate's CN, or the peer's address).
    pub fn admit(&self, client: &str) -> Result<Admission, Refusal> {
        let connection = self
            .connections
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Connections)?;
        let mut m = self.per_client.lock().map_err(|_| Refusal::Connections)?;
        let n = m.entry(client.to_string()).or_insert(0);
        if *n >= self.limits.per_client.max(1) {
            return Err(Refusal::Client(client.to_string()));
        }
        *n += 1;
        Ok(Admission {
            _connection: connection,
            client: client.to_string(),
            per_client: self.per_client.clone(),
        })
    }

    /// Runs a TLS handshake (or any setup) within the handshake timeout.
    pub async fn within_handshake<T, E: std::fmt::Display>(
        &self,
        handshake: impl Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.limits.handshake_timeout, handshake).await {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the TLS handshake timed out".into()),
        }
    }
}

/// A connection that fails with `TimedOut` once nothing was read or written on it for the
/// idle timeout, and gives its [`Admission`] back when dropped.
pub struct Bounded<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    _admission: Admission,
}

impl<T> Bounded<T> {
    pub fn new(inner: T, idle: Duration, admission: Admission) -> Bounded<T> {
        Bounded {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            _admission: admission,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    fn touch(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle for too long")
}

impl<T: AsyncRead + Unpin> AsyncRead for Bounded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Bounded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                this.touch();
                Poll::Ready(r)
            }
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_cannot_take_every_place() {
        let gate = Gate::new(Limits {
            connections: 3,
            per_client: 2,
            ..Limits::default()
        });
        let a1 = gate.admit("a").unwrap();
        let _a2 = gate.admit("a").unwrap();
        assert_eq!(
            gate.admit("a").err(),
            Some(Refusal::Client("a".to_string()))
        );
        let _b = gate.admit("b").unwrap();
        assert_eq!(gate.admit("c").err(), Some(Refusal::Connections));
        drop(a1);
        let _c = gate.admit("c").unwrap();
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed() {
        use tokio::io::AsyncReadExt;
        let gate = Gate::new(Limits::default());
        let (client, server) = tokio::io::duplex(64);
        let mut bounded = Bounded::new(server, Duration::from_millis(50), gate.admit("x").unwrap());
        let mut buf = [0u8; 4];
        let err = bounded.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(client);
        drop(bounded);
        // The place is free again.
        for _ in 0..Limits::default().per_client {
            std::mem::forget(gate.admit("x").unwrap());
        }
    }
}
