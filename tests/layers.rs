//! The host layer (src/host/) and the Redis sink (src/redis/sink/) have an
//! order a reader can follow: each file imports only files below it, so
//! there is no import loop.  The orders are the ones docs/architecture.md
//! describes (checked here too).

use std::collections::BTreeSet;
use std::path::Path;

/// src/host, bottom to top: the bindings and raw helpers; guard, log and
/// state; the typed views; events and the module declaration.
const HOST: &[&str] = &[
    "ffi",
    "sys",
    "record",
    "state",
    "log",
    "guard",
    "privs",
    "fs",
    "dir",
    "cmd",
    "jot",
    "conf",
    "session",
    "version",
    "core_redis",
    "logevent",
    "event",
    "module",
];

/// src/redis/sink, bottom to top (mod.rs, the sink itself, on top).
const SINK: &[&str] = &["resp", "backlog", "tls", "conn", "sentinel", "spooling"];

/// The files of `layer` that `text` (one file's source) names, outside
/// comments: `super::X`, `crate::host::X`, `super::{X, ...}`.
fn imports(text: &str, prefixes: &[&str], layer: &[&str]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for prefix in prefixes {
            let mut rest = code;
            while let Some(i) = rest.find(prefix) {
                rest = &rest[i + prefix.len()..];
                let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    group[..end].split(',').map(str::trim).collect()
                } else {
                    vec![rest]
                };
                for n in names {
                    let word: String = n
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if layer.contains(&word.as_str()) {
                        found.insert(word);
                    }
                }
            }
        }
    }
    found
}

fn check(dir: &str, order: &[&str], prefixes: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_suffix(".rs").map(str::to_string)
        })
        .filter(|n| n != "mod")
        .collect();
    files.sort();
    let mut bad = Vec::new();
    for f in &files {
        let Some(pos) = order.iter().position(|o| o == f) else {
            bad.push(format!(
                "{dir}/{f}.rs is not in the layer order (tests/layers.rs)"
            ));
            continue;
        };
        let text = std::fs::read_to_string(root.join(format!("{f}.rs"))).unwrap();
        for dep in imports(&text, prefixes, order) {
            if dep == *f {
                continue;
            }
            let dpos = order.iter().position(|o| *o == dep).unwrap();
            if dpos > pos {
                bad.push(format!("{dir}/{f}.rs imports {dep}, which is above it"));
            }
        }
    }
    bad
}

#[test]
fn the_host_layer_imports_only_downwards() {
    let bad = check("src/host", HOST, &["super::", "crate::host::"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_sink_imports_only_downwards() {
    let bad = check("src/redis/sink", SINK, &["super::"]);
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn the_checker_sees_an_upward_import() {
    let text = "use super::{ffi, session};\nfn f() { crate::host::module::x(); } // super::event";
    let got = imports(text, &["super::", "crate::host::"], HOST);
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        ["ffi", "module", "session"]
    );
}

/// docs/architecture.md gives the same orders.
#[test]
fn the_docs_give_the_same_order() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    for (what, order) in [("host", HOST), ("sink", SINK)] {
        let line = order.join(" < ");
        assert!(
            doc.contains(&line),
            "docs/architecture.md should give the {what} order as `{line}`"
        );
    }
}
