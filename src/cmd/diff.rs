//! `strata diff`: what a change to intents and/or the inventory does to every intent — for
//! pull-request comments and CI gates. Both revisions are checked and compiled here; the
//! comparison is `strata_compiler::change`. With `--git REV` the base is read from a git
//! revision through [`GitLoader`].

use super::FsLoader;
use crate::{Outcome, render};
use anyhow::{Context, bail};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use strata_compiler::change::{
    self, Change, IntentChange, Report, Snapshot, Verdict, admission_name, num,
};
use strata_compiler::check::codes::NO_ALLOWED_PATH;
use strata_compiler::frontend::{self, Frontend, Options, SourceLoader, normalize};
use strata_grammar::Diagnostic;

/// Compare what two revisions of the intents and inventory admit, intent by intent.
#[derive(clap::Args)]
pub struct Args {
    /// BASE and HEAD, each an intent file or a directory (every `*.qi` in it, recursively);
    /// with `--git`, the intent files or directories to compare against REV.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Read the base of PATH… (and the inventories they use) from this git revision of the
    /// repository the current directory is in; the head is the working tree.
    #[arg(long, value_name = "REV")]
    git: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: DiffFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Aligned text for a terminal.
    #[default]
    Human,
    /// A table for a pull-request comment.
    Markdown,
    /// The report for machines.
    Json,
}

#[derive(Serialize)]
struct JsonErrors {
    ok: bool,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<render::JsonDiagnostic>,
}

/// One revision after the front end.
struct Revision {
    label: String,
    fe: Frontend,
}

impl Revision {
    fn load(label: String, files: &[PathBuf], loader: &dyn SourceLoader) -> Revision {
        let mut fe = frontend::run(files, &Options::default(), loader);
        render::sort(&fe.sources, &mut fe.diagnostics);
        Revision { label, fe }
    }

    /// Errors that stop the comparison: everything but an intent with no allowed path,
    /// which the comparison shows as rejected.
    fn blocking(&self) -> usize {
        self.fe
            .diagnostics
            .iter()
            .filter(|d| d.is_error() && d.code != NO_ALLOWED_PATH)
            .count()
    }

    fn snapshot(mut self) -> anyhow::Result<Snapshot> {
        let unservable: Vec<(String, String)> = self
            .fe
            .diagnostics
            .iter()
            .filter(|d| d.is_error() && d.code == NO_ALLOWED_PATH)
            .map(|d| (span_text(&self.fe, d), d.message.clone()))
            .collect();
        let with_intents: Vec<usize> = (0..self.fe.networks.len())
            .filter(|&i| !self.fe.networks[i].units.is_empty())
            .collect();
        let mut snap = match with_intents.as_slice() {
            [] => Snapshot::default(),
            [one] => {
                let net = self.fe.networks.remove(*one);
                let inventory = net
                    .inventory
                    .ok_or_else(|| anyhow::anyhow!("inventory missing after a clean check"))?;
                let assessed = strata_compiler::assess::assess(
                    &net.program,
                    &inventory,
                    &strata_compiler::assess::Options::default(),
                );
                let mut snap = Snapshot::new(&net.program, &inventory, &assessed.compiled);
                snap.assertions = assessed.assertions.into_iter().collect();
                snap
            }
            _ => bail!(
                "the {} intents use {} different networks; compare the files of one network at a time",
                self.label,
                with_intents.len()
            ),
        };
        for (name, reason) in unservable {
            snap.add_unservable(&name, &reason);
        }
        Ok(snap)
    }
}

/// The source text a diagnostic points at (the intent name, for `no-allowed-path`).
fn span_text(fe: &Frontend, d: &Diagnostic) -> String {
    let text = &fe.sources.get(d.span.file).text;
    text.get(d.span.start..d.span.end)
        .unwrap_or_default()
        .to_string()
}

impl Args {
    pub fn run(self) -> anyhow::Result<Outcome> {
        let (base, head) = match &self.git {
            None => {
                let [base, head] = self.paths.as_slice() else {
                    bail!(
                        "give two paths, BASE and HEAD (intent files or directories), or `--git REV FILE…`"
                    );
                };
                (
                    Revision::load(
                        format!("base ({})", base.display()),
                        &intent_files(base)?,
                        &FsLoader,
                    ),
                    Revision::load(
                        format!("head ({})", head.display()),
                        &intent_files(head)?,
                        &FsLoader,
                    ),
                )
            }
            Some(rev) => {
                let git = GitLoader::open(rev)?;
                let mut base_files = Vec::new();
                let mut head_files = Vec::new();
                for p in &self.paths {
                    head_files.extend(intent_files(p)?);
                    base_files.extend(git.intent_files(p)?);
                }
                (
                    Revision::load(format!("base ({rev})"), &base_files, &git),
                    Revision::load("head (working tree)".into(), &head_files, &FsLoader),
                )
            }
        };
        if base.blocking() > 0 || head.blocking() > 0 {
            self.print_errors(&[&base, &head]);
            return Ok(Outcome::Failed);
        }
        let report = change::compare(&base.snapshot()?, &head.snapshot()?);
        match self.format {
            DiffFormat::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
            DiffFormat::Human => out!("{}", human(&report)),
            DiffFormat::Markdown => out!("{}", markdown(&report)),
        }
        Ok(if report.worse {
            Outcome::Changes
        } else {
            Outcome::Ok
        })
    }

    fn print_errors(&self, revisions: &[&Revision]) {
        let failing: Vec<&&Revision> = revisions.iter().filter(|r| r.blocking() > 0).collect();
        match self.format {
            DiffFormat::Json => {
                let diagnostics: Vec<render::JsonDiagnostic> = failing
                    .iter()
                    .flat_map(|r| render::json(&r.fe.sources, &r.fe.diagnostics))
                    .collect();
                let errors = failing.iter().map(|r| r.fe.error_count()).sum();
                let warnings = failing.iter().map(|r| r.fe.warning_count()).sum();
                let report = JsonErrors {
                    ok: false,
                    errors,
                    warnings,
                    diagnostics,
                };
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("report serialises")
                );
            }
            DiffFormat::Human | DiffFormat::Markdown => {
                for r in failing {
                    eprint!("{}", render::human(&r.fe.sources, &r.fe.diagnostics));
                    eprintln!(
                        "error: the {} does not check ({} error(s), {} warning(s)); nothing was compared",
                        r.label,
                        r.fe.error_count(),
                        r.fe.warning_count()
                    );
                    if r.fe.diagnostics.iter().any(|d| {
                        d.is_error()
                            && (d.code.ends_with("unknown-link")
                                || d.code.ends_with("unknown-node"))
                    }) {
                        eprintln!(
                            "note: an intent names a link or node its inventory does not have; when the inventory drops one, change the intents that name it (`avoid`, `via`) in the same change"
                        );
                    }
                }
            }
        }
    }
}

/// An intent file as given, or every `*.qi` under a directory, sorted.
fn intent_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read `{}`", dir.display()))?
        {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "qi") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads files as they are in one git revision (`git show REV:PATH`). Paths are taken
/// relative to the current directory, as the working-tree side reads them, and mapped to
/// the repository root.
pub struct GitLoader {
    rev: String,
    toplevel: PathBuf,
    prefix: PathBuf,
}

fn git(args: &[&str], dir: Option<&Path>) -> anyhow::Result<std::process::Output> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    cmd.args(args)
        .output()
        .with_context(|| format!("cannot run `git {}`", args.join(" ")))
}

fn git_line(args: &[&str]) -> anyhow::Result<String> {
    let out = git(args, None)?;
    if !out.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

impl GitLoader {
    pub fn open(rev: &str) -> anyhow::Result<GitLoader> {
        let toplevel = PathBuf::from(git_line(&["rev-parse", "--show-toplevel"])?);
        let prefix = PathBuf::from(git_line(&["rev-parse", "--show-prefix"])?);
        // Resolve the revision once, so that a typo is one clear error.
        git_line(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .with_context(|| format!("`{rev}` is not a revision of this repository"))?;
        Ok(GitLoader {
            rev: rev.to_string(),
            toplevel,
            prefix,
        })
    }

    /// `path` (relative to the current directory, or absolute inside the repository) as a
    /// path from the repository root.
    fn repo_path(&self, path: &Path) -> std::io::Result<String> {
        let rel = if path.is_absolute() {
            let canonical_top = self.toplevel.canonicalize()?;
            let p = normalize(path);
            let stripped = p
                .strip_prefix(&self.toplevel)
                .or_else(|_| p.strip_prefix(&canonical_top))
                .map(Path::to_path_buf);
            match stripped {
                Ok(s) => s,
                Err(_) => {
                    let c = p.canonicalize()?;
                    c.strip_prefix(&canonical_top)
                        .map(Path::to_path_buf)
                        .map_err(|_| outside(path))?
                }
            }
        } else {
            normalize(&self.prefix.join(path))
        };
        if rel.starts_with("..") {
            return Err(outside(path));
        }
        if rel == Path::new(".") {
            return Ok(String::new());
        }
        Ok(rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"))
    }

    fn exists(&self, path: &Path) -> bool {
        self.repo_path(path).is_ok_and(|p| {
            git(
                &["cat-file", "-e", &format!("{}:{p}", self.rev)],
                Some(&self.toplevel),
            )
            .is_ok_and(|o| o.status.success())
        })
    }

    /// The base side of one PATH argument: the file, if it exists at the revision (a file
    /// the revision does not have contributes nothing: its intents are added), or every
    /// `*.qi` under the directory at the revision.
    fn intent_files(&self, path: &Path) -> anyhow::Result<Vec<PathBuf>> {
        if !path.is_dir() {
            return Ok(if self.exists(path) {
                vec![path.to_path_buf()]
            } else {
                Vec::new()
            });
        }
        let repo = self.repo_path(path)?;
        let mut args = vec!["ls-tree", "-r", "--name-only", "--full-name", &self.rev];
        if !repo.is_empty() {
            args.extend(["--", &repo]);
        }
        let out = git(&args, Some(&self.toplevel))?;
        if !out.status.success() {
            bail!(
                "cannot list `{}` at {}: {}",
                path.display(),
                self.rev,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let mut files: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.ends_with(".qi"))
            .filter_map(|l| {
                // Back to a path relative to the current directory, as the head names it.
                let under = Path::new(l).strip_prefix(&repo).ok()?;
                Some(path.join(under))
            })
            .collect();
        files.sort();
        Ok(files)
    }
}

fn outside(path: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("`{}` is outside the git repository", path.display()),
    )
}

impl SourceLoader for GitLoader {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        let repo = self.repo_path(path)?;
        let spec = format!("{}:{repo}", self.rev);
        let out = git(&["show", &spec], Some(&self.toplevel))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        if !out.status.success() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "not in git revision {}: {}",
                    self.rev,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        Ok(out.stdout)
    }
}

// ---------------------------------------------------------------- rendering

/// `a`, or `a → b` when the two differ; `–` for a missing value.
fn moved<T: PartialEq>(c: &Change<T>, show: impl Fn(&T) -> String) -> String {
    if c.changed() {
        format!("{} → {}", show(&c.before), show(&c.after))
    } else {
        show(&c.after)
    }
}

fn opt_num(v: &Option<f64>, decimals: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.decimals$}"))
}

fn cells(i: &IntentChange) -> [String; 7] {
    let protection = i.protection.as_ref().map_or("–".into(), |p| {
        let side = |c: Option<u32>, w: Option<u32>| match (c, w) {
            (Some(c), Some(w)) => format!("{c} of {w}"),
            _ => "–".into(),
        };
        let (b, a) = (
            side(p.configured.before, p.wanted.before),
            side(p.configured.after, p.wanted.after),
        );
        if b == a { a } else { format!("{b} → {a}") }
    });
    // An intent the head cannot serve at all has no known request: show the base's.
    let requested = if i.requested.after.is_some() {
        moved(&i.requested, opt_rate)
    } else {
        opt_rate(&i.requested.before)
    };
    [
        i.verdict.as_str().to_string(),
        requested,
        moved(&i.admitted, opt_rate),
        moved(&i.admission, |a| {
            a.map_or("–".into(), |a| admission_name(a).into())
        }),
        moved(&i.fidelity, |f| opt_num(f, 4)),
        moved(&i.latency_ms, |l| opt_num(l, 2)),
        protection,
    ]
}

fn opt_rate(v: &Option<f64>) -> String {
    v.map_or("–".into(), num)
}

fn chains(paths: &[Vec<String>]) -> String {
    if paths.is_empty() {
        return "(none)".into();
    }
    paths
        .iter()
        .map(|p| p.join("→"))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn pct(v: &Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1} %"))
}

fn summary_line(r: &Report) -> String {
    let c = &r.counts;
    format!(
        "{} worse, {} better, {} same, {} added, {} removed",
        c.worse, c.better, c.same, c.added, c.removed
    )
}

/// Aligned text: one row per intent with its details indented below it.
pub fn human(r: &Report) -> String {
    let mut out = String::new();
    if r.base_network != r.head_network {
        out.push_str(&format!(
            "network {} → {}\n",
            or_none(&r.base_network),
            or_none(&r.head_network)
        ));
    }
    let header: Vec<String> = [
        "intent",
        "verdict",
        "requested/s",
        "admitted/s",
        "admission",
        "fidelity",
        "latency ms",
        "protection",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = vec![header];
    for i in &r.intents {
        let mut row = vec![i.name.clone()];
        row.extend(cells(i));
        rows.push(row);
    }
    let table = crate::render::columns(&rows);
    let mut lines = table.lines();
    out.push_str(lines.next().unwrap_or_default());
    out.push('\n');
    for (i, line) in r.intents.iter().zip(lines) {
        out.push_str(line);
        out.push('\n');
        if !i.why.is_empty() {
            out.push_str(&format!(
                "    {}: {}\n",
                i.verdict.as_str(),
                i.why.join("; ")
            ));
        }
        for a in &i.attribution {
            out.push_str(&format!("    because {a}\n"));
        }
        if i.paths.changed() {
            out.push_str(&format!("    paths before: {}\n", chains(&i.paths.before)));
            out.push_str(&format!("    paths after:  {}\n", chains(&i.paths.after)));
        } else {
            out.push_str(&format!("    paths: {}\n", chains(&i.paths.after)));
        }
        if let Some(reason) = &i.reason.after
            && i.reason.changed()
        {
            out.push_str(&format!("    reason: {reason}\n"));
        }
    }
    if !r.links.is_empty() {
        out.push_str(&format!(
            "\nlink utilisation (reserved / usable), where it moved by more than {} points:\n",
            change::UTILISATION_THRESHOLD_PP
        ));
        let mut rows = vec![
            ["link", "before", "after", "change"]
                .map(String::from)
                .to_vec(),
        ];
        for l in &r.links {
            rows.push(vec![
                l.link.clone(),
                pct(&l.utilisation_pct.before),
                pct(&l.utilisation_pct.after),
                format!("{:+.1} pp", l.change_pp),
            ]);
        }
        for line in crate::render::columns(&rows).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if !r.assertions.is_empty() {
        out.push_str("\nassertions:\n");
        for a in &r.assertions {
            out.push_str(&format!("  {}\n", assertion_line(a)));
        }
    }
    if !r.inventory.is_empty() {
        out.push_str("\ninventory changes:\n");
        for c in &r.inventory {
            out.push_str(&format!("  {}\n", c.description));
        }
    }
    out.push_str(&format!("\n{}\n", summary_line(r)));
    out
}

/// `assert TEXT: holds → fails (why)`.
fn assertion_line(a: &change::AssertionChange) -> String {
    let state = |p: Option<bool>| match p {
        Some(true) => "holds",
        Some(false) => "fails",
        None => "absent",
    };
    let mut line = format!(
        "assert {}: {} → {}",
        a.name,
        state(a.passed.before),
        state(a.passed.after)
    );
    if let Some(m) = &a.message {
        line.push_str(&format!(" ({m})"));
    }
    line
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "(none)" } else { s }
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A pull-request comment: a headline, one table row per intent, why the worse ones got
/// worse, and the links whose utilisation moved.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let headline = if r.worse {
        format!(
            "### strata diff: {} of {} intent(s) worse",
            r.counts.worse,
            r.intents.len()
        )
    } else {
        format!(
            "### strata diff: no intent worse ({} intent(s))",
            r.intents.len()
        )
    };
    out.push_str(&headline);
    out.push_str("\n\n");
    if r.base_network != r.head_network {
        out.push_str(&format!(
            "Network `{}` → `{}`\n\n",
            or_none(&r.base_network),
            or_none(&r.head_network)
        ));
    }
    out.push_str("| intent | verdict | requested/s | admitted/s | admission | fidelity | latency ms | protection | paths |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for i in &r.intents {
        let mut c = cells(i);
        if i.verdict == Verdict::Worse {
            c[0] = format!("**{}**", c[0]);
        }
        let paths = if i.paths.changed() {
            format!(
                "before: {}<br>after: {}",
                chains(&i.paths.before),
                chains(&i.paths.after)
            )
        } else {
            chains(&i.paths.after)
        };
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            i.name,
            c.iter().map(|s| md(s)).collect::<Vec<_>>().join(" | "),
            md(&paths).replace(" \\| ", "<br>")
        ));
    }
    let explained: Vec<&IntentChange> = r
        .intents
        .iter()
        .filter(|i| i.verdict == Verdict::Worse)
        .collect();
    if !explained.is_empty() {
        out.push('\n');
        for i in explained {
            let mut line = format!("- **`{}`** is worse: {}", i.name, i.why.join("; "));
            if !i.attribution.is_empty() {
                line.push_str(&format!(" — because {}", i.attribution.join("; ")));
            }
            if let Some(reason) = &i.reason.after {
                line.push_str(&format!(" ({})", reason));
            }
            out.push_str(&md(&line));
            out.push('\n');
        }
    }
    if !r.links.is_empty() {
        out.push_str(&format!(
            "\n#### Link utilisation (reserved / usable), moved by more than {} points\n\n",
            change::UTILISATION_THRESHOLD_PP
        ));
        out.push_str("| link | before | after | change |\n|---|---|---|---|\n");
        for l in &r.links {
            out.push_str(&format!(
                "| `{}` | {} | {} | {:+.1} pp |\n",
                l.link,
                pct(&l.utilisation_pct.before),
                pct(&l.utilisation_pct.after),
                l.change_pp
            ));
        }
    }
    if !r.assertions.is_empty() {
        out.push_str("\n#### Assertions\n\n");
        for a in &r.assertions {
            let line = assertion_line(a);
            if a.worse() {
                out.push_str(&format!("- **{}**\n", md(&line)));
            } else {
                out.push_str(&format!("- {}\n", md(&line)));
            }
        }
    }
    if !r.inventory.is_empty() {
        out.push_str("\n#### Inventory changes\n\n");
        for c in &r.inventory {
            out.push_str(&format!("- {}\n", md(&c.description)));
        }
    }
    out.push_str(&format!("\n{}\n", summary_line(r)));
    out
}
