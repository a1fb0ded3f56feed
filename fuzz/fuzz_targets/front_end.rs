//! Fuzz target: the whole front end of `strata check` — an intent file of any bytes
//! against the metro example network: parse, names, units, policies, reachability. It must
//! never panic, and a file it cannot read as text is one diagnostic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use strata_compiler::frontend::{self, Options, SourceLoader};

const METRO: &str = include_str!("../../examples/metro/network.yaml");

/// The fuzzer's bytes as `x.qi`, the metro network as `network.yaml`.
struct Memory<'a>(&'a [u8]);

impl SourceLoader for Memory<'_> {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        if path.extension().is_some_and(|e| e == "yaml") {
            Ok(METRO.as_bytes().to_vec())
        } else {
            Ok(self.0.to_vec())
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut text = b"use network \"network.yaml\"\n".to_vec();
    text.extend_from_slice(data);
    let fe = frontend::run(&[PathBuf::from("x.qi")], &Options::default(), &Memory(&text));
    let _ = fe.has_errors();
});
