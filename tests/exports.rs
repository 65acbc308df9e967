//! The cdylib exports exactly the module records the committed C header
//! declares: no Rust internals.

mod harness;

use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn exported_symbols_match_the_header() {
    let so = harness::cdylib_path();
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("nm (binutils)");
    assert!(out.status.success(), "nm failed on {}", so.display());
    let exported: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    let header = include_str!("../include/proftpd_rs.h");
    let declared: BTreeSet<String> = header
        .lines()
        .filter_map(|l| l.strip_prefix("extern module "))
        .map(|l| l.trim_end_matches(';').to_string())
        .collect();
    assert!(declared.contains("unique_id_module"), "{header}");
    assert_eq!(
        exported, declared,
        "exported symbols differ from include/proftpd_rs.h"
    );
}
