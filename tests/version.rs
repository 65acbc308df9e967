//! The version guard (src/host/version.rs): the library refuses to load into
//! a proftpd of another release series than its headers. The "running
//! version" is faked with a hook of debug builds (PROFTPD_RS_TEST_RUNNING_VERSION),
//! so no second proftpd is needed.

mod harness;

use harness::{Modules, OUR_MODULES, Proftpd};

/// The version of the headers the library was built against (from build.rs).
const HEADERS: &str = env!("PROFTPD_RS_HEADERS_VERSION");

/// A version of the next release series after the headers' (1.3.8 -> 1.3.9).
fn other_series() -> String {
    let mut parts: Vec<u32> = HEADERS
        .split('.')
        .map(|p| {
            p.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .expect("numeric version part")
        })
        .collect();
    *parts.last_mut().expect("patch") += 1;
    format!("{}.{}.{}", parts[0], parts[1], parts[2])
}

fn check_with_running(module: &str, running: &str, extra: &str) -> (bool, String) {
    Proftpd::builder(Modules::Ours)
        .load_module(&format!("{module}.c"))
        .env("PROFTPD_RS_TEST_RUNNING_VERSION", running)
        .config(extra)
        .check_config()
}

/// Each of our modules, in a proftpd of another series: `proftpd -t` fails,
/// naming both versions, and no directive of the module is known.
#[test]
#[cfg_attr(not(debug_assertions), ignore = "uses a test hook of debug builds")]
fn another_release_series_is_refused_at_load() {
    let running = other_series();
    for &module in OUR_MODULES.iter() {
        let (ok, out) = check_with_running(module, &running, "");
        assert!(!ok, "{module}: proftpd -t passed in {running}:\n{out}");
        assert!(
            out.contains(&format!(
                "built against the headers of proftpd {HEADERS}, but this proftpd is {running}"
            )),
            "{module}: {out}"
        );
        assert!(out.contains("refuses to load"), "{module}: {out}");
        // Fatal at once, naming the LoadModule and the line.
        assert!(out.contains("fatal: LoadModule "), "{module}: {out}");
        assert!(out.contains("line "), "{module}: {out}");
    }
}

/// The LoadModule lines in an `Include`d file (as in Debian's
/// /etc/proftpd/modules.conf): a refusal there would fail only the Include,
/// with a warning, and proftpd would run without the modules; it is fatal
/// all the same.
#[test]
#[cfg_attr(not(debug_assertions), ignore = "uses a test hook of debug builds")]
fn refused_inside_an_included_file_too() {
    let running = other_series();
    let builder = Proftpd::builder(Modules::Ours).env("PROFTPD_RS_TEST_RUNNING_VERSION", &running);
    let dir = builder.dir().to_path_buf();
    let included = dir.join("modules.conf");
    let lines: String = OUR_MODULES
        .iter()
        .map(|m| format!("LoadModule {m}.c\n"))
        .collect();
    std::fs::write(&included, lines).expect("write the included file");
    let (ok, out) = builder
        .config(&format!("Include {}\n", included.display()))
        .check_config();
    assert!(!ok, "proftpd -t passed in {running}:\n{out}");
    assert!(out.contains("refuses to load"), "{out}");
    assert!(!out.contains("unable to include"), "{out}");
}

/// A letter release of the same series (1.3.8 headers, 1.3.8d daemon) is
/// the same layout: it loads.
#[test]
#[cfg_attr(not(debug_assertions), ignore = "uses a test hook of debug builds")]
fn a_letter_release_of_the_same_series_loads() {
    let running = format!("{HEADERS}d");
    for &module in OUR_MODULES.iter() {
        let (ok, out) = check_with_running(module, &running, "");
        assert!(ok, "{module} in {running}: {out}");
        assert!(!out.contains("refuses to load"), "{out}");
    }
}

/// The real proftpd (no hook): the series of our headers, so it loads.
#[test]
fn the_real_proftpd_is_of_the_headers_series() {
    let (ok, out) = Proftpd::builder(Modules::Ours)
        .load_module("mod_unique_id.c")
        .check_config();
    assert!(ok, "{out}");
    assert!(!out.contains("refuses to load"), "{out}");
}
