//! ETSI GS QKD 014 key delivery benchmark (`cargo bench -p strata-runtime --bench kme`).
//!
//! A synthetic twin with three chains of trusted relays — 1, 3 and 6 QKD hops between two
//! endpoint KMEs — runs at real time. One SAE client with its client certificate talks to its
//! KME over mutual TLS on one keep-alive connection, as a real application would.
//!
//! * **throughput**: keys per second one KME serves — `enc_keys` (one key per request, and
//!   100 per request) at the master of the 1-hop chain, `dec_keys` at its slave;
//! * **latency**: a relayed key end to end — `enc_keys` at the master (which relays the key
//!   hop by hop) followed by `dec_keys` at the slave — over 1, 3 and 6 hops, median and 99th
//!   percentile;
//! * **relay cryptography alone**: pads, one-time-pad encryption and tags of a relay without
//!   the network, per key and hop count.
//!
//! Plain `main` (no harness): prints one line per measurement.

use std::path::Path;
use std::time::{Duration, Instant};
use strata_compiler::compile::{CompileOptions, compile};
use strata_compiler::frontend::{self, Options, SourceLoader};
use strata_runtime::apply::{ApplyOptions, apply};
use strata_runtime::kme::KmeOptions;
use strata_runtime::kme::client::KmeClient;
use strata_runtime::kme::pool::Pools;
use strata_runtime::kme::relay::message;
use strata_runtime::pb::relay::RelayRequest;
use strata_runtime::state::MemoryStore;
use strata_runtime::twin::host::{Twin, TwinOptions};

struct Fs;
impl SourceLoader for Fs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// Endpoints `s{hops}` and `t{hops}` joined by `hops` QKD links through trusted relays.
fn chains(hops_list: &[usize]) -> (String, String) {
    let mut nodes = String::new();
    let mut qkd = String::new();
    let mut classical = String::new();
    let mut intents = String::new();
    for &hops in hops_list {
        let name = |i: usize| {
            if i == 0 {
                format!("s{hops}")
            } else if i == hops {
                format!("t{hops}")
            } else {
                format!("r{hops}-{i}")
            }
        };
        // The 1-hop chain carries the throughput test: a fast link and a generous bucket.
        let (skr, rate, burst) = if hops == 1 {
            (30.0e6, 100_000, 5000)
        } else {
            (3.0e6, 10_000, 1000)
        };
        for i in 0..=hops {
            let role = if i == 0 || i == hops {
                "endpoint"
            } else {
                "trusted-relay"
            };
            nodes.push_str(&format!(
                "  - {{ name: {}, domain: d, role: {role} }}\n",
                name(i)
            ));
        }
        for i in 0..hops {
            let (a, b) = (name(i), name(i + 1));
            qkd.push_str(&format!(
                "  - {{ name: q-{a}-{b}, ends: [{a}, {b}], length_km: 1, skr_bps: {skr}, qber: 0.01, classical_path: [c-{a}-{b}] }}\n"
            ));
            classical.push_str(&format!(
                "  - {{ name: c-{a}-{b}, ends: [{a}, {b}], bandwidth_bps: 1.0e10, latency_ms: 0.01 }}\n"
            ));
        }
        intents.push_str(&format!(
            "intent h{hops} {{\n    keys of 256 bits\n    between {} and {}\n    rate >= {rate}/s\n    burst {burst}\n}}\n",
            name(0),
            name(hops)
        ));
    }
    let inventory = format!(
        "name: kme-bench\ndomains:\n  - {{ name: d, operator: bench, trust: trusted }}\nnodes:\n{nodes}qkd_links:\n{qkd}classical_links:\n{classical}"
    );
    (inventory, intents)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn run() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (inventory, intents) = chains(&[1, 3, 6]);
    std::fs::write(dir.path().join("net.yaml"), inventory).map_err(|e| e.to_string())?;
    let file = dir.path().join("bench.qi");
    std::fs::write(&file, format!("use network \"net.yaml\"\n{intents}"))
        .map_err(|e| e.to_string())?;
    let mut fe = frontend::run(&[file], &Options::default(), &Fs);
    if fe.has_errors() {
        return Err(format!("{:#?}", fe.diagnostics));
    }
    let net = fe.networks.remove(0);
    let (program, inv) = (net.program, net.inventory.ok_or("no inventory")?);
    let compiled = compile(&program, &inv, &CompileOptions::default());
    for i in &compiled.summary.intents {
        if i.admitted_rate < i.requested_rate {
            return Err(format!("{} not admitted: {:?}", i.name, i.reason));
        }
    }
    let twin = Twin::start_with(
        &inv,
        TwinOptions::default(),
        KmeOptions {
            pool_seconds: 5.0,
            ..KmeOptions::default()
        },
    )
    .await?;
    apply(
        &MemoryStore::default(),
        &twin.agents,
        &compiled.configs,
        Some(&compiled.summary),
        &ApplyOptions::default(),
        None,
    )
    .await
    .map_err(|e| e.to_string())?;
    // Let the pools fill.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let kme = twin.kme.clone().ok_or("no KMEs")?;
    println!(
        "kme bench: {} cores, one SAE client per KME, mutual TLS (rustls, ring), HTTP/1.1 keep-alive",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Throughput at the 1-hop chain.
    let mut master = KmeClient::for_sae(&kme, "s1").await?;
    let mut slave = KmeClient::for_sae(&kme, "t1").await?;
    for (number, window) in [
        (1u64, Duration::from_secs(3)),
        (100, Duration::from_secs(3)),
    ] {
        let mut ids = Vec::new();
        let started = Instant::now();
        let mut requests = 0u64;
        let mut refused = 0u64;
        // Below the 100,000 keys a slave KME keeps waiting per service unit.
        while started.elapsed() < window && ids.len() < 90_000 {
            let r = master
                .get(&format!("/api/v1/keys/t1/enc_keys?number={number}"))
                .await?;
            requests += 1;
            match strata_runtime::kme::client::keys(&r) {
                Ok(keys) => ids.extend(keys.into_iter().map(|k| k.key_id)),
                Err(e) => {
                    if refused == 0 {
                        println!("  first refusal: {e}");
                    }
                    refused += 1;
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "enc_keys, {number:>3} key(s)/request: {:>8.0} keys/s ({:.0} requests/s, {refused} refused)",
            ids.len() as f64 / elapsed,
            requests as f64 / elapsed
        );
        // Drain them at the slave: one key per GET, then 100 per POST.
        let (single, batched) = ids.split_at(ids.len().min(20_000));
        let started = Instant::now();
        for id in single {
            let r = slave
                .get(&format!("/api/v1/keys/s1/dec_keys?key_ID={id}"))
                .await?;
            if r.status != 200 {
                return Err(format!("dec_keys: {}", r.body));
            }
        }
        if number == 1 {
            let elapsed = started.elapsed().as_secs_f64();
            println!(
                "dec_keys,   1 key(s)/request: {:>8.0} keys/s",
                single.len() as f64 / elapsed
            );
        }
        let started = Instant::now();
        for chunk in batched.chunks(100) {
            let got = slave.dec_keys("s1", chunk).await?;
            if got.len() != chunk.len() {
                return Err("dec_keys returned too few keys".into());
            }
        }
        if number == 100 && !batched.is_empty() {
            let elapsed = started.elapsed().as_secs_f64();
            println!(
                "dec_keys, 100 key(s)/request: {:>8.0} keys/s",
                batched.len() as f64 / elapsed
            );
        }
    }

    // Latency of a relayed key, end to end.
    for hops in [1usize, 3, 6] {
        let (s, t) = (format!("s{hops}"), format!("t{hops}"));
        let mut a = KmeClient::for_sae(&kme, &s).await?;
        let mut b = KmeClient::for_sae(&kme, &t).await?;
        let (mut enc_lat, mut pair_lat) = (Vec::new(), Vec::new());
        for i in 0..2200 {
            let started = Instant::now();
            let keys = a.enc_keys(&t, 1, 256).await?;
            let enc = started.elapsed();
            let got = b.dec_keys(&s, &[keys[0].key_id.clone()]).await?;
            let pair = started.elapsed();
            if got != keys {
                return Err(format!("{hops} hops: different keys at the two ends"));
            }
            // The first 200 warm up.
            if i >= 200 {
                enc_lat.push(enc);
                pair_lat.push(pair);
            }
        }
        enc_lat.sort();
        pair_lat.sort();
        println!(
            "relayed key over {hops} hop(s): enc_keys median {:.0} µs p99 {:.0} µs; enc_keys + dec_keys median {:.0} µs p99 {:.0} µs",
            micros(percentile(&enc_lat, 0.5)),
            micros(percentile(&enc_lat, 0.99)),
            micros(percentile(&pair_lat, 0.5)),
            micros(percentile(&pair_lat, 0.99)),
        );
    }
    twin.shutdown().await;

    // The relay's cryptography alone: per hop, the sender takes its pad, encrypts and tags;
    // the receiver takes the same pad, verifies and decrypts.
    for hops in [1usize, 3, 6] {
        let mut pools = Pools::new(1000.0);
        let nodes: Vec<String> = (0..=hops).map(|i| format!("n{i}")).collect();
        let links: Vec<String> = (0..hops).map(|i| format!("l{i}")).collect();
        for i in 0..hops {
            pools.observe(&links[i], &nodes[i], &nodes[i + 1], true, 8.0 * 4e6);
        }
        pools.generate(1.0);
        let n = 20_000;
        let need = message::pad_len(1, 256);
        let started = Instant::now();
        for _ in 0..n {
            let mut keys = vec![("k".to_string(), vec![7u8; 32])];
            for i in 0..hops {
                let pad = pools
                    .send_pad(&links[i], &nodes[i], need)
                    .map_err(|e| e.to_string())?;
                let mut req = RelayRequest {
                    key_size: 256,
                    link: links[i].clone(),
                    pad_offset: pad.offset,
                    ..RelayRequest::default()
                };
                message::seal(&mut req, &keys, &pad.bytes);
                let got = pools
                    .receive_pad(&links[i], &nodes[i + 1], pad.offset, need)
                    .map_err(|e| e.to_string())?;
                keys = message::open(&req, &got).map_err(|e| e.to_string())?;
            }
        }
        let per = started.elapsed() / n;
        println!(
            "OTP relay cryptography alone, {hops} hop(s), 256-bit key: {:.2} µs per key",
            micros(per)
        );
    }
    Ok(())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run()) {
        eprintln!("kme bench failed: {e}");
        std::process::exit(1);
    }
}
