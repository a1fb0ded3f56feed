//! The state store: which generation of configuration was last applied, its digest, and
//! the documents each node runs. Behind the small [`StateStore`] trait; [`FileStore`] keeps
//! it in a JSON file with an exclusive lock file beside it so that two applies cannot
//! interleave; [`MemoryStore`] keeps it in memory for the embedded twin. The store on etcd
//! for controllers that share it ([`crate::etcd_store`]) and the choice of a store from a
//! `--state` value ([`crate::store`]) build on this module; it knows neither.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use strata_compiler::config::{ConfigSet, Summary};

/// Default location of the state file, relative to the working directory.
pub const DEFAULT_STATE_PATH: &str = ".strata/state.json";

/// What was applied last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Increases by one with every successful apply.
    pub generation: u64,
    /// Digest of `configs` (see `strata_compiler::plan::digest`).
    pub config_digest: String,
    pub network: String,
    pub configs: ConfigSet,
    /// What each node runs: the generation and digest it was last given.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeGeneration>,
    /// The compile summary of this generation: what each intent was admitted.
    #[serde(default)]
    pub summary: Option<Summary>,
    /// The generation an apply from this state decided to commit, recorded before any
    /// commit went out and cleared when the apply records its result. A node running it
    /// got it from this state's applies even if that apply died or rolled back before
    /// recording the result. The next apply resolves it: it commits the decided generation
    /// on the nodes that still hold it staged and records the apply's result, or — when
    /// that cannot be done (the apply rolled back, a node lost what it staged) — takes
    /// every node past it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<Decision>,
}

/// The coordinator's decision to commit a generation: what every node that voted for it
/// is to run, and the state to record once they all do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub generation: u64,
    pub digest: String,
    /// The nodes the generation was prepared on (each voted yes before the decision).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// The state the apply records once every one of `nodes` runs the generation. A
    /// decision without it (written by an older strata) cannot be completed, only passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Box<State>>,
    /// A commit failed and the apply rolled the committed nodes back: a node still holding
    /// the generation staged is told to abort it, not to commit it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rolled_back: bool,
}

impl Decision {
    /// Whether a node running (or holding staged) `generation` with `digest` holds this
    /// decision's generation.
    pub fn is(&self, generation: u64, digest: &str) -> bool {
        self.generation == generation && self.digest == digest
    }
}

/// The generation one node runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeGeneration {
    pub generation: u64,
    pub digest: String,
}

impl State {
    /// SHA-256 of the serialised state: what a saved plan is bound to.
    pub fn digest(&self) -> String {
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl State {
    /// The generation this state says `node` runs: what it recorded for the node, or
    /// nothing (0).
    pub fn node_generation(&self, node: &str) -> NodeGeneration {
        self.nodes.get(node).cloned().unwrap_or_default()
    }
}

/// Whether a node running `generation` with `digest` runs something `state` gave it or an
/// older generation (a node left behind catches up with the next apply). False means
/// another state file applied to it since: a generation newer than the state's, or one the
/// state knows with other contents.
pub fn knows(state: Option<&State>, node: &str, generation: u64, digest: &str) -> bool {
    if generation == 0 {
        return true;
    }
    let Some(s) = state else {
        return false;
    };
    if s.decided.as_ref().is_some_and(|d| d.is(generation, digest)) {
        return true;
    }
    if let Some(g) = s.nodes.get(node).filter(|g| g.generation == generation) {
        return g.digest == digest;
    }
    match generation.cmp(&s.generation) {
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => digest == s.config_digest,
        std::cmp::Ordering::Less => true,
    }
}

/// Digest standing for "nothing applied yet".
pub const EMPTY_STATE_DIGEST: &str = "none";

/// Digest of an optional state.
pub fn state_digest(state: Option<&State>) -> String {
    state.map_or_else(|| EMPTY_STATE_DIGEST.to_string(), State::digest)
}

#[derive(Debug)]
pub enum StoreError {
    Io(PathBuf, std::io::Error),
    Corrupt(PathBuf, String),
    Locked(PathBuf, String),
    /// An etcd store could not be read or written: its location and what etcd said.
    Etcd(String, String),
    /// A save lost the compare-and-swap: the store's location and what happened.
    Conflict(String, String),
    /// The etcd apply lock is held: the lock's key, its holder, its lease TTL in seconds.
    LeaseLocked(String, String, i64),
    /// A controller whose leadership ended tried to lock or write: the store's location and
    /// what was refused.
    Deposed(String, String),
    /// A state too large for one etcd request: the store's location, the state's size in
    /// bytes and what etcd said.
    TooLarge(String, usize, String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(p, e) => write!(f, "state store `{}`: {e}", p.display()),
            StoreError::Corrupt(p, e) => write!(
                f,
                "state file `{}` is not valid strata state ({e}); restore it from a backup or remove it to start from an empty state",
                p.display()
            ),
            StoreError::Locked(p, holder) => write!(
                f,
                "another apply is running ({holder}); wait for it to finish (its lock `{}` goes away by itself when that process ends, even if it is killed)",
                p.display()
            ),
            StoreError::Etcd(at, e) => write!(
                f,
                "state store `{at}`: {e}; check that etcd runs there and that a majority of its members are up"
            ),
            StoreError::Conflict(at, e) | StoreError::Deposed(at, e) => {
                write!(f, "state store `{at}`: {e}")
            }
            StoreError::TooLarge(at, bytes, e) => write!(
                f,
                "state store `{at}`: the state is {:.1} MiB, more than the etcd cluster takes in one request ({e}); nothing was written. Start every etcd member with a larger `--max-request-bytes` (the default is 1.5 MiB), e.g. `--max-request-bytes {}`",
                *bytes as f64 / (1024.0 * 1024.0),
                (bytes * 2).next_power_of_two()
            ),
            StoreError::LeaseLocked(key, holder, ttl) => write!(
                f,
                "another apply is running ({holder}); wait for it to finish. If that process died, its lock `{key}` goes away by itself within {ttl} s when its etcd lease expires"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// Where state lives. A store is `'static` ([`std::any::Any`]) so that what only one kind
/// of store offers can be reached from a `dyn StateStore` (see
/// [`crate::etcd_store::EtcdStore::of`]).
pub trait StateStore: std::any::Any {
    fn load(&self) -> Result<Option<State>, StoreError>;
    fn save(&self, state: &State) -> Result<(), StoreError>;
    /// Takes the exclusive lock; it is released when the guard drops.
    fn lock(&self, holder: &str) -> Result<LockGuard, StoreError>;
}

/// A JSON file, replaced atomically on save, with `<file>.lock` as the lock.
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }
}

/// Holds the store's lock until dropped.
#[derive(Debug)]
pub struct LockGuard {
    release: Release,
}

#[derive(Debug)]
enum Release {
    /// The lock file and the open file holding its lock.
    File(PathBuf, std::fs::File),
    Memory(std::sync::Arc<std::sync::Mutex<bool>>),
    Call(Releaser),
}

impl LockGuard {
    /// A guard that runs `release` when dropped (for stores kept elsewhere).
    pub fn releasing(release: impl FnOnce() + Send + 'static) -> Self {
        LockGuard {
            release: Release::Call(Releaser(Some(Box::new(release)))),
        }
    }
}

/// What a [`LockGuard::releasing`] guard runs on drop.
struct Releaser(Option<Box<dyn FnOnce() + Send>>);

impl std::fmt::Debug for Releaser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Releaser")
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        match &mut self.release {
            Release::File(path, _file) => {
                // Removed while still locked; the lock goes when the file is closed. A
                // contender that opened the old file sees it is gone and tries again.
                #[cfg(unix)]
                let _ = std::fs::remove_file(path);
                #[cfg(not(unix))]
                let _ = (path, _file.set_len(0));
            }
            Release::Memory(flag) => {
                if let Ok(mut f) = flag.lock() {
                    *f = false;
                }
            }
            Release::Call(r) => {
                if let Some(release) = r.0.take() {
                    release();
                }
            }
        }
    }
}

impl StateStore for FileStore {
    fn load(&self) -> Result<Option<State>, StoreError> {
        match crate::input_file::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(self.path.clone(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io(self.path.clone(), e)),
        }
    }

    fn save(&self, state: &State) -> Result<(), StoreError> {
        let io = |e| StoreError::Io(self.path.clone(), e);
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| StoreError::Corrupt(self.path.clone(), e.to_string()))?;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// An exclusive lock (`flock`) on `<file>.lock`, which names the holder while it is
    /// held. The operating system releases the lock when the holder's process ends, however
    /// it ends, so an apply killed with `kill -9` leaves no lock behind to remove by hand.
    fn lock(&self, holder: &str) -> Result<LockGuard, StoreError> {
        let path = self.lock_path();
        let io = |e| StoreError::Io(path.clone(), e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // A releasing holder removes the file while it still holds the lock: a lock taken
        // on a file that is no longer at the path is no lock, and is taken again.
        for _ in 0..8 {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            match f.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let who = std::fs::read_to_string(&path).unwrap_or_default();
                    return Err(StoreError::Locked(path, who.trim().to_string()));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
            if !same_file(&f, &path) {
                continue;
            }
            f.set_len(0).map_err(io)?;
            writeln!(f, "{holder}").map_err(io)?;
            return Ok(LockGuard {
                release: Release::File(path, f),
            });
        }
        Err(StoreError::Locked(
            path,
            "the lock file keeps being replaced".into(),
        ))
    }
}

/// Whether `file` is still the file at `path`.
#[cfg(unix)]
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Without inode numbers to compare, the lock file is never removed (see [`LockGuard`]),
/// so the file locked is the one at the path.
#[cfg(not(unix))]
fn same_file(_file: &std::fs::File, _path: &Path) -> bool {
    true
}

/// State kept in memory only: the embedded twin's store, gone with the process.
#[derive(Default)]
pub struct MemoryStore {
    state: std::sync::Mutex<Option<State>>,
    locked: std::sync::Arc<std::sync::Mutex<bool>>,
}

impl StateStore for MemoryStore {
    fn load(&self) -> Result<Option<State>, StoreError> {
        Ok(self.state.lock().map(|s| s.clone()).unwrap_or_default())
    }

    fn save(&self, state: &State) -> Result<(), StoreError> {
        if let Ok(mut s) = self.state.lock() {
            *s = Some(state.clone());
        }
        Ok(())
    }

    fn lock(&self, holder: &str) -> Result<LockGuard, StoreError> {
        let mut locked = self
            .locked
            .lock()
            .map_err(|_| StoreError::Locked(PathBuf::from("memory"), holder.to_string()))?;
        if *locked {
            return Err(StoreError::Locked(
                PathBuf::from("memory"),
                "another apply in this process".into(),
            ));
        }
        *locked = true;
        Ok(LockGuard {
            release: Release::Memory(self.locked.clone()),
        })
    }
}

/// Documents per node as an agent receives them: stratum name → YAML.
pub fn node_documents(configs: &ConfigSet) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (path, text) in configs.render() {
        if let Some((node, file)) = path.split_once('/') {
            out.entry(node.to_string())
                .or_default()
                .insert(file.trim_end_matches(".yaml").to_string(), text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_state_is_none_and_saved_state_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("s/state.json"));
        assert_eq!(store.load().unwrap(), None);
        let state = State {
            generation: 3,
            config_digest: "abc".into(),
            network: "n".into(),
            ..State::default()
        };
        store.save(&state).unwrap();
        assert_eq!(store.load().unwrap(), Some(state.clone()));
        assert_ne!(state.digest(), state_digest(None));
    }

    #[test]
    fn a_second_lock_fails_until_the_first_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("state.json"));
        let guard = store.lock("apply pid 1").unwrap();
        let err = store.lock("apply pid 2").unwrap_err();
        assert!(err.to_string().contains("apply pid 1"), "{err}");
        drop(guard);
        store.lock("apply pid 3").unwrap();
    }

    #[test]
    fn a_lock_file_whose_holder_is_gone_is_no_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("state.json"));
        // What a holder killed with SIGKILL leaves: the file, naming it, and no lock on it.
        let lock_file = dir.path().join("state.json.lock");
        std::fs::write(&lock_file, "strata apply, pid 999999\n").unwrap();
        let guard = store.lock("apply pid 2").unwrap();
        assert_eq!(
            std::fs::read_to_string(&lock_file).unwrap(),
            "apply pid 2\n"
        );
        // A holder that is alive keeps it, whatever file handles others open.
        let other = std::fs::File::open(&lock_file).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        ));
        drop(guard);
        assert!(!lock_file.exists());
        store.lock("apply pid 3").unwrap();
    }

    #[test]
    fn corrupt_state_is_reported_not_panicked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"\xff\x00not json").unwrap();
        let err = FileStore::new(&path).load().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(..)));
    }
}
