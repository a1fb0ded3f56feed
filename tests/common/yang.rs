//! Validation of RFC 7951 JSON against the ETSI GS QKD 015 V2.1.1 YANG modules with
//! `yanglint` (libyang), an independent validator. `.ci/run` installs it; a test that needs
//! it fails when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

const TYPES: &str = "etsi-qkd-node-types@2022-01-30.yang";
const NODE: &str = "etsi-qkd-sdn-node@2022-01-30.yang";

fn vendored() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/etsi015")
}

/// Which text of `etsi-qkd-sdn-node` to validate against.
#[derive(Clone, Copy, Debug)]
pub enum Modules {
    /// The modules as ETSI publishes them.
    Published,
    /// With the three `when` conditions comparing `qkdl_type` to a prefixed identity
    /// (`qkdl_type = 'etsi-qkdn-types:VIRT'`), as docs/etsi015.md explains: as published
    /// they compare an identityref with an unprefixed string, which a strict XPath
    /// evaluation never finds equal, so no virtual- or physical-link leaf could ever be set.
    WhenPrefixed,
}

fn module_dir(which: Modules) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(vendored().join(TYPES), dir.path().join(TYPES)).unwrap();
    let text = std::fs::read_to_string(vendored().join(NODE)).unwrap();
    let text = match which {
        Modules::Published => text,
        Modules::WhenPrefixed => {
            let mut out = text.clone();
            for (from, to) in [
                (
                    "when \"qkdl_type = 'VIRT'\"",
                    "when \"qkdl_type = 'etsi-qkdn-types:VIRT'\"",
                ),
                (
                    "when \"qkdl_type = 'PHYS'\"",
                    "when \"qkdl_type = 'etsi-qkdn-types:PHYS'\"",
                ),
                (
                    "when \"../qkdl_type = 'PHYS'\"",
                    "when \"../qkdl_type = 'etsi-qkdn-types:PHYS'\"",
                ),
            ] {
                assert_eq!(out.matches(from).count(), 1, "`{from}` in the module");
                out = out.replace(from, to);
            }
            out
        }
    };
    std::fs::write(dir.path().join(NODE), text).unwrap();
    dir
}

/// Validates `json` with `yanglint -t TYPE` (`data`: a whole datastore with state;
/// `config`: configuration only). Panics when yanglint is missing.
pub fn validate(which: Modules, kind: &str, json: &str) -> Result<(), String> {
    let modules = module_dir(which);
    let file = modules.path().join("instance.json");
    std::fs::write(&file, json).unwrap();
    let out = Command::new("yanglint")
        .arg("-t")
        .arg(kind)
        .arg(modules.path().join(TYPES))
        .arg(modules.path().join(NODE))
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "yanglint cannot be run ({e}); install the Debian package libyang2-tools (`.ci/run` does)"
            )
        });
    let errors: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("warn"))
        .map(str::to_string)
        .collect();
    if out.status.success() && !errors.iter().any(|l| l.contains("err")) {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// The document without the leaves the published modules put under a `when` on
/// `qkdl_type` (`virt_*`, `phys_*`, `qkdl_performance/phys_perf`).
pub fn without_when_guarded(json: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    if let Some(links) = v
        .pointer_mut("/etsi-qkd-sdn-node:qkd_node/qkd_links/qkd_link")
        .and_then(|l| l.as_array_mut())
    {
        for l in links {
            let o = l.as_object_mut().unwrap();
            o.retain(|k, _| !k.starts_with("virt_") && !k.starts_with("phys_"));
            if let Some(p) = o
                .get_mut("qkdl_performance")
                .and_then(|p| p.as_object_mut())
            {
                p.remove("phys_perf");
            }
        }
    }
    serde_json::to_string_pretty(&v).unwrap()
}
