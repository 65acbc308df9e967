//! The version guard: this library runs only in a proftpd of the release
//! series whose headers it was built against.
//!
//! The struct layouts we read (`session`, `cmd_rec`, `config_rec`) come from
//! the headers at build time; mod_dso checks nothing but the module API
//! version, which did not change from 1.3.7 to 1.3.9 although 1.3.9
//! added `session.user_homedir` in the middle of `session` (every later
//! field moves by 8 bytes). So every module's `init` first calls
//! [`check`]: in a proftpd of another series it fails with a message naming
//! both versions, proftpd then refuses the `LoadModule` (a fatal config
//! error: `proftpd -t` fails), and since mod_dso registers a module's
//! directives, commands and events only after its `init` succeeded, nothing
//! else of ours ever runs.
//!
//! A release series is major.minor.patch ("1.3.8"); the letter releases
//! (1.3.8a … 1.3.8d, rc builds) keep the layout of their series.
//!
//! The layout itself is checked at build time by a unit test: the offsets
//! of every field we read, per series (see [`layout`]).

use std::ffi::CStr;
use std::sync::OnceLock;

use super::ffi;

/// The proftpd release whose headers we were built against
/// (`PROFTPD_VERSION_TEXT` of version.h, passed by build.rs).
pub const HEADERS: &str = env!("PROFTPD_RS_HEADERS_VERSION");

/// Debug builds only: pretend the running proftpd is this version (the
/// integration test of the guard; nothing else reads it).
#[cfg(debug_assertions)]
pub const TEST_RUNNING_VERSION_ENV: &str = "PROFTPD_RS_TEST_RUNNING_VERSION";

/// A release series: (major, minor, patch).
pub type Series = (u32, u32, u32);

/// Whether the headers we were built against are of release series
/// `at_least` or a later one (behaviour that changed in a release).
pub fn built_for_series(at_least: Series) -> bool {
    series(HEADERS).is_some_and(|s| s >= at_least)
}

/// The release series of a proftpd version text: "1.3.8c" -> (1, 3, 8),
/// "1.3.9rc2" -> (1, 3, 9). `None` unless it starts with three numbers.
pub fn series(version: &str) -> Option<Series> {
    let mut parts = version.trim().splitn(3, '.');
    let mut number = |last: bool| -> Option<u32> {
        let part = parts.next()?;
        let digits = if last {
            let end = part
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(part.len());
            &part[..end]
        } else {
            part
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    Some((number(false)?, number(false)?, number(true)?))
}

/// The verdict for running a library built with `headers` in a proftpd
/// reporting `running`: `Err` (the message for the operator) unless both
/// are of the same release series.
pub fn compare(headers: &str, running: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "proftpd-rs was built against the headers of proftpd {headers}, but this proftpd is \
             {running}{why}: struct layouts differ between release series, so it refuses to \
             load; rebuild it against this proftpd's headers (its proftpd-dev)"
        ))
    };
    match (series(headers), series(running)) {
        (Some(h), Some(r)) if h == r => Ok(()),
        (Some(_), Some(_)) => refuse(""),
        _ => refuse(" (unknown release series)"),
    }
}

/// The version of the proftpd we run in (`pr_version_get_str()`).
fn running() -> String {
    #[cfg(debug_assertions)]
    if let Ok(v) = std::env::var(TEST_RUNNING_VERSION_ENV) {
        return v;
    }
    // SAFETY: returns a static NUL-terminated string of the core.
    let p = unsafe { ffi::pr_version_get_str() };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: as above.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Whether this library may run in this proftpd (decided once per process).
/// Called first by every module's `init` (see `module::run_init`).
pub fn check() -> Result<(), String> {
    static VERDICT: OnceLock<Result<(), String>> = OnceLock::new();
    VERDICT.get_or_init(|| compare(HEADERS, &running())).clone()
}

/// [`check`], from a module's `init`: in a proftpd of another series the
/// refusal must stop proftpd at start-up, not only the one `LoadModule`. A
/// `LoadModule` inside an `Include`d file (Debian's /etc/proftpd/modules.conf)
/// that fails makes the `Include` fail with a mere warning, and proftpd would
/// run (and `proftpd -t` pass) without our modules. So while the
/// configuration is read (the parser has a server context), a refusal is
/// fatal as a config error is: the message, naming the module and the line,
/// then exit(1). Later (`ftpdctl insmod`), only that module is refused.
pub fn check_at_init(module: &str) -> Result<(), String> {
    let verdict = check();
    if let Err(why) = &verdict {
        // SAFETY: plain reads of the parser's state.
        let (parsing, line) = unsafe {
            (
                !ffi::pr_parser_server_ctxt_get().is_null(),
                ffi::pr_parser_get_lineno(),
            )
        };
        if parsing {
            super::log::error(&format!(
                "fatal: LoadModule {module}: {why} (line {line} of the configuration being read)"
            ));
            std::process::exit(1);
        }
    }
    verdict
}

/// The offsets of the fields we read, per release series. A unit test
/// compares them with the bindgen structs of the headers we build against,
/// so a build against headers whose layout nobody checked fails its tests.
/// Adding a series: build against its headers, check what moved (the
/// upstream diff of include/*.h), and add its table to [`layout::TABLES`].
pub mod layout {
    use super::Series;

    /// (struct.field, byte offset); the last entry of each struct is its size.
    pub type Table = &'static [(&'static str, usize)];

    /// 1.3.7 … 1.3.7f (Debian 11 amd64: recorded from the bindings of its
    /// proftpd-dev 1.3.7a+dfsg-12+deb11u2; upstream changed no struct up to
    /// v1.3.7f). The same offsets as 1.3.8: of upstream's v1.3.7a..v1.3.8
    /// changes to include/*.h, none moves a field we read (`server_rec`'s new
    /// `tcp_reuse_port` fills the padding after `tcp_mss_len`). The table
    /// is 1.3.8's; the unit test checks it against the headers it is built
    /// with, Debian 11's in the matrix's bullseye row.
    pub const SERIES_1_3_7: Table = SERIES_1_3_8;

    /// 1.3.8 … 1.3.8d (Debian 12 amd64: recorded from the bindings of its
    /// proftpd-dev 1.3.8; upstream changed no struct up to v1.3.8d).
    pub const SERIES_1_3_8: Table = &[
        ("session.pool", 0),
        ("session.sf_flags", 8),
        ("session.rfc2228_mech", 376),
        ("session.dir_config", 8576),
        ("session.pid", 8584),
        ("session.user", 8632),
        ("session.notes", 8656),
        ("session.chroot_path", 8712),
        ("session.anon_config", 8720),
        ("session.anon_user", 8728),
        ("session.restart_pos", 8776),
        ("session.xfer", 8800),
        ("session.xfer.p", 8800),
        ("session.xfer.direction", 8812),
        ("session.xfer.path", 8824),
        ("session.xfer.start_time", 8848),
        ("session.xfer.file_size", 8864),
        ("session.xfer.total_bytes", 8872),
        ("session.total_bytes_in", 8896),
        ("session.total_bytes_out", 8904),
        ("session.total_files_in", 8920),
        ("session.total_files_out", 8924),
        ("session.total_raw_in", 8936),
        ("session.total_raw_out", 8944),
        ("session.disconnect_reason", 8952),
        ("session.disconnect_module", 8960),
        ("session.connect_time_ms", 8968),
        ("session.size", 8976),
        ("cmd_rec.pool", 0),
        ("cmd_rec.server", 8),
        ("cmd_rec.config", 16),
        ("cmd_rec.tmp_pool", 24),
        ("cmd_rec.argc", 32),
        ("cmd_rec.arg", 40),
        ("cmd_rec.argv", 48),
        ("cmd_rec.notes", 80),
        ("cmd_rec.size", 104),
        ("config_rec.next", 0),
        ("config_rec.config_type", 16),
        ("config_rec.pool", 24),
        ("config_rec.name", 40),
        ("config_rec.argc", 48),
        ("config_rec.argv", 56),
        ("config_rec.flags", 64),
        ("config_rec.subset", 88),
        ("config_rec.size", 96),
        ("server_rec.conf", 120),
    ];

    /// 1.3.9 … 1.3.9e: derived from 1.3.8 and upstream's v1.3.8..v1.3.9 diff of
    /// include/*.h, whose one layout change is `session.user_homedir` after
    /// `session.group`: every later `session` field 8 bytes on (confirmed by
    /// the unit test against Debian sid's 1.3.9e headers, scripts/matrix.sh).
    pub const SERIES_1_3_9: Table = &[
        ("session.pool", 0),
        ("session.sf_flags", 8),
        ("session.rfc2228_mech", 376),
        ("session.dir_config", 8576),
        ("session.pid", 8584),
        ("session.user", 8632),
        ("session.notes", 8664),
        ("session.chroot_path", 8720),
        ("session.anon_config", 8728),
        ("session.anon_user", 8736),
        ("session.restart_pos", 8784),
        ("session.xfer", 8808),
        ("session.xfer.p", 8808),
        ("session.xfer.direction", 8820),
        ("session.xfer.path", 8832),
        ("session.xfer.start_time", 8856),
        ("session.xfer.file_size", 8872),
        ("session.xfer.total_bytes", 8880),
        ("session.total_bytes_in", 8904),
        ("session.total_bytes_out", 8912),
        ("session.total_files_in", 8928),
        ("session.total_files_out", 8932),
        ("session.total_raw_in", 8944),
        ("session.total_raw_out", 8952),
        ("session.disconnect_reason", 8960),
        ("session.disconnect_module", 8968),
        ("session.connect_time_ms", 8976),
        ("session.size", 8984),
        ("cmd_rec.pool", 0),
        ("cmd_rec.server", 8),
        ("cmd_rec.config", 16),
        ("cmd_rec.tmp_pool", 24),
        ("cmd_rec.argc", 32),
        ("cmd_rec.arg", 40),
        ("cmd_rec.argv", 48),
        ("cmd_rec.notes", 80),
        ("cmd_rec.size", 104),
        ("config_rec.next", 0),
        ("config_rec.config_type", 16),
        ("config_rec.pool", 24),
        ("config_rec.name", 40),
        ("config_rec.argc", 48),
        ("config_rec.argv", 56),
        ("config_rec.flags", 64),
        ("config_rec.subset", 88),
        ("config_rec.size", 96),
        ("server_rec.conf", 120),
    ];

    /// The known series and their tables.
    pub const TABLES: &[(Series, Table)] = &[
        ((1, 3, 7), SERIES_1_3_7),
        ((1, 3, 8), SERIES_1_3_8),
        ((1, 3, 9), SERIES_1_3_9),
    ];

    /// The table of a series, if its layout was checked.
    pub fn for_series(s: Series) -> Option<Table> {
        TABLES.iter().find(|(k, _)| *k == s).map(|(_, t)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn series_ignores_letters_and_rc() {
        assert_eq!(series("1.3.8"), Some((1, 3, 8)));
        assert_eq!(series("1.3.8c"), Some((1, 3, 8)));
        assert_eq!(series("1.3.9rc2"), Some((1, 3, 9)));
        assert_eq!(series(" 1.3.10 "), Some((1, 3, 10)));
        assert_eq!(series("1.3"), None);
        assert_eq!(series(""), None);
        assert_eq!(series("x.3.8"), None);
        assert_eq!(series("1.3.c"), None);
        assert_eq!(series("1..8"), None);
    }

    #[test]
    fn same_series_runs() {
        assert_eq!(compare("1.3.8", "1.3.8"), Ok(()));
        assert_eq!(compare("1.3.8", "1.3.8d"), Ok(()));
        assert_eq!(compare("1.3.8c", "1.3.8"), Ok(()));
    }

    #[test]
    fn another_series_is_refused_naming_both() {
        for (h, r) in [
            ("1.3.8", "1.3.9"),
            ("1.3.9e", "1.3.8c"),
            ("1.3.8", "1.3.7c"),
        ] {
            let e = compare(h, r).unwrap_err();
            assert!(e.contains(&format!("proftpd {h},")), "{e}");
            assert!(e.contains(&format!("this proftpd is {r}:")), "{e}");
            assert!(e.contains("refuses to load"), "{e}");
        }
        let e = compare("1.3.8", "garbage").unwrap_err();
        assert!(e.contains("garbage (unknown release series)"), "{e}");
    }

    #[test]
    fn headers_version_is_known() {
        assert!(
            series(HEADERS).is_some(),
            "PROFTPD_RS_HEADERS_VERSION={HEADERS}"
        );
    }

    /// The offsets of the bindgen structs, named as in [`layout`].
    fn actual() -> Vec<(&'static str, usize)> {
        type S = ffi::session_t;
        type C = ffi::cmd_rec;
        type R = ffi::config_rec;
        vec![
            ("session.pool", offset_of!(S, pool)),
            ("session.sf_flags", offset_of!(S, sf_flags)),
            ("session.rfc2228_mech", offset_of!(S, rfc2228_mech)),
            ("session.dir_config", offset_of!(S, dir_config)),
            ("session.pid", offset_of!(S, pid)),
            ("session.user", offset_of!(S, user)),
            ("session.notes", offset_of!(S, notes)),
            ("session.chroot_path", offset_of!(S, chroot_path)),
            ("session.anon_config", offset_of!(S, anon_config)),
            ("session.anon_user", offset_of!(S, anon_user)),
            ("session.restart_pos", offset_of!(S, restart_pos)),
            ("session.xfer", offset_of!(S, xfer)),
            ("session.xfer.p", offset_of!(S, xfer.p)),
            ("session.xfer.direction", offset_of!(S, xfer.direction)),
            ("session.xfer.path", offset_of!(S, xfer.path)),
            ("session.xfer.start_time", offset_of!(S, xfer.start_time)),
            ("session.xfer.file_size", offset_of!(S, xfer.file_size)),
            ("session.xfer.total_bytes", offset_of!(S, xfer.total_bytes)),
            ("session.total_bytes_in", offset_of!(S, total_bytes_in)),
            ("session.total_bytes_out", offset_of!(S, total_bytes_out)),
            ("session.total_files_in", offset_of!(S, total_files_in)),
            ("session.total_files_out", offset_of!(S, total_files_out)),
            ("session.total_raw_in", offset_of!(S, total_raw_in)),
            ("session.total_raw_out", offset_of!(S, total_raw_out)),
            (
                "session.disconnect_reason",
                offset_of!(S, disconnect_reason),
            ),
            (
                "session.disconnect_module",
                offset_of!(S, disconnect_module),
            ),
            ("session.connect_time_ms", offset_of!(S, connect_time_ms)),
            ("session.size", size_of::<S>()),
            ("cmd_rec.pool", offset_of!(C, pool)),
            ("cmd_rec.server", offset_of!(C, server)),
            ("cmd_rec.config", offset_of!(C, config)),
            ("cmd_rec.tmp_pool", offset_of!(C, tmp_pool)),
            ("cmd_rec.argc", offset_of!(C, argc)),
            ("cmd_rec.arg", offset_of!(C, arg)),
            ("cmd_rec.argv", offset_of!(C, argv)),
            ("cmd_rec.notes", offset_of!(C, notes)),
            ("cmd_rec.size", size_of::<C>()),
            ("config_rec.next", offset_of!(R, next)),
            ("config_rec.config_type", offset_of!(R, config_type)),
            ("config_rec.pool", offset_of!(R, pool)),
            ("config_rec.name", offset_of!(R, name)),
            ("config_rec.argc", offset_of!(R, argc)),
            ("config_rec.argv", offset_of!(R, argv)),
            ("config_rec.flags", offset_of!(R, flags)),
            ("config_rec.subset", offset_of!(R, subset)),
            ("config_rec.size", size_of::<R>()),
            ("server_rec.conf", offset_of!(ffi::server_rec, conf)),
        ]
    }

    /// The layout of the headers we build against is the checked one of
    /// their series: a build against other headers fails here.
    #[test]
    fn struct_layout_matches_the_series_table() {
        let s = series(HEADERS).expect("headers series");
        let actual = actual();
        let Some(table) = layout::for_series(s) else {
            panic!(
                "no layout table for proftpd {HEADERS} in src/host/version.rs: check what moved \
                 and add one; these headers give {actual:?}"
            );
        };
        assert_eq!(
            table,
            actual.as_slice(),
            "the struct layout of proftpd {HEADERS}'s headers is not the checked one of its series"
        );
    }
}
