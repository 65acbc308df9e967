//! The core's "jot" API (LogFormat parsing and resolution, command filters),
//! wrapped so that module code gets typed values and never a raw pointer.
//!
//! Resolution goes through the core's `pr_jot_resolve_logfmt()`, the same
//! resolver ExtendedLog and the C mod_redis use, so every value equals what
//! the core would write.  Key names and JSON types come from the core's own
//! LogFormat→JSON table (`pr_jot_get_logfmt2json()`), with the core's
//! `ENV:name` / `NOTE:name` hints, exactly as `pr_jot_on_json()` uses them.

use super::cmd::Cmd;
use super::ffi;
use std::ffi::{CStr, CString, c_char, c_int, c_uchar, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// A compiled LogFormat (the core's internal byte form), kept with its
/// terminating NUL so that it can be handed to the core as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFmt(Vec<u8>);

impl LogFmt {
    /// The compiled bytes, without the NUL.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.strip_suffix(&[0]).unwrap_or(&self.0)
    }
}

/// The value of one resolved variable, borrowed from the core for the
/// length of the callback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JotRef<'a> {
    /// Raw bytes (file names and arguments need not be UTF-8).
    Str(&'a [u8]),
    Num(f64),
    Bool(bool),
}

/// What [`resolve_to`] hands the pieces of a resolved LogFormat to, in
/// order, while the core resolves it (nothing is collected in between).
pub trait JotSink {
    /// A variable with a value: its JSON key name (from the core's
    /// LogFormat→JSON table, or the `ENV:name` / `NOTE:name` hint) and
    /// its typed value.
    fn var(&mut self, key: &[u8], value: JotRef<'_>);
    /// Literal text between variables (only when asked for).
    fn text(&mut self, _bytes: &[u8]) {}
}

/// Command/class filters made by `pr_jot_filters_create()`, in the pool of
/// ours that [`reset`] destroys when the configuration is re-read.  A
/// `Filters` is tied to that pool: it remembers which pool it lives in
/// (the pool's generation) and is used only while that pool lives, so one
/// kept past a [`reset`] is refused by [`resolve_to`], never dereferenced.
#[derive(Clone, Copy, Debug)]
pub struct Filters {
    ptr: *mut ffi::pr_jot_filters_t,
    generation: u64,
}

// SAFETY: the pointer is only dereferenced on proftpd's one thread (in
// `resolve`, after checking its pool still lives); it just travels inside
// the config registry.
unsafe impl Send for Filters {}
unsafe impl Sync for Filters {}

impl Filters {
    /// The filters, while the pool they live in does.
    fn live(self) -> Option<*mut ffi::pr_jot_filters_t> {
        let alive = !POOL.load(Ordering::Relaxed).is_null()
            && GENERATION.load(Ordering::Relaxed) == self.generation;
        alive.then_some(self.ptr)
    }
}

/// Which rules syntax [`Filters::new`] parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterKind {
    /// Command names only (`PR_JOT_FILTER_TYPE_COMMANDS`).
    Commands,
    /// Command names and classes; `ALL` means everything.
    CommandsWithClasses,
}

static POOL: AtomicPtr<ffi::pool_rec> = AtomicPtr::new(ptr::null_mut());
/// Counts the pools made: which one [`POOL`] is.
static GENERATION: AtomicU64 = AtomicU64::new(0);
static JSON_MAP: AtomicPtr<ffi::pr_table_t> = AtomicPtr::new(ptr::null_mut());

fn pool() -> *mut ffi::pool_rec {
    let p = POOL.load(Ordering::Relaxed);
    if !p.is_null() {
        return p;
    }
    // SAFETY: a sub pool of the permanent pool, on proftpd's thread.
    let p = unsafe { ffi::make_sub_pool(ffi::permanent_pool) };
    GENERATION.fetch_add(1, Ordering::Relaxed);
    POOL.store(p, Ordering::Relaxed);
    p
}

fn json_map() -> *mut ffi::pr_table_t {
    let m = JSON_MAP.load(Ordering::Relaxed);
    if !m.is_null() {
        return m;
    }
    // SAFETY: the table lives in our pool.
    let m = unsafe { ffi::pr_jot_get_logfmt2json(pool()) };
    JSON_MAP.store(m, Ordering::Relaxed);
    m
}

/// Whether filters or the key table are allocated.
pub fn is_set() -> bool {
    !POOL.load(Ordering::Relaxed).is_null()
}

/// Forget every filter and the key table (call on `core.restart`, together
/// with `conf::reset_registry()`).
pub fn reset() {
    let p = POOL.swap(ptr::null_mut(), Ordering::Relaxed);
    JSON_MAP.store(ptr::null_mut(), Ordering::Relaxed);
    for k in &KEYS {
        k.store(KEY_UNKNOWN, Ordering::Relaxed);
    }
    if !p.is_null() {
        // SAFETY: our own pool; nothing of ours refers to it any more.
        unsafe { ffi::destroy_pool(p) };
    }
}

fn errno_text() -> String {
    std::io::Error::last_os_error().to_string()
}

impl Filters {
    pub fn new(rules: &str, kind: FilterKind) -> Result<Filters, String> {
        let c = CString::new(rules).map_err(|_| "NUL in rules".to_string())?;
        let (ty, flags) = match kind {
            FilterKind::Commands => (ffi::PR_JOT_FILTER_TYPE_COMMANDS, 0),
            FilterKind::CommandsWithClasses => (
                ffi::PR_JOT_FILTER_TYPE_COMMANDS_WITH_CLASSES,
                ffi::PR_JOT_FILTER_FL_ALL_INCL_ALL,
            ),
        };
        let pool = pool();
        // SAFETY: the filters are allocated in our pool.
        let f =
            unsafe { ffi::pr_jot_filters_create(pool, c.as_ptr(), ty as c_int, flags as c_int) };
        if f.is_null() {
            Err(errno_text())
        } else {
            Ok(Filters {
                ptr: f,
                generation: GENERATION.load(Ordering::Relaxed),
            })
        }
    }
}

/// The compiled form of the named `LogFormat` (mod_log's config records in
/// the main server: argv[0] the name, argv[1] the compiled bytes).
pub fn find_log_format(name: &str) -> Option<LogFmt> {
    super::state::core_call("conf::lookup");
    let cname = CString::new("LogFormat").ok()?;
    // SAFETY: walking proftpd's config tree on its thread; argv entries of
    // LogFormat records are NUL-terminated.
    unsafe {
        let main = ffi::main_server;
        if main.is_null() {
            return None;
        }
        let ty = ffi::CONF_PARAM as i32;
        let mut c = ffi::find_config((*main).conf, ty, cname.as_ptr(), 0);
        while !c.is_null() {
            if (*c).argc >= 2 && !(*c).argv.is_null() {
                let n = *(*c).argv as *const c_char;
                let f = *(*c).argv.add(1) as *const c_char;
                if !n.is_null() && !f.is_null() && CStr::from_ptr(n).to_bytes() == name.as_bytes() {
                    return Some(LogFmt(CStr::from_ptr(f).to_bytes_with_nul().to_vec()));
                }
            }
            c = ffi::find_config_next(c, (*c).next, ty, cname.as_ptr(), 0);
        }
    }
    None
}

/// Compile LogFormat text (e.g. a Redis key format `"%u:%m"`) as the core
/// does; unknown `%{...}` sequences stay literal text.
pub fn compile(text: &str) -> Result<LogFmt, String> {
    super::state::core_call("jot::compile");
    let c = CString::new(text).map_err(|_| "NUL in text".to_string())?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: pr_jot_parsed_t points into our buffer (bufsz-1 usable, like
    // the C callers); the tmp pool is ours and destroyed afterwards.
    unsafe {
        let tmp = ffi::make_sub_pool(pool());
        let mut parsed = ffi::pr_jot_parsed_t {
            ptr: buf.as_mut_ptr(),
            buf: buf.as_mut_ptr(),
            bufsz: buf.len() - 1,
            buflen: buf.len() - 1,
        };
        let mut ctx = ffi::pr_jot_ctx_t {
            log: &mut parsed as *mut _ as *mut c_void,
            user_data: ptr::null(),
        };
        let res = ffi::pr_jot_parse_logfmt(
            tmp,
            c.as_ptr(),
            &mut ctx,
            Some(ffi::pr_jot_parse_on_meta),
            Some(ffi::pr_jot_parse_on_unknown),
            Some(ffi::pr_jot_parse_on_other),
            0,
        );
        let err = errno_text();
        let len = parsed.bufsz - parsed.buflen;
        ffi::destroy_pool(tmp);
        if res < 0 {
            return Err(err);
        }
        buf.truncate(len);
        buf.push(0);
    }
    Ok(LogFmt(buf))
}

#[repr(C)]
struct LogfmtJsonInfo {
    json_type: u32,
    json_key: *const c_char,
}

/// [`KEYS`] entry: not looked up yet.
const KEY_UNKNOWN: usize = 0;
/// [`KEYS`] entry: the core's table has no JSON key for this id.
const KEY_NONE: usize = 1;

/// The core's LogFormat→JSON table entry of each variable id (a pointer
/// into [`JSON_MAP`], in our pool), looked up once per process instead of
/// hashing the id for every variable of every event.  Cleared by
/// [`reset`] with the table.
static KEYS: [std::sync::atomic::AtomicUsize; 256] =
    [const { std::sync::atomic::AtomicUsize::new(KEY_UNKNOWN) }; 256];

/// The table entry for variable `id`, if it has a JSON key.
///
/// # Safety
/// On proftpd's thread, with [`JSON_MAP`] made (see [`json_map`]).
unsafe fn key_info(map: *mut ffi::pr_table_t, id: c_uchar) -> Option<&'static LogfmtJsonInfo> {
    let slot = &KEYS[usize::from(id)];
    let mut v = slot.load(Ordering::Relaxed);
    if v == KEY_UNKNOWN {
        // SAFETY: the key table maps one-byte ids to LogfmtJsonInfo
        // records, which live as long as the table (until `reset`).
        let lji = unsafe {
            ffi::pr_table_kget(map, &id as *const u8 as *const c_void, 1, ptr::null_mut())
                as *const LogfmtJsonInfo
        };
        v = if lji.is_null() || unsafe { (*lji).json_key.is_null() } {
            KEY_NONE
        } else {
            lji as usize
        };
        slot.store(v, Ordering::Relaxed);
    }
    // SAFETY: a live entry of the table (see above).
    (v != KEY_NONE).then(|| unsafe { &*(v as *const LogfmtJsonInfo) })
}

/// What the core's callbacks write to: the caller's sink.
struct Target<'a> {
    sink: &'a mut dyn JotSink,
    map: *mut ffi::pr_table_t,
    text: bool,
}

/// The core's callback for a resolved variable (through the guard, like
/// every entry point from C: a panic is logged and fails the resolution).
unsafe extern "C" fn on_meta(
    _p: *mut ffi::pool_rec,
    ctx: *mut ffi::pr_jot_ctx_t,
    id: c_uchar,
    hint: *const c_char,
    val: *const c_void,
) -> c_int {
    super::guard::run(
        "proftpd-rs",
        "jot::on_meta",
        |_| -1,
        || {
            // SAFETY: ctx->log is our Target (see resolve_to); val points
            // to the type the core's table announces for this id.
            unsafe { meta(&mut *((*ctx).log as *mut Target), id, hint, val) };
            0
        },
    )
}

/// # Safety
/// As for [`on_meta`]'s arguments.
unsafe fn meta(t: &mut Target, id: c_uchar, hint: *const c_char, val: *const c_void) {
    if val.is_null() {
        return;
    }
    // SAFETY: per the contract; the key and hint are NUL-terminated
    // strings of the core, val is of the announced type.
    unsafe {
        let Some(lji) = key_info(t.map, id) else {
            return;
        };
        let mut key = CStr::from_ptr(lji.json_key).to_bytes();
        match lji.json_type {
            ffi::PR_JSON_TYPE_STRING => {
                if !hint.is_null() {
                    key = CStr::from_ptr(hint).to_bytes();
                }
                let v = CStr::from_ptr(val as *const c_char).to_bytes();
                t.sink.var(key, JotRef::Str(v));
            }
            ffi::PR_JSON_TYPE_NUMBER => t.sink.var(key, JotRef::Num(*(val as *const f64))),
            ffi::PR_JSON_TYPE_BOOL => t.sink.var(key, JotRef::Bool(*(val as *const c_int) != 0)),
            _ => {}
        }
    }
}

/// The core's callback for literal text (through the guard too).
unsafe extern "C" fn on_other(
    _p: *mut ffi::pool_rec,
    ctx: *mut ffi::pr_jot_ctx_t,
    text: *mut c_uchar,
    len: usize,
) -> c_int {
    super::guard::run(
        "proftpd-rs",
        "jot::on_other",
        |_| -1,
        || {
            // SAFETY: ctx->log is our Target; text has len bytes.
            let t = unsafe { &mut *((*ctx).log as *mut Target) };
            if t.text && !text.is_null() {
                t.sink
                    .text(unsafe { std::slice::from_raw_parts(text, len) });
            }
            0
        },
    )
}

/// Resolve `fmt` for `cmd`, handing each piece to `sink` as the core
/// produces it.  `Ok(false)`: the filters exclude this command (the sink
/// may have been handed nothing).  Variables without a value are left
/// out; literal text is handed over only when `with_text`.
pub fn resolve_to(
    cmd: &Cmd,
    filters: Option<Filters>,
    fmt: &LogFmt,
    sink: &mut dyn JotSink,
    with_text: bool,
) -> Result<bool, String> {
    let filters = match filters.map(Filters::live) {
        None => ptr::null_mut(),
        Some(Some(f)) => f,
        Some(None) => return Err("command filters of an earlier configuration".into()),
    };
    if fmt.0.last() != Some(&0) {
        return Err("LogFormat not terminated".into());
    }
    super::state::core_call("jot::resolve");
    let mut target = Target {
        sink,
        map: json_map(),
        text: with_text,
    };
    // SAFETY: cmd is the live cmd_rec; our callbacks only touch `target`.
    // The core reads the NUL-terminated format and never writes to it.
    // What it allocates goes into the command's temporary pool, destroyed
    // with the command (a pool of ours if the command has none).
    unsafe {
        let raw = cmd.raw();
        let own = (*raw).tmp_pool.is_null();
        let tmp = if own {
            ffi::make_sub_pool(pool())
        } else {
            (*raw).tmp_pool
        };
        let mut ctx = ffi::pr_jot_ctx_t {
            log: &mut target as *mut Target as *mut c_void,
            user_data: target.map as *const c_void,
        };
        let res = ffi::pr_jot_resolve_logfmt(
            tmp,
            raw,
            filters,
            fmt.0.as_ptr() as *mut c_uchar,
            &mut ctx,
            Some(on_meta),
            None,
            Some(on_other),
        );
        let errno = std::io::Error::last_os_error();
        if own {
            ffi::destroy_pool(tmp);
        }
        if res < 0 {
            if errno.raw_os_error() == Some(libc::EPERM) {
                return Ok(false);
            }
            return Err(errno.to_string());
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_outside_their_pool_are_refused() {
        // No pool (none made yet, or reset): whatever the generation.
        assert!(POOL.load(Ordering::Relaxed).is_null());
        for generation in [0, GENERATION.load(Ordering::Relaxed), u64::MAX] {
            let f = Filters {
                ptr: ptr::NonNull::dangling().as_ptr(),
                generation,
            };
            assert_eq!(f.live(), None);
        }
    }
}
