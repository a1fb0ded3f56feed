//! One module per subcommand; each has an `Args` struct with a `run` method.

pub mod agent;
pub mod apply;
pub mod check;
pub mod compile;
pub mod diff;
pub mod fmt;
pub mod plan;
pub mod state;
pub mod status;
pub mod twin;
pub mod verify;

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

/// One network's intents, checked clean, with everything the front end read (for
/// rendering later diagnostics against the same sources).
pub struct Checked {
    pub fe: strata_compiler::frontend::Frontend,
    pub program: strata_compiler::check::Program,
    pub inventory: strata_compiler::inventory::Inventory,
}

impl Format {
    pub fn json_if(json: bool) -> Format {
        if json { Format::Json } else { Format::Human }
    }
}

/// Runs the front end on `files` and returns the one network they use when everything
/// checks clean; otherwise prints the diagnostics and returns `None`.
pub fn checked_network(
    files: &[std::path::PathBuf],
    network: Option<std::path::PathBuf>,
    format: Format,
) -> anyhow::Result<Option<Checked>> {
    let options = strata_compiler::frontend::Options { network };
    let mut fe = strata_compiler::frontend::run(files, &options, &FsLoader);
    if fe.has_errors() {
        print_diagnostics(&mut fe, format);
        return Ok(None);
    }
    let with_intents: Vec<usize> = (0..fe.networks.len())
        .filter(|&i| !fe.networks[i].units.is_empty())
        .collect();
    let idx = match with_intents.as_slice() {
        [one] => *one,
        [] => anyhow::bail!("no intent files given"),
        _ => anyhow::bail!(
            "these intent files use {} different networks; give the files of one network at a time",
            with_intents.len()
        ),
    };
    let net = fe.networks.remove(idx);
    let inventory = net
        .inventory
        .ok_or_else(|| anyhow::anyhow!("inventory missing after a clean check"))?;
    Ok(Some(Checked {
        fe,
        program: net.program,
        inventory,
    }))
}

/// Prints diagnostics sorted, to stderr for people or as JSON lines on stderr for machines.
pub fn print_diagnostics(fe: &mut strata_compiler::frontend::Frontend, format: Format) {
    crate::render::sort(&fe.sources, &mut fe.diagnostics);
    match format {
        Format::Human => eprint!("{}", crate::render::human(&fe.sources, &fe.diagnostics)),
        Format::Json => {
            for d in crate::render::json(&fe.sources, &fe.diagnostics) {
                eprintln!("{}", serde_json::to_string(&d).unwrap_or_default());
            }
        }
    }
}
