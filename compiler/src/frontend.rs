//! The front half of the pipeline over a set of files: read each intent file through a
//! [`SourceLoader`], parse it, find the inventory it names with `use network`, load that
//! inventory once, and check all intent files that share it together. All reading goes
//! through the loader so the compiler itself does no IO.

use crate::check::{self, Program};
use crate::inventory::{self, Inventory};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use strata_grammar::ast::{Item, SourceUnit};
use strata_grammar::{Diagnostic, FileId, Sources, Span};

/// Where the front end gets file contents from.
pub trait SourceLoader {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
}

pub mod codes {
    pub const IO: &str = "strata::io";
    pub const NOT_UTF8: &str = "strata::not-utf8";
    pub const MISSING_NETWORK: &str = "strata::missing-network";
    pub const DUPLICATE_NETWORK: &str = "strata::duplicate-network";
}

/// One inventory and the intent files that use it.
#[derive(Debug)]
pub struct Network {
    pub path: PathBuf,
    pub file: Option<FileId>,
    pub inventory: Option<Inventory>,
    pub units: Vec<SourceUnit>,
    pub program: Program,
}

/// Everything the front end read and understood in one run.
#[derive(Debug, Default)]
pub struct Frontend {
    pub sources: Sources,
    pub networks: Vec<Network>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Frontend {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }
}

/// Options of a front-end run.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Use this inventory for every intent file, whatever its `use network` says.
    pub network: Option<PathBuf>,
}

/// Reads, parses and checks `paths`. Files ending in `.yaml`/`.yml` are checked as
/// inventories; everything else as intent files.
pub fn run(paths: &[PathBuf], options: &Options, loader: &dyn SourceLoader) -> Frontend {
    let mut fe = Frontend::default();
    let mut groups: BTreeMap<PathBuf, Vec<SourceUnit>> = BTreeMap::new();
    let mut inventories_only: Vec<PathBuf> = Vec::new();
    for path in paths {
        if is_inventory(path) {
            inventories_only.push(normalize(path));
            continue;
        }
        let Some((file, text)) = read(&mut fe, path, loader) else {
            continue;
        };
        let (unit, diags) = strata_grammar::parse(file, &text);
        fe.diagnostics.extend(diags);
        let network = match &options.network {
            Some(n) => Some(normalize(n)),
            None => network_of(&unit, path, file, &mut fe.diagnostics),
        };
        if let Some(network) = network {
            groups.entry(network).or_default().push(unit);
        }
    }
    for path in inventories_only {
        groups.entry(path).or_default();
    }
    for (path, units) in groups {
        let (file, inventory) = match read(&mut fe, &path, loader) {
            Some((file, text)) => {
                let (inv, diags) = inventory::load(file, &text);
                let failed = diags.iter().any(Diagnostic::is_error);
                fe.diagnostics.extend(diags);
                // Intents are only checked against an inventory without errors.
                (Some(file), inv.filter(|_| !failed))
            }
            None => (None, None),
        };
        let program = match &inventory {
            Some(inv) => {
                let refs: Vec<&SourceUnit> = units.iter().collect();
                let (program, diags) = check::check(&refs, inv);
                fe.diagnostics.extend(diags);
                program
            }
            None => Program::default(),
        };
        fe.networks.push(Network {
            path,
            file,
            inventory,
            units,
            program,
        });
    }
    fe
}

fn is_inventory(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Reads and decodes one file into `fe.sources`; reports unreadable or non-UTF-8 files.
fn read(fe: &mut Frontend, path: &Path, loader: &dyn SourceLoader) -> Option<(FileId, String)> {
    let name = path.display().to_string();
    if let Some(file) = fe.sources.find(&name) {
        return Some((file, fe.sources.get(file).text.clone()));
    }
    match loader.read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => {
                let file = fe.sources.add(name, text.clone());
                Some((file, text))
            }
            Err(err) => {
                let at = err.utf8_error().valid_up_to();
                let lossy = String::from_utf8_lossy(err.as_bytes()).into_owned();
                let start = String::from_utf8_lossy(&err.as_bytes()[..at]).len();
                let file = fe.sources.add(name.clone(), lossy);
                fe.diagnostics.push(
                    Diagnostic::error(
                        codes::NOT_UTF8,
                        Span::new(file, start, start),
                        format!("`{name}` is not UTF-8 text (bad byte at offset {at})"),
                    )
                    .label("invalid UTF-8 starts here")
                    .help("intent files and inventories are UTF-8 text; is this a binary file?"),
                );
                None
            }
        },
        Err(err) => {
            let file = fe.sources.add(name.clone(), String::new());
            fe.diagnostics.push(
                Diagnostic::error(
                    codes::IO,
                    Span::new(file, 0, 0),
                    format!("cannot read `{name}`: {err}"),
                )
                .label("unreadable")
                .help("check the path and its permissions"),
            );
            None
        }
    }
}

/// The inventory path an intent file names, relative to the file's folder.
fn network_of(
    unit: &SourceUnit,
    path: &Path,
    file: FileId,
    diags: &mut Vec<Diagnostic>,
) -> Option<PathBuf> {
    let uses: Vec<_> = unit
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Use(u) => Some(u),
            _ => None,
        })
        .collect();
    match uses.as_slice() {
        [] => {
            if !unit.items.is_empty() {
                diags.push(
                    Diagnostic::error(codes::MISSING_NETWORK, Span::new(file, 0, 0), "this intent file does not say which network it is for")
                        .label("no `use network` line")
                        .help("start the file with `use network \"path/to/network.yaml\"`, or pass `--network FILE`"),
                );
            }
            None
        }
        [first, rest @ ..] => {
            for u in rest {
                diags.push(
                    Diagnostic::error(
                        codes::DUPLICATE_NETWORK,
                        u.span,
                        "an intent file uses one network",
                    )
                    .label("second `use network`")
                    .related(first.span, "first one here")
                    .help("split the intents into one file per network"),
                );
            }
            let dir = path.parent().unwrap_or(Path::new(""));
            Some(normalize(&dir.join(&first.path)))
        }
    }
}

/// Lexically removes `.` and `name/..` from a path (no file system access).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}
