//! Helpers shared by the tests that drive the real `strata` binary.
#![allow(dead_code)]

pub mod etcd;
pub mod twin_process;

#[allow(unused_imports)]
pub use etcd::free_port;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary, run from the workspace root without colour.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    c
}

pub fn strata(args: &[&str]) -> Output {
    bin().args(args).output().expect("the strata binary runs")
}

/// Standard output and error together, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `intents/metro.qi` with one rate changed, written to `dir` (its `use network` made
/// absolute): a second configuration of the same network.
pub fn changed_metro(dir: &Path) -> PathBuf {
    let changed = dir.join("changed.qi");
    let src =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("intents/metro.qi"))
            .unwrap()
            .replace(
                "fidelity >= 0.95, rate >= 10/s",
                "fidelity >= 0.95, rate >= 12/s",
            );
    std::fs::write(
        &changed,
        src.replace(
            "../examples/",
            &format!("{}/examples/", env!("CARGO_MANIFEST_DIR")),
        ),
    )
    .unwrap();
    changed
}
