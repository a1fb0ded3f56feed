//! Helpers shared by the tests that drive the real `strata` binary.
#![allow(dead_code)]

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
