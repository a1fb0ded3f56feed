//! `strata graph` through the real binary: the DOT names every node and quantum link of the
//! inventory and draws every hop of every intent's path in the intent's colour; Graphviz
//! renders it to SVG for both examples; nodes with a `location` stand where geography puts
//! them; a missing `dot` program, or a location off the globe, is a clear error; with
//! `--agents`, a cut link is drawn down.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(path: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(root().join(path)).unwrap()).unwrap()
}

fn names(doc: &serde_yaml::Value, key: &str) -> Vec<String> {
    doc[key]
        .as_sequence()
        .map(|s| {
            s.iter()
                .map(|n| n["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `"A" -- "B" [attrs]` lines of a DOT text: (a, b, attrs).
fn edges(dot: &str) -> Vec<(String, String, String)> {
    dot.lines()
        .filter_map(|l| {
            let l = l.trim();
            let (a, rest) = l.strip_prefix('"')?.split_once("\" -- \"")?;
            let (b, attrs) = rest.split_once("\" [")?;
            Some((a.to_string(), b.to_string(), attrs.to_string()))
        })
        .collect()
}

/// The value of `key="…"` in an attribute list.
fn attr<'a>(attrs: &'a str, key: &str) -> Option<&'a str> {
    let start = attrs.find(&format!("{key}=\""))? + key.len() + 2;
    Some(&attrs[start..start + attrs[start..].find('"')?])
}

fn graph_dot(intents: &str) -> String {
    let o = strata(&["graph", intents]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

/// The applied paths, from a compile's summary.json.
fn compiled_paths(intents: &str, dir: &Path) -> Vec<(String, Vec<String>)> {
    let out = dir.join(intents.replace('/', "_"));
    let o = strata(&["compile", intents, "-o", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    summary["intents"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| {
            let name = i["name"].as_str().unwrap().to_string();
            i["paths"].as_array().unwrap().iter().map(move |p| {
                (
                    name.clone(),
                    p["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n.as_str().unwrap().to_string())
                        .collect(),
                )
            })
        })
        .collect()
}

#[test]
fn both_examples_draw_every_node_link_and_path_and_render_to_svg() {
    let dir = tempfile::tempdir().unwrap();
    for (intents, network) in [
        ("intents/metro.qi", "examples/metro/network.yaml"),
        (
            "intents/continental.qi",
            "examples/continental/network.yaml",
        ),
    ] {
        let dot = graph_dot(intents);
        assert_eq!(
            dot,
            graph_dot(intents),
            "the same inputs draw the same bytes"
        );
        let inv = yaml(network);
        for node in names(&inv, "nodes") {
            assert!(
                dot.contains(&format!("\n    \"{node}\" ["))
                    || dot.contains(&format!("\n  \"{node}\" [")),
                "{network}: node {node} missing"
            );
        }
        let drawn = edges(&dot);
        for key in ["qkd_links", "entanglement_links"] {
            for l in inv[key].as_sequence().into_iter().flatten() {
                let name = l["name"].as_str().unwrap();
                let ends: Vec<&str> = l["ends"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap())
                    .collect();
                assert!(
                    drawn.iter().any(|(a, b, attrs)| a == ends[0]
                        && b == ends[1]
                        && attr(attrs, "label")
                            .is_some_and(|t| t.starts_with(&format!("{name} (")))),
                    "{network}: link {name} missing"
                );
            }
        }
        // Every hop of every path, master to slave, in one colour per intent, and a
        // different colour for every intent.
        let mut colours: BTreeMap<String, String> = BTreeMap::new();
        let paths = compiled_paths(intents, dir.path());
        assert!(!paths.is_empty());
        for (intent, nodes) in &paths {
            for hop in nodes.windows(2) {
                let e = drawn
                    .iter()
                    .find(|(a, b, attrs)| {
                        a == &hop[0]
                            && b == &hop[1]
                            && attr(attrs, "tooltip")
                                .is_some_and(|t| t.starts_with(&format!("{intent} path")))
                    })
                    .unwrap_or_else(|| panic!("{intent}: hop {hop:?} not drawn"));
                assert!(e.2.contains("dir=forward"));
                let colour = attr(&e.2, "color").unwrap().to_string();
                assert_eq!(
                    colours.entry(intent.clone()).or_insert(colour.clone()),
                    &colour
                );
            }
        }
        let distinct: std::collections::BTreeSet<&String> = colours.values().collect();
        assert_eq!(distinct.len(), colours.len(), "{colours:?}");

        // Graphviz renders it: an SVG with a node group titled after every node.
        let svg_path = dir
            .path()
            .join(format!("{}.svg", inv["name"].as_str().unwrap()));
        let o = strata(&["graph", intents, "-o", svg_path.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        let mut reader = quick_xml::Reader::from_str(&svg);
        let mut titles = Vec::new();
        let mut title: Option<String> = None;
        loop {
            match reader.read_event().expect("well-formed SVG") {
                quick_xml::events::Event::Start(e) if e.name().as_ref() == b"title" => {
                    title = Some(String::new());
                }
                quick_xml::events::Event::Text(t) => {
                    if let Some(s) = title.as_mut() {
                        s.push_str(&t.decode().unwrap());
                    }
                }
                quick_xml::events::Event::GeneralRef(r) => {
                    if let (Some(s), Ok(Some(c))) = (title.as_mut(), r.resolve_char_ref()) {
                        s.push(c);
                    }
                }
                quick_xml::events::Event::End(_) => titles.extend(title.take()),
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        for node in names(&inv, "nodes") {
            assert!(
                titles.contains(&node),
                "{network}: no SVG node {node} in {titles:?}"
            );
        }
    }
}

/// A node's `pos="x,y!"` in the DOT text.
fn pos(dot: &str, node: &str) -> (f64, f64) {
    let line = dot
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("\"{node}\" [")))
        .unwrap();
    let p = attr(line, "pos").expect("a pinned position");
    let (x, y) = p.trim_end_matches('!').split_once(',').unwrap();
    (x.parse().unwrap(), y.parse().unwrap())
}

#[test]
fn located_nodes_stand_where_geography_puts_them() {
    let dot = graph_dot("intents/metro.qi");
    assert!(dot.contains("layout=neato"));
    // Alcobendas is north of Getafe; Montegancedo (Boadilla) west of Quintin (Hortaleza).
    assert!(pos(&dot, "Alcobendas").1 > pos(&dot, "Getafe").1);
    assert!(pos(&dot, "Montegancedo").0 < pos(&dot, "Quintin").0);
    // Distances keep their proportions: Getafe–Alcobendas (about 26 km) is further than
    // Norte–Almagro (about 4.5 km) by a factor of about 5.7.
    let d = |a: &str, b: &str| {
        let (p, q) = (pos(&dot, a), pos(&dot, b));
        ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt()
    };
    let ratio = d("Getafe", "Alcobendas") / d("Norte", "Almagro");
    assert!((4.5..7.0).contains(&ratio), "{ratio}");
    // Without locations, the layout places the nodes and draws the domains as clusters.
    let continental = graph_dot("intents/continental.qi");
    assert!(continental.contains("layout=dot") && continental.contains("cluster_"));
}

#[test]
fn a_location_off_the_globe_is_an_error_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let net = std::fs::read_to_string(root().join("examples/metro/network.yaml"))
        .unwrap()
        .replace(
            "location: {lat: 40.4722, lon: -3.6826}",
            "location: {lat: 95.0, lon: -3.6826}",
        );
    let line = net.lines().position(|l| l.contains("lat: 95.0")).unwrap() + 1;
    let path = dir.path().join("network.yaml");
    std::fs::write(&path, net).unwrap();
    let o = strata(&[
        "graph",
        "intents/metro.qi",
        "--network",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("lat") && t.contains(&format!("network.yaml:{line}:")),
        "{t}"
    );
}

#[test]
fn svg_without_graphviz_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["graph", "intents/metro.qi", "--format", "svg"])
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("graphviz") && t.contains("--format dot"), "{t}");
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn with_agents_a_cut_link_is_drawn_down() {
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.json");
    let state = dir.path().join("state.json");
    let _twin = Killed(
        bin()
            .args([
                "twin",
                "up",
                "examples/metro/network.yaml",
                "--speed",
                "20",
                "--no-kme",
            ])
            .args(["--agents-file", agents.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..600 {
        if agents.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (a, s) = (agents.to_str().unwrap(), state.to_str().unwrap());
    let o = strata(&["apply", "intents/metro.qi", "--agents", a, "--state", s]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["twin", "fault", "cut", "q-norte-almagro", "--agents", a]);
    assert!(o.status.success(), "{}", text(&o));
    let o = strata(&["graph", "intents/metro.qi", "--agents", a, "--state", s]);
    assert!(o.status.success(), "{}", text(&o));
    let dot = String::from_utf8(o.stdout).unwrap();
    let link = edges(&dot)
        .into_iter()
        .find(|(_, _, attrs)| {
            attr(attrs, "label").is_some_and(|l| l.starts_with("q-norte-almagro ("))
        })
        .unwrap();
    assert!(
        attr(&link.2, "label").unwrap().ends_with("DOWN"),
        "{link:?}"
    );
    let other = edges(&dot)
        .into_iter()
        .find(|(_, _, attrs)| {
            attr(attrs, "label").is_some_and(|l| l.starts_with("q-norte-moncloa ("))
        })
        .unwrap();
    assert!(!other.2.contains("DOWN"), "{other:?}");
}
