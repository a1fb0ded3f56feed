//! Helpers shared by the runtime's loopback test files: loading intent files of the example
//! networks, and a digital twin with a controller applied to it and subscribed to its
//! telemetry. Each test file uses a different part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;
use strata_compiler::check::Program;
use strata_compiler::frontend::{self, Options, SourceLoader};
use strata_compiler::inventory::Inventory;
use strata_runtime::apply::ApplyOptions;
use strata_runtime::control::{Controller, subscribe};
use strata_runtime::pb;
use strata_runtime::state::MemoryStore;
use strata_runtime::twin::host::{Twin, TwinOptions};
use tokio::sync::mpsc::Receiver;

struct Fs;
impl SourceLoader for Fs {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An intent file that must check clean, with its network.
pub fn load_file(file: &Path) -> (Program, Inventory) {
    let mut fe = frontend::run(&[file.to_path_buf()], &Options::default(), &Fs);
    assert!(!fe.has_errors(), "{:#?}", fe.diagnostics);
    let net = fe.networks.remove(0);
    (net.program, net.inventory.unwrap())
}

/// An intent file given relative to the repository's root.
pub fn load(intents: &str) -> (Program, Inventory) {
    load_file(&root().join(intents))
}

/// A twin at `speed` × real time with one telemetry sample per simulated second.
pub fn twin_options(speed: f64) -> TwinOptions {
    TwinOptions {
        speed,
        telemetry_interval_s: 1.0,
        tick: Duration::from_millis(10),
    }
}

/// A twin of the network (with its KMEs) at `speed` × real time, the intents applied by a
/// controller that is subscribed to every agent's telemetry.
pub async fn controlled(
    program: Program,
    inv: Inventory,
    speed: f64,
) -> (Twin, Controller, Receiver<pb::TelemetrySample>) {
    controlled_with(program, inv, twin_options(speed)).await
}

/// [`controlled`], with the twin as `options` says.
pub async fn controlled_with(
    program: Program,
    inv: Inventory,
    options: TwinOptions,
) -> (Twin, Controller, Receiver<pb::TelemetrySample>) {
    let twin = Twin::start(&inv, options).await.unwrap();
    let mut controller = Controller::new(
        program,
        inv,
        twin.agents.clone(),
        Box::new(MemoryStore::default()),
        ApplyOptions::default(),
    );
    let rx = subscribe(&twin.agents, Duration::from_millis(50));
    controller.apply().await.unwrap();
    (twin, controller, rx)
}
