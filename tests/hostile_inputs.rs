//! A generated corpus of hostile inputs through the real `strata check`, `fmt --check` and
//! `compile`: a name of a million characters, nesting 100,000 deep, NUL bytes, invalid
//! UTF-8, a file with CR-only line ends, 100,000 copies of one intent, a 10 MB line, a
//! file past the 64 MiB input limit (sparse, as `/dev/zero` would feed it), `/dev/zero`
//! itself, a FIFO with no writer, a directory, a symlink loop, and inventories that are an
//! alias bomb, nested 100,000 deep, a FIFO or a directory. Each run is bounded in address
//! space (`ulimit -v`) and in time (killed after [`LIMIT`] = a failure); none may panic
//! (exit 101, or "panicked" on stderr), and each must end with a diagnostic that names the
//! problem. The parser's and loader's own properties are in `grammar/tests/robustness.rs`
//! and `compiler/tests/inventory.rs`; this is the binary around them.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Wall-clock bound of one run: only a hang or a pathological slowdown reaches it.
const LIMIT: Duration = Duration::from_secs(120);

/// Address-space bound of one run, in KiB (4 GiB).
const MEMORY_KIB: u64 = 4 * 1024 * 1024;

/// One hostile input: the file given to strata, and what its diagnostic must say.
struct Case {
    name: &'static str,
    path: PathBuf,
    /// Said by `check` and `compile` (stdout or stderr).
    says: &'static str,
    /// Said by `fmt --check`, which reads no inventory: `None` when the intent file itself
    /// is fine to format (its problem is in the inventory or in a check).
    fmt_says: Option<&'static str>,
}

const USE: &str = "use network \"net.yaml\"\n";
const INTENT: &str = "intent a: keys of 256 bits between Moncloa and Leganes, 10/s\n";

fn corpus(dir: &Path) -> Vec<Case> {
    let w = |name: &str, bytes: Vec<u8>| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/metro/network.yaml"),
        dir.join("net.yaml"),
    )
    .unwrap();
    let uses = |network: &str| format!("use network \"{network}\"\n{INTENT}").into_bytes();
    let cat = |parts: &[&[u8]]| parts.concat();
    let mut cases = vec![
        Case {
            name: "a name of a million characters",
            path: w(
                "huge-name.qi",
                cat(&[
                    USE.as_bytes(),
                    b"intent ",
                    &vec![b'a'; 1_000_000],
                    b": keys of 256 bits between Moncloa and Leganes, 10/s\n",
                ]),
            ),
            says: "more than the 256 a name may have",
            fmt_says: None,
        },
        Case {
            name: "braces nested 100,000 deep",
            path: w(
                "deep-braces.qi",
                cat(&[
                    USE.as_bytes(),
                    b"intent a ",
                    &vec![b'{'; 100_000],
                    &vec![b'}'; 100_000],
                ]),
            ),
            says: "expected",
            fmt_says: Some("expected"),
        },
        Case {
            name: "parentheses nested 100,000 deep",
            path: w(
                "deep-parens.qi",
                cat(&[
                    USE.as_bytes(),
                    b"intent a: keys of 256 bits between ",
                    &vec![b'('; 100_000],
                ]),
            ),
            says: "expected",
            fmt_says: Some("expected"),
        },
        Case {
            name: "NUL bytes",
            path: w(
                "nul.qi",
                cat(&[USE.as_bytes(), b"intent a: keys\0\0 of 256 bits\n\0"]),
            ),
            says: "expected",
            fmt_says: Some("expected"),
        },
        Case {
            name: "invalid UTF-8",
            path: w(
                "not-utf8.qi",
                cat(&[USE.as_bytes(), b"intent a\xff\xfe: keys of 256 bits\n"]),
            ),
            says: "not UTF-8",
            fmt_says: Some("not UTF-8"),
        },
        Case {
            name: "CR-only line ends",
            path: w(
                "cr-only.qi",
                format!("{USE}{INTENT}").replace('\n', "\r").into_bytes(),
            ),
            // A valid file: it checks clean, and `fmt --check` lists it as unformatted.
            says: "",
            fmt_says: Some("cr-only.qi"),
        },
        Case {
            name: "100,000 copies of one intent",
            path: w(
                "duplicates.qi",
                cat(&[USE.as_bytes(), INTENT.repeat(100_000).as_bytes()]),
            ),
            says: "intent `a` is defined twice",
            fmt_says: None,
        },
        Case {
            name: "a line of 10 MB",
            path: w(
                "long-line.qi",
                cat(&[
                    USE.as_bytes(),
                    INTENT.trim_end().as_bytes(),
                    b" ",
                    &vec![b'x'; 10_000_000],
                    b"\n",
                ]),
            ),
            says: "expected",
            fmt_says: Some("expected"),
        },
        Case {
            name: "an inventory that is an alias bomb",
            path: w("uses-bomb.qi", uses("bomb.yaml")),
            says: "bomb.yaml",
            fmt_says: None,
        },
        Case {
            name: "an inventory nested 100,000 deep",
            path: w("uses-deep.qi", uses("deep.yaml")),
            says: "deep.yaml",
            fmt_says: None,
        },
        Case {
            name: "an inventory that is a FIFO",
            path: w("uses-fifo.qi", uses("fifo")),
            says: "FIFO",
            fmt_says: None,
        },
        Case {
            name: "an inventory that is a directory",
            path: w("uses-dir.qi", uses("a-directory")),
            says: "a directory",
            fmt_says: None,
        },
        Case {
            name: "an inventory that is /dev/zero",
            path: w("uses-zero.qi", uses("/dev/zero")),
            says: "character device",
            fmt_says: None,
        },
    ];
    let bomb: String = "a: &a [x, x, x, x, x, x, x, x, x]\n".to_string()
        + &(b'b'..=b'k')
            .map(|c| {
                let (c, p) = (c as char, (c - 1) as char);
                format!("{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n")
            })
            .collect::<String>();
    w("bomb.yaml", bomb.into_bytes());
    w(
        "deep.yaml",
        cat(&[b"name: ", &vec![b'['; 100_000], &vec![b']'; 100_000]]),
    );
    std::fs::create_dir(dir.join("a-directory")).unwrap();
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Past the input limit, without taking the disk: a sparse file of zeros.
    let big = dir.join("big.qi");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(strata_runtime::input_file::MAX_INPUT_BYTES + 1)
        .unwrap();
    let looped = dir.join("loop.qi");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    cases.extend([
        Case {
            name: "a file past the input limit",
            path: big,
            says: "larger than",
            fmt_says: Some("larger than"),
        },
        Case {
            name: "/dev/zero",
            path: PathBuf::from("/dev/zero"),
            says: "character device",
            fmt_says: Some("character device"),
        },
        Case {
            name: "a FIFO with no writer",
            path: fifo,
            says: "FIFO",
            fmt_says: Some("FIFO"),
        },
        Case {
            name: "a directory",
            path: dir.join("a-directory"),
            says: "a directory",
            fmt_says: Some("a directory"),
        },
        Case {
            name: "a symlink loop",
            path: looped,
            says: "loop.qi",
            fmt_says: Some("loop.qi"),
        },
    ]);
    cases
}

/// Runs `program` with `args` in `dir` with its address space bounded to `memory_kib`,
/// killing it after `limit`: its exit code (-1 for a signal) and output, or why it failed.
fn bounded(
    program: &Path,
    args: &[&OsStr],
    dir: &Path,
    limit: Duration,
    memory_kib: u64,
) -> Result<(i32, String, String), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {memory_kib} && exec \"$0\" \"$@\""))
        .arg(program)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read = |r: &mut dyn Read| {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    };
    // Both pipes are read on threads, so a chatty child never blocks on a full pipe.
    std::thread::scope(|s| {
        let stdout = s.spawn(|| read(&mut out));
        let stderr = s.spawn(|| read(&mut err));
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
        match status {
            Some(status) => Ok((status.code().unwrap_or(-1), stdout, stderr)),
            None => Err(format!("still running after {} s, killed", limit.as_secs())),
        }
    })
}

/// strata under [`LIMIT`] and [`MEMORY_KIB`].
fn strata_bounded(dir: &Path, args: &[&OsStr]) -> Result<(i32, String, String), String> {
    bounded(
        Path::new(env!("CARGO_BIN_EXE_strata")),
        args,
        dir,
        LIMIT,
        MEMORY_KIB,
    )
}

#[test]
fn the_bounds_stop_a_run_that_hangs_or_takes_too_much_memory() {
    let dir = tempfile::tempdir().unwrap();
    let hung = bounded(
        Path::new("sleep"),
        &["600".as_ref()],
        dir.path(),
        Duration::from_secs(1),
        MEMORY_KIB,
    );
    assert!(hung.unwrap_err().contains("killed"));
    // dd takes a buffer of one block: 8 GiB is past the bound, and it cannot have it.
    let (code, _, stderr) = bounded(
        Path::new("dd"),
        &["if=/dev/zero", "of=/dev/null", "bs=8G", "count=1"].map(OsStr::new),
        dir.path(),
        LIMIT,
        MEMORY_KIB,
    )
    .unwrap();
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("memory"), "{stderr}");
}

#[test]
fn hostile_inputs_end_in_a_diagnostic_without_panic_hang_or_runaway_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let mut failures = Vec::new();
    for case in corpus(dir.path()) {
        let file = case.path.as_os_str();
        let runs: [(&str, Vec<&OsStr>, Option<&str>); 3] = [
            ("check", vec!["check".as_ref(), file], Some(case.says)),
            (
                "fmt --check",
                vec!["fmt".as_ref(), "--check".as_ref(), file],
                case.fmt_says,
            ),
            (
                "compile",
                vec!["compile".as_ref(), file, "-o".as_ref(), out_dir.as_os_str()],
                Some(case.says),
            ),
        ];
        for (command, args, says) in runs {
            let what = format!("`strata {command}` of {}", case.name);
            match strata_bounded(dir.path(), &args) {
                Err(e) => failures.push(format!("{what}: {e}")),
                Ok((code, stdout, stderr)) => {
                    let said = format!("{stdout}{stderr}");
                    if code == 101 || stderr.contains("panicked") {
                        failures.push(format!("{what} panicked: {}", tail(&stderr)));
                    } else if let Some(says) = says.filter(|s| !s.is_empty()) {
                        if code == 0 || !said.contains(says) {
                            failures.push(format!(
                                "{what} exited {code} without saying `{says}`: {}",
                                tail(&said)
                            ));
                        }
                    } else if says.is_some() && code != 0 {
                        failures.push(format!("{what} exited {code}: {}", tail(&said)));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The end of a long output, for a failure message.
fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(600);
    let start = (start..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    &s[start..]
}
