//! One module per subcommand; each has an `Args` struct with a `run` method.

pub mod check;
pub mod fmt;

use std::path::Path;
use strata_compiler::frontend::SourceLoader;

/// Reads source files from disk for the compiler's front end.
pub struct FsLoader;

impl SourceLoader for FsLoader {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// How diagnostics and reports are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Human,
    Json,
}
