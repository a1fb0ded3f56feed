//! A real etcd cluster on loopback for the tests that keep state in etcd: members on free
//! ports with temporary data directories, killed when dropped. etcd must be installed
//! (`.ci/run` installs Debian's `etcd-server`); without it the tests fail.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use strata_runtime::etcd::{EtcdLocation, EtcdTls};
use strata_runtime::etcd_store::EtcdStore;
use strata_runtime::state::StateStore;

pub struct Etcd {
    members: Vec<Option<Child>>,
    args: Vec<Vec<String>>,
    pub client_urls: Vec<String>,
    tls: Option<(EtcdTls, Tls)>,
    _dir: tempfile::TempDir,
}

/// PEM files for a cluster that speaks TLS and requires client certificates.
#[derive(Clone)]
pub struct Tls {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// A loopback port nothing listens on, below the kernel's ephemeral range (32768 and up),
/// so that no outgoing connection of a test running beside this one can be given it as its
/// source port between this check and the server's bind.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + (seed.wrapping_add(n.wrapping_mul(131)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Etcd {
    /// Starts an `n`-member cluster and waits until it answers.
    pub fn start(n: usize) -> Etcd {
        Self::start_with(n, None)
    }

    /// Starts an `n`-member cluster, serving clients over TLS with `tls` when given.
    pub fn start_with(n: usize, tls: Option<Tls>) -> Etcd {
        Self::start_with_args(n, tls, &[])
    }

    /// [`Self::start_with`], every member also given `extra` arguments.
    pub fn start_with_args(n: usize, tls: Option<Tls>, extra: &[&str]) -> Etcd {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let dir = tempfile::tempdir().unwrap();
        let clients: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let peers: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let initial: Vec<String> = (0..n)
            .map(|i| format!("m{i}=http://127.0.0.1:{}", peers[i]))
            .collect();
        let args: Vec<Vec<String>> = (0..n)
            .map(|i| {
                let data: PathBuf = dir.path().join(format!("m{i}"));
                [
                    "--name",
                    &format!("m{i}"),
                    "--data-dir",
                    data.to_str().unwrap(),
                    "--listen-client-urls",
                    &format!("{scheme}://127.0.0.1:{}", clients[i]),
                    "--advertise-client-urls",
                    &format!("{scheme}://127.0.0.1:{}", clients[i]),
                    "--listen-peer-urls",
                    &format!("http://127.0.0.1:{}", peers[i]),
                    "--initial-advertise-peer-urls",
                    &format!("http://127.0.0.1:{}", peers[i]),
                    "--initial-cluster",
                    &initial.join(","),
                    "--initial-cluster-state",
                    "new",
                    "--initial-cluster-token",
                    "strata-test",
                ]
                .map(String::from)
                .into_iter()
                .chain(extra.iter().map(|a| a.to_string()))
                .chain(tls.iter().flat_map(|t| {
                    [
                        "--cert-file".to_string(),
                        t.server_cert.display().to_string(),
                        "--key-file".to_string(),
                        t.server_key.display().to_string(),
                        "--trusted-ca-file".to_string(),
                        t.ca.display().to_string(),
                        "--client-cert-auth".to_string(),
                    ]
                }))
                .collect()
            })
            .collect();
        let mut etcd = Etcd {
            members: Vec::new(),
            args,
            client_urls: clients.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
            tls: tls.map(|t| {
                let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
                (
                    EtcdTls {
                        ca_pem: read(&t.ca),
                        identity: Some((read(&t.client_cert), read(&t.client_key))),
                    },
                    t,
                )
            }),
            _dir: dir,
        };
        for i in 0..n {
            let child = etcd.spawn(i);
            etcd.members.push(Some(child));
        }
        etcd.wait_ready();
        etcd
    }

    fn spawn(&self, i: usize) -> Child {
        Command::new("etcd")
            .args(&self.args[i])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the `etcd` program runs (install Debian's etcd-server: .ci/run does)")
    }

    /// `etcd://…/PREFIX` naming every member.
    pub fn url(&self, prefix: &str) -> String {
        format!("etcd://{}/{prefix}", self.client_urls.join(","))
    }

    /// Waits until the cluster answers a read through strata's own client.
    pub fn wait_ready(&self) {
        let store = EtcdStore::connect(
            EtcdLocation::parse(&self.url("strata-test-ready")).unwrap(),
            self.tls.as_ref().map(|t| &t.0),
        )
        .unwrap();
        let start = Instant::now();
        loop {
            match store.load() {
                Ok(_) => return,
                Err(e) => assert!(
                    start.elapsed() < Duration::from_secs(90),
                    "etcd did not come up: {e}"
                ),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills member `i` (SIGKILL).
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Restarts member `i` on its data directory.
    pub fn restart(&mut self, i: usize) {
        let child = self.spawn(i);
        self.members[i] = Some(child);
    }

    /// `etcdctl get KEY --print-value-only` on the cluster: an independent reader.
    pub fn get(&self, key: &str) -> String {
        let o = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &self.client_urls.join(","),
                "get",
                key,
                "--print-value-only",
            ])
            .output()
            .expect("the `etcdctl` program runs (install Debian's etcd-client: .ci/run does)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// etcdctl with `args` on the cluster.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.client_urls.join(",")])
            .args(self.tls.iter().flat_map(|(_, t)| {
                [
                    format!("--cacert={}", t.ca.display()),
                    format!("--cert={}", t.client_cert.display()),
                    format!("--key={}", t.client_key.display()),
                ]
            }))
            .args(args)
            .output()
            .expect("the `etcdctl` program runs (install Debian's etcd-client: .ci/run does)")
    }

    /// Every key under `prefix`, by etcdctl.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let o = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &self.client_urls.join(","),
                "get",
                prefix,
                "--prefix",
                "--keys-only",
            ])
            .output()
            .expect("the `etcdctl` program runs");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.stop(i);
        }
    }
}
