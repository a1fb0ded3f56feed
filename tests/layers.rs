//! Every module sits on one layer: within each crate of the workspace (the grammar, the
//! compiler, the runtime and the `strata` binary), no two top-level modules use each other,
//! directly or through others. A module's top-level name is the first path component under
//! `src/` (`src/kme/relay/net.rs` is `kme`, `src/state.rs` is `state`; `lib.rs` and
//! `main.rs` are the crate root, above every module). A module uses another when its code
//! names a `crate::X` path — in a `use`, a `crate::{a, b::c}` group or anywhere else in the
//! code; comments, doc comments and string literals do not count.
//!
//! The test reads the source trees, builds the graph of those uses and fails with every
//! strongly connected component of more than one module, naming the files behind each edge
//! of the cycle. A cycle is broken by moving what both sides need into a module below them
//! (ARCHITECTURE.md describes the layers).

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The source trees whose modules are layered, relative to the repository root.
const CRATES: [&str; 4] = ["grammar/src", "compiler/src", "runtime/src", "src"];

/// Module → the modules it uses → the files (relative to `src/`) that use them.
type Uses = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// The text with comments, string, byte-string, raw-string and character literals blanked
/// out (newlines kept), so that only code is left to search.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let n = c.len();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, from: usize, to: usize| {
        for &ch in &c[from..to.min(n)] {
            out.push(if ch == '\n' { '\n' } else { ' ' });
        }
    };
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut i = 0;
    while i < n {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            let end = (i..n).find(|&j| c[j] == '\n').unwrap_or(n);
            blank(&mut out, i, end);
            i = end;
        } else if ch == '/' && next == Some('*') {
            let (mut depth, mut j) = (0usize, i);
            while j < n {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if is_ident(ch) {
            let start = i;
            while i < n && is_ident(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // A raw string: r"…", r#"…"#, br"…" and so on.
            let hashes = (i..n).take_while(|&j| c[j] == '#').count();
            if (word == "r" || word == "br") && c.get(i + hashes) == Some(&'"') {
                let body = i + hashes + 1;
                let mut end = n;
                let mut j = body;
                while j < n {
                    if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                        end = j + 1 + hashes;
                        break;
                    }
                    j += 1;
                }
                blank(&mut out, start, end);
                i = end;
            } else {
                out.push_str(&word);
            }
        } else if ch == '"' {
            let mut j = i + 1;
            while j < n && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if ch == '\'' {
            // A character literal ('x', '\n', '\'', '\u{…}'), or else a lifetime or label.
            let end = if next == Some('\\') {
                (i + 3..n).find(|&j| c[j] == '\'').map(|j| j + 1)
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => {
                    out.push(ch);
                    i += 1;
                }
            }
        } else {
            out.push(ch);
            i += 1;
        }
    }
    out
}

/// The identifier starting at `i`, if one does.
fn ident_at(c: &[char], i: usize) -> Option<String> {
    let word: String = c[i.min(c.len())..]
        .iter()
        .take_while(|ch| ch.is_alphanumeric() || **ch == '_')
        .collect();
    (!word.is_empty() && !word.starts_with(|ch: char| ch.is_ascii_digit())).then_some(word)
}

fn skip_space(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The first path component of every item of the `{…}` group opening at `c[i]`, and the
/// index after the group.
fn group_heads(c: &[char], mut i: usize) -> (Vec<String>, usize) {
    let mut heads = Vec::new();
    let mut item_start = true;
    i += 1;
    while i < c.len() {
        i = skip_space(c, i);
        match c.get(i) {
            None => break,
            Some('}') => return (heads, i + 1),
            Some(',') => {
                item_start = true;
                i += 1;
            }
            Some('{') => {
                let (inner, after) = group_heads(c, i);
                if item_start {
                    heads.extend(inner);
                    item_start = false;
                }
                i = after;
            }
            Some(_) => match ident_at(c, i) {
                Some(word) => {
                    i += word.chars().count();
                    if item_start {
                        heads.push(word);
                        item_start = false;
                    }
                }
                None => i += 1,
            },
        }
    }
    (heads, i)
}

/// The top-level names of every `crate::…` (or `$crate::…`) path in `text`.
fn crate_refs(text: &str) -> Vec<String> {
    let c: Vec<char> = code_only(text).chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let at_word = i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        let Some(word) = at_word.then(|| ident_at(&c, i)).flatten() else {
            i += 1;
            continue;
        };
        i += word.chars().count();
        if word != "crate" {
            continue;
        }
        let j = skip_space(&c, i);
        if c.get(j) != Some(&':') || c.get(j + 1) != Some(&':') {
            continue;
        }
        let j = skip_space(&c, j + 2);
        if c.get(j) == Some(&'{') {
            found.extend(group_heads(&c, j).0);
        } else if let Some(head) = ident_at(&c, j) {
            found.push(head);
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module of a file under `src/` (`None` for the crate root).
fn top_module(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .components()
        .map(|p| p.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [file] if file == "lib.rs" || file == "main.rs" => None,
        [file] => Some(file.trim_end_matches(".rs").to_string()),
        [dir, ..] => Some(dir.clone()),
        [] => None,
    }
}

/// Which top-level modules of the crate at `src` use which others, and through which files.
fn uses(src: &Path) -> (BTreeSet<String>, Uses) {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut by_file = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(src)
            .expect("a file under src")
            .to_path_buf();
        if let Some(module) = top_module(&rel) {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            by_file.push((module, rel, text));
        }
    }
    let modules: BTreeSet<String> = by_file.iter().map(|(m, ..)| m.clone()).collect();
    let mut uses = Uses::new();
    for (module, rel, text) in &by_file {
        for used in crate_refs(text) {
            if used != *module && modules.contains(&used) {
                uses.entry(module.clone())
                    .or_default()
                    .entry(used)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    (modules, uses)
}

/// Every set of more than one module that use each other, each sorted.
fn cycles(modules: &BTreeSet<String>, uses: &Uses) -> Vec<Vec<String>> {
    let mut graph = DiGraph::<&str, ()>::new();
    let index: BTreeMap<&str, NodeIndex> = modules
        .iter()
        .map(|m| (m.as_str(), graph.add_node(m.as_str())))
        .collect();
    for (from, to) in uses {
        for used in to.keys() {
            graph.add_edge(index[from.as_str()], index[used.as_str()], ());
        }
    }
    let mut out: Vec<Vec<String>> = tarjan_scc(&graph)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .map(|scc| {
            let mut names: Vec<String> = scc.iter().map(|&n| graph[n].to_string()).collect();
            names.sort();
            names
        })
        .collect();
    out.sort();
    out
}

/// What a cycle is made of, for the failure message.
fn describe(crate_src: &str, cycle: &[String], uses: &Uses) -> String {
    let mut text = format!("{crate_src}: {} use each other:\n", cycle.join(", "));
    for from in cycle {
        for (to, files) in uses.get(from).into_iter().flatten() {
            if cycle.contains(to) {
                let files: Vec<&str> = files.iter().map(String::as_str).collect();
                text += &format!("    {from} -> {to} ({})\n", files.join(", "));
            }
        }
    }
    text
}

#[test]
fn no_two_top_level_modules_of_a_crate_use_each_other() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    for crate_src in CRATES {
        let (modules, uses) = uses(&root.join(crate_src));
        // A survey that sees nothing proves nothing: every crate has several modules, and
        // the libraries' modules build on each other.
        assert!(modules.len() >= 3, "{crate_src}: only {modules:?} found");
        assert!(!uses.is_empty(), "{crate_src}: no `crate::` path found");
        for cycle in cycles(&modules, &uses) {
            failures.push(describe(crate_src, &cycle, &uses));
        }
    }
    assert!(
        failures.is_empty(),
        "top-level modules that use each other, so that none sits on one layer; move what they share into a module below them:\n{}",
        failures.concat()
    );
}

#[test]
fn paths_are_found_in_code_and_groups_but_not_in_comments_or_strings() {
    let text = r##"
        //! Uses [`crate::doc_only`].
        use crate::{alpha, beta::{x, y}, {gamma::z}};
        use crate :: delta::Thing;
        /* crate::block_comment */
        fn f<'a>(s: &'a str) -> char {
            let _ = "crate::in_string";
            let _ = r#"crate::in_raw " string"#;
            let _ = crate::epsilon::call(s);
            let _ = '"';
            $crate::zeta!();
            'x'
        }
        pub(crate) fn g() {}
    "##;
    assert_eq!(
        crate_refs(text),
        ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    );
}

#[test]
fn modules_that_use_each_other_through_a_third_are_one_cycle() {
    let modules: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
    let mut uses = Uses::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")] {
        uses.entry(from.into())
            .or_default()
            .entry(to.into())
            .or_default()
            .insert(format!("{from}.rs"));
    }
    assert_eq!(cycles(&modules, &uses), [["a", "b", "c"]]);
    uses.remove("c");
    assert!(cycles(&modules, &uses).is_empty());
}
