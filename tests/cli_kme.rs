//! `strata kme` processes as a trusted-relay chain: the KMEs of Distrito-Telefonica, Norte
//! and Moncloa of the metro example, each its own process on loopback, relay keys to each
//! other over the network. Keys a master SAE draws at one end arrive identical at the slave
//! SAE at the other; a relay request that is tampered with, replayed, or comes from
//! something other than the neighbouring KME is refused; and with Norte down the master SAE
//! gets a 503 and no key, and keys flow again once Norte is back.

mod common;

use common::*;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use strata_runtime::kme::client::KmeClient;
use strata_runtime::kme::pool::Pools;
use strata_runtime::kme::relay::message;
use strata_runtime::pb::relay::RelayRequest;
use strata_runtime::pb::relay::key_relay_client::KeyRelayClient;
use strata_runtime::pki::Pki;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const CHAIN: [&str; 3] = ["Distrito-Telefonica", "Norte", "Moncloa"];

/// A test secret for `link`, the same for both of its ends.
fn secret(link: &str) -> String {
    let digest = Sha256::digest(format!("strata test link {link}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

struct Setup {
    dir: tempfile::TempDir,
    pki: Pki,
    /// Node → (ETSI 014 port, relay port).
    ports: Vec<(String, u16, u16)>,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let o = strata(&["compile", "intents/metro.qi", "-o", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        // Every QKD link of the three nodes, with a secret both its ends read.
        let mut names = std::collections::BTreeSet::new();
        for node in CHAIN {
            let fwd = std::fs::read_to_string(out.join(node).join("forwarding.yaml")).unwrap();
            for l in fwd
                .lines()
                .filter_map(|l| l.trim().strip_prefix("- qkdl_id: "))
            {
                names.insert(l.to_string());
            }
        }
        let mut links = String::from("# QKD link secrets of the test chain\n");
        for l in names {
            links.push_str(&format!("{l} {}\n", secret(&l)));
        }
        std::fs::write(dir.path().join("links.txt"), links).unwrap();
        let saes = [
            "ccips",
            "ipsec-controller",
            "Distrito-Telefonica",
            "Moncloa",
        ];
        let pki = Pki::create(
            &dir.path().join("pki"),
            "metro",
            &CHAIN.map(String::from),
            &saes.map(String::from),
        )
        .unwrap();
        let ports = CHAIN
            .iter()
            .map(|n| (n.to_string(), free_port(), free_port()))
            .collect();
        Setup { dir, pki, ports }
    }

    fn ports(&self, node: &str) -> (u16, u16) {
        let p = self.ports.iter().find(|p| p.0 == node).unwrap();
        (p.1, p.2)
    }

    fn log(&self, node: &str) -> PathBuf {
        self.dir.path().join(format!("{node}.log"))
    }

    /// Starts `node`'s KME and waits until both its listeners accept connections.
    fn start(&self, node: &str) -> Kme {
        let (api, relay) = self.ports(node);
        let pki = self.dir.path().join("pki");
        let mut cmd = bin();
        cmd.args([
            "kme",
            "--node",
            node,
            "--config",
            self.dir.path().join("out").to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{api}"),
            "--relay-listen",
            &format!("127.0.0.1:{relay}"),
            "--link-secrets",
            self.dir.path().join("links.txt").to_str().unwrap(),
            "--ca",
            pki.join("ca.pem").to_str().unwrap(),
            "--cert",
            pki.join("kme")
                .join(format!("{node}.pem"))
                .to_str()
                .unwrap(),
            "--key",
            pki.join("kme")
                .join(format!("{node}.key"))
                .to_str()
                .unwrap(),
        ]);
        for (peer, _, relay) in self.ports.iter().filter(|p| p.0 != node) {
            cmd.args(["--peer", &format!("{peer}=127.0.0.1:{relay}")]);
        }
        let log = File::create(self.log(node)).unwrap();
        let child = cmd
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let mut kme = Kme(child);
        let start = Instant::now();
        for port in [api, relay] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if let Ok(Some(status)) = kme.0.try_wait() {
                    panic!("KME {node} exited with {status}: {}", self.log_text(node));
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "KME {node} did not listen: {}",
                    self.log_text(node)
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        kme.0.try_wait().unwrap();
        kme
    }

    fn log_text(&self, node: &str) -> String {
        std::fs::read_to_string(self.log(node)).unwrap_or_default()
    }

    async fn sae(&self, sae: &str, node: &str) -> KmeClient {
        let (api, _) = self.ports(node);
        KmeClient::connect(
            &format!("127.0.0.1:{api}"),
            self.pki.client_config(sae).unwrap(),
        )
        .await
        .unwrap()
    }

    /// A relay client of `node`'s relay listener presenting `identity` (PEM certificate and
    /// key), or no certificate at all.
    async fn relay_client(
        &self,
        node: &str,
        identity: Option<(&str, &str)>,
    ) -> Result<KeyRelayClient<Channel>, String> {
        let (_, relay) = self.ports(node);
        let mut tls =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.pki.ca_pem));
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        let channel = Endpoint::from_shared(format!("https://127.0.0.1:{relay}"))
            .unwrap()
            .timeout(Duration::from_secs(10))
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(KeyRelayClient::new(channel))
    }
}

struct Kme(Child);

impl Drop for Kme {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `enc_keys` until the KMEs' pools have filled enough to serve it (a KME starts with empty
/// pools), at most 30 s; the last reply.
async fn enc_keys_when_ready(
    master: &mut KmeClient,
    slave_sae: &str,
    number: u64,
) -> strata_runtime::kme::api::Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = master
            .post(
                &format!("/api/v1/keys/{slave_sae}/enc_keys"),
                &serde_json::json!({ "number": number, "size": 256 }),
            )
            .await
            .unwrap();
        if r.status != 503 || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_relayed_between_kme_processes_arrive_identical_and_forgeries_are_refused() {
    let setup = Setup::new();
    let kmes: Vec<Kme> = CHAIN.iter().map(|n| setup.start(n)).collect();

    // dc-backup: ccips at Distrito-Telefonica, master; ipsec-controller at Moncloa, slave.
    let mut ccips = setup.sae("ccips", "Distrito-Telefonica").await;
    let mut ctl = setup.sae("ipsec-controller", "Moncloa").await;
    let r = enc_keys_when_ready(&mut ccips, "ipsec-controller", 3).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let enc = strata_runtime::kme::client::keys(&r).unwrap();
    assert_eq!(enc.len(), 3);
    assert!(enc.iter().all(|k| k.key.len() == 32));
    let ids: Vec<String> = enc.iter().map(|k| k.key_id.clone()).collect();
    let dec = ctl.dec_keys("ccips", &ids).await.unwrap();
    assert_eq!(dec, enc, "identical key bytes at both SAEs");
    // The key went through Norte's process.
    let norte = setup.log_text("Norte");
    assert!(
        norte.contains(
            "relayed 3 key(s) of service unit dc-backup from KME Distrito-Telefonica to KME Moncloa"
        ),
        "{norte}"
    );
    let moncloa = setup.log_text("Moncloa");
    assert!(
        moncloa.contains("received 3 key(s) of service unit dc-backup"),
        "{moncloa}"
    );
    // The slave's status at its own KME, with the standard's fields.
    let st = ctl.status("ccips").await.unwrap();
    assert_eq!(st.status, 200, "{}", st.body);
    assert_eq!(st.body["source_KME_ID"], "Distrito-Telefonica");
    assert_eq!(st.body["target_KME_ID"], "Moncloa");
    assert_eq!(st.body["stored_key_count"], 0, "all fetched");

    // A relay request at Norte as Distrito-Telefonica's KME would send it, sealed with the
    // real key of q-distrito-norte (this test wrote its secret), for vpn-core's path.
    let link = "q-distrito-norte";
    let mut pools = Pools::with_secrets(
        30.0,
        [(link.to_string(), {
            let hex = secret(link);
            let mut s = [0u8; 32];
            for (i, b) in s.iter_mut().enumerate() {
                *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
            }
            s
        })]
        .into(),
    );
    pools.observe(link, "Distrito-Telefonica", "Norte", true, 132_000.0);
    pools.generate(1.0);
    let sealed = |pools: &mut Pools, id: &str| {
        let pad = pools
            .send_pad(link, "Distrito-Telefonica", message::pad_len(1, 256))
            .unwrap();
        let mut req = RelayRequest {
            service_unit: "vpn-core".into(),
            path: 0,
            source_kme_id: "Distrito-Telefonica".into(),
            target_kme_id: "Moncloa".into(),
            master_sae_id: "Distrito-Telefonica".into(),
            slave_sae_id: vec!["Moncloa".into()],
            hop: 1,
            link: link.into(),
            pad_offset: pad.offset,
            key_size: 256,
            ..RelayRequest::default()
        };
        message::seal(&mut req, &[(id.to_string(), vec![0x42; 32])], &pad.bytes);
        req
    };
    let distrito = &setup.pki.kmes["Distrito-Telefonica"];
    let mut as_distrito = setup
        .relay_client("Norte", Some((&distrito.cert_pem, &distrito.key_pem)))
        .await
        .unwrap();
    // One bit flipped in the ciphertext: the tag no longer matches.
    let mut tampered = sealed(&mut pools, "00000000-0000-4000-8000-000000000001");
    tampered.keys[0].ciphertext[0] ^= 1;
    let e = as_distrito.relay(tampered).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e:?}");
    assert!(e.message().contains("tag does not match"), "{e:?}");
    // The same request untouched is taken and relayed on to Moncloa, once.
    let genuine = sealed(&mut pools, "00000000-0000-4000-8000-000000000002");
    let reply = as_distrito.relay(genuine.clone()).await.unwrap();
    assert_eq!(reply.into_inner().hops_after, 1);
    let mut moncloa_sae = setup.sae("Moncloa", "Moncloa").await;
    let got = moncloa_sae
        .dec_keys(
            "Distrito-Telefonica",
            &["00000000-0000-4000-8000-000000000002".to_string()],
        )
        .await
        .unwrap();
    assert_eq!(got[0].key, vec![0x42; 32]);
    let e = as_distrito.relay(genuine).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "a replay: {e:?}");
    // Moncloa's KME is a KME, but not at the other end of q-distrito-norte.
    let moncloa_kme = &setup.pki.kmes["Moncloa"];
    let mut as_moncloa = setup
        .relay_client("Norte", Some((&moncloa_kme.cert_pem, &moncloa_kme.key_pem)))
        .await
        .unwrap();
    let e = as_moncloa
        .relay(sealed(&mut pools, "00000000-0000-4000-8000-000000000003"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    // An SAE's certificate, even one named after the node, is not a KME's.
    let sae = &setup.pki.saes["Distrito-Telefonica"];
    let sae_key = std::fs::read_to_string(sae.key_path.as_ref().unwrap()).unwrap();
    let mut as_sae = setup
        .relay_client("Norte", Some((&sae.cert_pem, &sae_key)))
        .await
        .unwrap();
    let e = as_sae
        .relay(sealed(&mut pools, "00000000-0000-4000-8000-000000000004"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    assert!(e.message().contains("not a KME's"), "{e:?}");
    // Without a client certificate there is no relay at all.
    let refused = match setup.relay_client("Norte", None).await {
        Err(_) => true,
        Ok(mut c) => c
            .relay(sealed(&mut pools, "00000000-0000-4000-8000-000000000005"))
            .await
            .is_err(),
    };
    assert!(refused, "a relay without a client certificate");
    drop(kmes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_next_hop_is_down_gives_a_503_and_no_key() {
    let setup = Setup::new();
    let distrito = setup.start("Distrito-Telefonica");
    let mut norte = setup.start("Norte");
    let moncloa = setup.start("Moncloa");
    // vpn-core: Distrito-Telefonica → Norte → Moncloa, one path.
    let mut master = setup
        .sae("Distrito-Telefonica", "Distrito-Telefonica")
        .await;
    let mut slave = setup.sae("Moncloa", "Moncloa").await;
    let r = enc_keys_when_ready(&mut master, "Moncloa", 1).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let first = strata_runtime::kme::client::keys(&r).unwrap();
    assert_eq!(
        slave
            .dec_keys("Distrito-Telefonica", &[first[0].key_id.clone()])
            .await
            .unwrap(),
        first
    );

    let _ = norte.0.kill();
    let _ = norte.0.wait();
    let r = master
        .post(
            "/api/v1/keys/Moncloa/enc_keys",
            &serde_json::json!({ "number": 1 }),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
    let message = r.body["message"].as_str().unwrap();
    assert!(message.contains("KME Norte"), "{message}");
    assert!(message.contains("no key was handed out"), "{message}");
    assert!(r.body.get("keys").is_none(), "{}", r.body);
    // Nothing reached Moncloa either.
    let st = slave.status("Distrito-Telefonica").await.unwrap();
    assert_eq!(st.status, 200, "{}", st.body);
    assert_eq!(st.body["stored_key_count"], 0, "{}", st.body);

    // Norte back, on the same address: keys flow again.
    norte = setup.start("Norte");
    let r = enc_keys_when_ready(&mut master, "Moncloa", 1).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let again = strata_runtime::kme::client::keys(&r).unwrap();
    assert_eq!(
        slave
            .dec_keys("Distrito-Telefonica", &[again[0].key_id.clone()])
            .await
            .unwrap(),
        again
    );
    drop((distrito, norte, moncloa));
}

#[test]
fn a_kme_refuses_to_start_with_another_nodes_certificate_or_missing_link_secrets() {
    let setup = Setup::new();
    let pki = setup.dir.path().join("pki");
    let out = setup.dir.path().join("out");
    let args = |cert_node: &str, links: &Path| {
        vec![
            "kme".to_string(),
            "--node".into(),
            "Norte".into(),
            "--config".into(),
            out.to_str().unwrap().into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--relay-listen".into(),
            "127.0.0.1:0".into(),
            "--link-secrets".into(),
            links.to_str().unwrap().into(),
            "--ca".into(),
            pki.join("ca.pem").to_str().unwrap().into(),
            "--cert".into(),
            pki.join("kme")
                .join(format!("{cert_node}.pem"))
                .to_str()
                .unwrap()
                .into(),
            "--key".into(),
            pki.join("kme")
                .join(format!("{cert_node}.key"))
                .to_str()
                .unwrap()
                .into(),
        ]
    };
    let links = setup.dir.path().join("links.txt");
    let o = bin().args(args("Moncloa", &links)).output().unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is not the certificate of node Norte's KME"),
        "{}",
        text(&o)
    );
    let few = setup.dir.path().join("few.txt");
    std::fs::write(
        &few,
        format!("q-distrito-norte {}\n", secret("q-distrito-norte")),
    )
    .unwrap();
    let o = bin().args(args("Norte", &few)).output().unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no secret for QKD link(s)"),
        "{}",
        text(&o)
    );
}
