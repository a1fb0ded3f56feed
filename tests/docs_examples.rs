//! The examples of README.md and docs/*.md that are marked runnable (an
//! `<!-- runnable -->` line right before the code block) are run with the real binary from
//! the repository root: every `$ strata …` line is a command, and the lines after it are its
//! essential output, which must appear in what the command prints, in that order.

mod common;

use common::*;
use std::path::Path;

/// One runnable block: where it is, its commands and the output each must print.
struct Example {
    at: String,
    runs: Vec<(String, Vec<String>)>,
}

fn examples(file: &str, text: &str) -> Vec<Example> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "<!-- runnable -->" {
            i += 1;
            continue;
        }
        let start = i + 1;
        assert!(
            lines.get(start).is_some_and(|l| l.starts_with("```")),
            "{file}:{}: `<!-- runnable -->` must come right before a code block",
            i + 1
        );
        let mut runs: Vec<(String, Vec<String>)> = Vec::new();
        let mut j = start + 1;
        while j < lines.len() && !lines[j].starts_with("```") {
            match lines[j].strip_prefix("$ ") {
                Some(cmd) => runs.push((cmd.to_string(), Vec::new())),
                None => {
                    let expected = lines[j].trim_end();
                    if !expected.is_empty() {
                        runs.last_mut()
                            .unwrap_or_else(|| {
                                panic!("{file}:{}: output before any `$ ` command", j + 1)
                            })
                            .1
                            .push(expected.to_string());
                    }
                }
            }
            j += 1;
        }
        out.push(Example {
            at: format!("{file}:{}", start + 1),
            runs,
        });
        i = j + 1;
    }
    out
}

#[test]
fn runnable_doc_examples_print_what_they_show() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut count = 0;
    for path in files {
        let name = path.strip_prefix(root).unwrap().display().to_string();
        let doc = std::fs::read_to_string(&path).unwrap();
        for ex in examples(&name, &doc) {
            for (cmd, expected) in ex.runs {
                let words: Vec<&str> = cmd.split_whitespace().collect();
                assert_eq!(words.first(), Some(&"strata"), "{}: {cmd}", ex.at);
                let out = strata(&words[1..]);
                let printed = text(&out);
                let printed: Vec<&str> = printed.lines().map(str::trim_end).collect();
                let mut at = 0;
                for line in &expected {
                    match printed[at..].iter().position(|p| p == line) {
                        Some(k) => at += k + 1,
                        None => panic!(
                            "{}: `{cmd}` does not print, in this order,\n  {line}\nIt printed:\n{}",
                            ex.at,
                            printed.join("\n")
                        ),
                    }
                }
                count += 1;
            }
        }
    }
    assert!(count >= 3, "only {count} runnable commands in the docs");
}
