//! Configuration directives: a typed view of the directive's `cmd_rec`, the
//! CONF_ERROR-equivalent error path, storing parsed values in config records,
//! and looking them up again in the session.
//!
//! Parsed values are Rust values kept in a per-process registry; the config
//! record (allocated in its own pool, as proftpd requires) holds only a small
//! C key into it.  proftpd copies config records shallowly (e.g. `<Global>`
//! into every server), which is safe with plain keys; no Rust value hangs off
//! a pool that might be destroyed under a copy.  The registry is cleared when
//! the configuration is re-read (`core.restart`).
//!
//! A record is ours when its last argv slot is an address we allocated for
//! a key (kept in a sorted table): a record of the same name made by
//! another module (e.g. Debian's C mod_redis) is recognised as foreign
//! without reading any of its memory beyond its own argv array.

use super::ffi;
use std::any::Any;
use std::ffi::{CStr, CString, c_void};
use std::marker::PhantomData;
use std::ptr;
use std::sync::Mutex;

/// A directive of a module: its name, the type of the value its handler
/// stores (and lookups return), and the handler.  A module declares one
/// `const` per directive, next to its handler, and lists it in its
/// [`crate::host::module!`] declaration, which makes the directive table
/// entry; the handler gets a [`Directive<T>`] of the same `T`, so what is
/// stored is what is read:
///
/// ```ignore
/// const ENGINE: Key<bool> = Key::new(c"UniqueIDEngine", set_engine);
/// fn set_engine(cmd: &mut Directive<bool>) -> Result<(), String> { ... }
/// let on = ENGINE.get(Scope::Server).unwrap_or(true);
/// ```
pub struct Key<T> {
    name: &'static CStr,
    handler: DirectiveFn<T>,
}

/// A directive handler: parse the arguments, store the value (or say what
/// is wrong: proftpd then refuses the configuration, naming the directive).
pub type DirectiveFn<T> = fn(&mut Directive<T>) -> Result<(), String>;

impl<T> Clone for Key<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Key<T> {}

impl<T> Key<T> {
    pub const fn new(name: &'static CStr, handler: DirectiveFn<T>) -> Self {
        Key { name, handler }
    }

    /// The directive name as the configuration writes it.
    pub fn name(self) -> &'static str {
        self.name.to_str().unwrap_or_default()
    }

    pub(crate) const fn c_name(self) -> &'static CStr {
        self.name
    }
}

impl<T: Any + Clone> Key<T> {
    /// The first value stored for this directive in `scope`.  Runs in
    /// every session for every setting a module reads, so it allocates
    /// nothing.
    pub fn get(self, scope: Scope) -> Option<T> {
        let mut first = None;
        walk(scope_set(scope), self.name, false, |v| {
            first = Some(v);
            false
        });
        first
    }

    /// Every value stored for this directive in `scope`, in configuration
    /// order.
    pub fn all(self, scope: Scope) -> Vec<T> {
        collect(scope_set(scope), self.name, false)
    }

    /// Every value stored in `scope` and in the sections nested in it
    /// (`<Anonymous>`, `<Directory>`, ...), in configuration order.
    pub fn all_nested(self, scope: Scope) -> Vec<T> {
        collect(scope_set(scope), self.name, true)
    }

    /// Every value stored directly in the session's `<Anonymous>` section
    /// (`session.anon_config`); empty outside anonymous sessions.
    pub fn all_anon(self) -> Vec<T> {
        // SAFETY: reading proftpd's session global on its one thread.
        let set = unsafe {
            let s = &raw const ffi::session;
            if (*s).anon_config.is_null() {
                return Vec::new();
            }
            (*(*s).anon_config).subset
        };
        collect(ConfigSet(set), self.name, false)
    }
}

/// A directive being parsed (the `cmd_rec` of a config handler) whose
/// handler stores values of type `T` (see [`Key`]).
pub struct Directive<T> {
    cmd: *mut ffi::cmd_rec,
    /// The module's version (`mod_x/1.0-rs`), the prefix of its warnings.
    version: &'static str,
    name: String,
    args: Vec<String>,
    /// Set when storing a record failed; the handler's result becomes
    /// this error.
    error: Option<String>,
    _value: PhantomData<fn(T)>,
}

/// Our marker in front of registry keys stored in our key slots (for
/// debugging; lookups go by the slot's address, see [`SlotTable`]).
const KEY_MAGIC: u64 = 0x5253_5052_0000_0000; // "RSPR"

struct Registry {
    values: Vec<Box<dyn Any + Send>>,
    slots: SlotTable,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    values: Vec::new(),
    slots: SlotTable::new(),
});

/// The addresses of our key slots (the last argv entry of each of our
/// config records) and the index of the value each one stands for, sorted
/// by address.  Looking a pointer up reads only this table.
struct SlotTable {
    entries: Vec<(usize, usize)>,
}

impl SlotTable {
    const fn new() -> Self {
        SlotTable {
            entries: Vec::new(),
        }
    }

    /// Record that the slot at `addr` stands for value `idx`.  An address
    /// seen before (memory of a freed record, e.g. a re-read `.ftpaccess`,
    /// reused for a new one) now means the new value.
    fn insert(&mut self, addr: usize, idx: usize) {
        match self.entries.binary_search_by_key(&addr, |e| e.0) {
            Ok(i) => self.entries[i].1 = idx,
            Err(i) => self.entries.insert(i, (addr, idx)),
        }
    }

    /// The value index of the slot at `addr`, if it is one of ours.
    fn find(&self, addr: usize) -> Option<usize> {
        let i = self.entries.binary_search_by_key(&addr, |e| e.0).ok()?;
        Some(self.entries[i].1)
    }
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Forget every stored value: the configuration is about to be re-read.
pub fn reset_registry() {
    // Dropped with its buffer: after the last module unload the library
    // goes away, and nothing of it may be left behind on the heap.
    GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut r = registry();
    drop(std::mem::take(&mut r.values));
    drop(std::mem::take(&mut r.slots.entries));
}

/// How many values are stored.
pub fn registry_len() -> usize {
    registry().values.len()
}

impl<T: Any + Send> Directive<T> {
    /// The directive name as written in the config (`argv[0]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of arguments, not counting the directive name.
    pub fn argc(&self) -> usize {
        self.args.len()
    }

    /// # Safety
    /// `cmd` must be valid, with `argc` NUL-terminated strings in `argv`.
    unsafe fn new(cmd: *mut ffi::cmd_rec, version: &'static str) -> Self {
        // SAFETY: per the contract above.
        let argc = unsafe { (*cmd).argc } as usize;
        let mut all = (0..argc).map(|i| unsafe { Self::raw_arg(cmd, i) }.unwrap_or_default());
        let name = all.next().unwrap_or_default();
        Directive {
            cmd,
            version,
            name,
            args: all.collect(),
            error: None,
            _value: PhantomData,
        }
    }

    unsafe fn raw_arg(cmd: *mut ffi::cmd_rec, i: usize) -> Option<String> {
        // SAFETY: argv has argc entries, each a NUL-terminated string at
        // configuration time.
        unsafe {
            let c = &*cmd;
            if i >= c.argc as usize || c.argv.is_null() {
                return None;
            }
            let p = *c.argv.add(i) as *const std::ffi::c_char;
            if p.is_null() {
                return None;
            }
            Some(CStr::from_ptr(p).to_string_lossy().into_owned())
        }
    }

    /// Argument `i` (0-based, not counting the directive name).
    pub fn arg(&self, i: usize) -> &str {
        &self.args[i]
    }

    /// All arguments (not counting the directive name).
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Exactly `n` arguments ("wrong number of parameters", "missing
    /// parameters"), in one of the `allowed` contexts (what the C modules'
    /// `CHECK_ARGS` and `CHECK_CONF` check, in that order).
    pub fn check(&self, n: usize, allowed: u32) -> Result<(), String> {
        self.check_args_range(n, n)?;
        self.check_context(allowed)
    }

    /// At least `n` arguments, in one of the `allowed` contexts (for a
    /// directive that takes any number of words from the `n`th on).
    pub fn check_at_least(&self, n: usize, allowed: u32) -> Result<(), String> {
        self.check_args_range(n, usize::MAX)?;
        self.check_context(allowed)
    }

    /// What the C modules' `CHECK_ARGS` (which counts only missing
    /// arguments) and `CHECK_CONF` check: at least `n` arguments, in one of
    /// the `allowed` contexts.  Words after the `n`th are ignored, as the C
    /// modules ignore them, with a warning naming the directive, their
    /// positions and the line (not the words: one may be a misplaced
    /// password).
    pub fn check_ignoring_extra(&self, n: usize, allowed: u32) -> Result<(), String> {
        self.check_at_least(n, allowed)?;
        if self.argc() > n {
            let what = if self.argc() == n + 1 {
                format!("parameter {}", n + 1)
            } else {
                format!("parameters {} to {}", n + 1, self.argc())
            };
            self.warn(&format!("{what} ignored: it takes {n}"));
        }
        Ok(())
    }

    /// A warning about this directive (the configuration is accepted):
    /// `mod_x/1.0-rs: Directive: msg (line N)`, at WARNING, where the core
    /// logs while it reads the configuration (stderr for `proftpd -t`).
    pub fn warn(&self, msg: &str) {
        super::log::warning(&format!(
            "{}: {}: {msg} (line {})",
            self.version,
            self.name,
            self.line()
        ));
    }

    /// The line of the configuration file being read.
    pub fn line(&self) -> u32 {
        // SAFETY: a plain read of the parser's state.
        unsafe { ffi::pr_parser_get_lineno() }
    }

    /// Between `min` and `max` arguments.
    pub fn check_args_range(&self, min: usize, max: usize) -> Result<(), String> {
        check_arity(self.argc(), min, max)
    }

    /// The directive appears in one of the `allowed` contexts (see
    /// [`crate::host::context`]), or "directive not allowed in X context".
    pub fn check_context(&self, allowed: u32) -> Result<(), String> {
        // SAFETY: `cmd` is valid; get_context_name returns a static string.
        unsafe {
            if ffi::check_context(self.cmd, allowed as i32) != 0 {
                return Ok(());
            }
            let name = ffi::get_context_name(self.cmd);
            let name = if name.is_null() {
                "this".to_string()
            } else {
                CStr::from_ptr(name).to_string_lossy().into_owned()
            };
            Err(format!("directive not allowed in {name} context"))
        }
    }

    /// The context the directive appears in (`CONF_*` flag of the enclosing
    /// section), computed as the core's `check_context` does: the enclosing
    /// section, else the server being configured (`CONF_VIRTUAL` inside a
    /// `<VirtualHost>`, where `cmd->config` is NULL), else `CONF_ROOT`.
    pub fn context(&self) -> u32 {
        // SAFETY: `cmd->config` is the enclosing section or NULL;
        // `cmd->server` is the server being configured (or NULL).
        unsafe {
            let c = (*self.cmd).config;
            let s = (*self.cmd).server;
            let section = if c.is_null() {
                None
            } else {
                Some((*c).config_type)
            };
            let server = if s.is_null() {
                None
            } else {
                Some((*s).config_type)
            };
            context_of(section, server)
        }
    }

    /// Argument `i` as a proftpd Boolean (on/off, yes/no, true/false, 1/0),
    /// or "expected Boolean parameter".
    pub fn bool_arg(&self, i: usize) -> Result<bool, String> {
        parse_bool(self.arg(i)).ok_or_else(|| "expected Boolean parameter".to_string())
    }

    /// Store `value` as this directive's config record in the current
    /// context.
    pub fn add_param(&mut self, value: T) {
        self.add_param_flags(value, 0, &[]);
    }

    /// Like [`Directive::add_param`], with `c_argv` laid out in `argv[0..]`
    /// exactly as the C module stores this directive, for other C modules
    /// that read the record themselves (e.g. mod_wrap2_redis and
    /// mod_tls_redis read `RedisEngine` and `RedisServer`).
    pub fn add_param_c(&mut self, value: T, c_argv: &[CArg]) {
        self.add_param_flags(value, 0, c_argv);
    }

    /// Like [`Directive::add_param_c`], with `CF_MULTI` when `multi`: a
    /// record that mod_ifsession adds to its context's records of the same
    /// name instead of replacing them.
    pub fn add_param_c_multi(&mut self, value: T, c_argv: &[CArg], multi: bool) {
        let flags = if multi { ffi::CF_MULTI as i64 } else { 0 };
        self.add_param_flags(value, flags, c_argv);
    }

    /// Like [`Directive::add_param`], with `CF_MERGEDOWN_MULTI`: every
    /// record of this directive in a context is visible in the
    /// `<Directory>` sections below it (for directives that may repeat).
    pub fn add_param_multi(&mut self, value: T) {
        self.add_param_flags(value, ffi::CF_MERGEDOWN_MULTI as i64, &[]);
    }

    fn add_param_flags(&mut self, value: T, flags: i64, c_argv: &[CArg]) {
        if self.error.is_some() {
            return;
        }
        let name = CString::new(self.name.as_str()).unwrap_or_default();
        let n = c_argv.len();
        // SAFETY: add_config_param creates a record in the current context
        // (NULL on failure, e.g. no context open); we replace its argv by
        // one of n + 2 slots (NULL-terminated, as proftpd allocates it) from
        // c->pool, holding the C layout in argv[0..n] and, in argv[n], our
        // key slot, in memory from the same pool.
        let slot = unsafe {
            let c = ffi::add_config_param(name.as_ptr(), 1, ptr::null_mut::<c_void>());
            if c.is_null() || (*c).pool.is_null() {
                self.error = Some("unable to add a config record".into());
                return;
            }
            let pool = (*c).pool;
            let argv = ffi::pcalloc(pool, ((n + 2) * std::mem::size_of::<*mut c_void>()) as _)
                as *mut *mut c_void;
            for (i, arg) in c_argv.iter().enumerate() {
                *argv.add(i) = arg.to_c(pool);
            }
            let slot = ffi::pcalloc(pool, std::mem::size_of::<u64>() as _) as *mut u64;
            *argv.add(n) = slot as *mut c_void;
            (*c).argv = argv;
            (*c).argc = (n + 1) as _;
            (*c).flags |= flags;
            slot
        };
        let key = {
            let mut r = registry();
            r.values.push(Box::new(value));
            let idx = r.values.len() - 1;
            r.slots.insert(slot as usize, idx);
            KEY_MAGIC | idx as u64
        };
        // SAFETY: `slot` is the 8 bytes we just allocated from c->pool.
        unsafe { slot.write(key) };
    }
}

/// One `config_rec->argv` slot as a C module lays it out.
#[derive(Clone, Debug)]
pub enum CArg {
    /// A pointer to an `int`.
    Int(i32),
    /// A pointer to an `unsigned long`.
    ULong(u64),
    /// A string (NULL for `None`).
    Str(Option<String>),
    /// An `array_header` of `pr_netaddr_t *` (host, port); names that do not
    /// resolve are left out (as the C module does).
    NetAddrs(Vec<(String, u16)>),
}

impl CArg {
    /// # Safety
    /// `pool` must be a live pool; the result lives in it.
    unsafe fn to_c(&self, pool: *mut ffi::pool_rec) -> *mut c_void {
        // SAFETY: every allocation comes from `pool`, per the contract.
        unsafe {
            match self {
                CArg::Int(v) => {
                    let p = ffi::pcalloc(pool, std::mem::size_of::<std::ffi::c_int>() as _)
                        as *mut std::ffi::c_int;
                    p.write(*v);
                    p as *mut c_void
                }
                CArg::ULong(v) => {
                    let p = ffi::pcalloc(pool, std::mem::size_of::<std::ffi::c_ulong>() as _)
                        as *mut std::ffi::c_ulong;
                    p.write(*v as std::ffi::c_ulong);
                    p as *mut c_void
                }
                CArg::Str(None) => ptr::null_mut(),
                CArg::Str(Some(s)) => {
                    let c = super::log::to_cstring(s);
                    ffi::pstrdup(pool, c.as_ptr()) as *mut c_void
                }
                CArg::NetAddrs(addrs) => {
                    let (arr, _) = netaddr_array(pool, addrs);
                    arr as *mut c_void
                }
            }
        }
    }
}

/// An `array_header` of `pr_netaddr_t *` in `pool`, and the names that did
/// not resolve.
///
/// # Safety
/// `pool` must be a live pool; the array and addresses live in it.
pub(crate) unsafe fn netaddr_array(
    pool: *mut ffi::pool_rec,
    addrs: &[(String, u16)],
) -> (*mut ffi::array_header, Vec<String>) {
    let mut unresolved = Vec::new();
    // SAFETY: per the contract; pr_netaddr_get_addr copies the name.
    unsafe {
        let arr = ffi::make_array(
            pool,
            addrs.len() as _,
            std::mem::size_of::<*mut c_void>() as _,
        );
        for (host, port) in addrs {
            let h = super::log::to_cstring(host);
            let a = ffi::pr_netaddr_get_addr(pool, h.as_ptr(), ptr::null_mut());
            if a.is_null() {
                unresolved.push(host.clone());
                continue;
            }
            let a = ffi::pr_netaddr_dup(pool, a);
            ffi::pr_netaddr_set_port2(a, u32::from(*port));
            let slot = ffi::push_array(arr) as *mut *mut ffi::pr_netaddr_t;
            *slot = a;
        }
        (arr, unresolved)
    }
}

/// The handler of an `on|off` directive allowed in `CONTEXTS` (e.g.
/// `UniqueIDEngine`): one proftpd Boolean, stored as a `bool`.
pub fn on_off<const CONTEXTS: u32>(cmd: &mut Directive<bool>) -> Result<(), String> {
    cmd.check(1, CONTEXTS)?;
    let on = cmd.bool_arg(0)?;
    cmd.add_param(on);
    Ok(())
}

/// The handler of a directive that takes one absolute path (a log file's):
/// `Directive path`, in `CONTEXTS`.  Words after the path are ignored, as
/// the C modules' `CHECK_ARGS` ignores them, with a warning.
pub fn absolute_path<const CONTEXTS: u32>(cmd: &mut Directive<String>) -> Result<(), String> {
    cmd.check_ignoring_extra(1, CONTEXTS)?;
    let path = cmd.arg(0).to_string();
    if !path.starts_with('/') {
        return Err(format!("must be an absolute path: {path}"));
    }
    cmd.add_param(path);
    Ok(())
}

/// `argc` arguments where `min` to `max` are allowed: "missing parameters"
/// or "wrong number of parameters" (what [`Directive::check_args_range`]
/// says, for pure parsers that get the arguments as a slice).
pub fn check_arity(argc: usize, min: usize, max: usize) -> Result<(), String> {
    if argc < min {
        Err("missing parameters".into())
    } else if argc > max {
        Err("wrong number of parameters".into())
    } else {
        Ok(())
    }
}

/// `check_context`'s rule: the enclosing section's type unless it is a
/// plain parameter, else the server's type when set, else `CONF_ROOT`.
fn context_of(section: Option<i32>, server: Option<i32>) -> u32 {
    match (section, server) {
        (Some(t), _) if t != ffi::CONF_PARAM as i32 => t as u32,
        (_, Some(t)) if t != 0 => t as u32,
        _ => ffi::CONF_ROOT,
    }
}

/// proftpd's Boolean words (`pr_str_is_boolean`).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Run the handler of `key`: `Ok` is PR_HANDLED; `Err(msg)` (or a panic) is
/// the CONF_ERROR equivalent, "Directive: msg", which makes proftpd refuse
/// the configuration, naming the file and line.  (The body of the
/// directive trampolines [`crate::host::module!`] makes; a panic is
/// reported under the directive's name.)
///
/// # Safety
/// `cmd` must be the cmd_rec proftpd passed to `key`'s handler.
pub(crate) unsafe fn dispatch<T: Any + Send>(
    cmd: *mut ffi::cmd_rec,
    module: &'static str,
    key: &Key<T>,
) -> *mut ffi::modret_t {
    // SAFETY: per this function's contract.
    let mut d = unsafe { Directive::new(cmd, module) };
    let name = d.name().to_string();
    let result = super::guard::run(
        module,
        key.name(),
        |msg| Err(format!("internal error: {msg}")),
        || (key.handler)(&mut d),
    );
    let result = match (result, d.error.take()) {
        (Ok(()), Some(e)) => Err(e),
        (r, _) => r,
    };
    match result {
        // SAFETY: cmd is valid; mod_create_ret allocates in cmd->tmp_pool.
        Ok(()) => unsafe { ffi::mod_create_ret(cmd, 0, ptr::null(), ptr::null()) },
        Err(msg) => {
            let text = super::log::to_cstring(&format!("{name}: {msg}"));
            // SAFETY: the message is copied into cmd->tmp_pool, which
            // outlives the returned modret.
            unsafe {
                let m = ffi::pstrdup((*cmd).tmp_pool, text.as_ptr());
                ffi::mod_create_ret(cmd, 1, ptr::null(), m)
            }
        }
    }
}

/// Where to look a directive up in the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The server's own configuration (`main_server->conf`: the server or
    /// `<VirtualHost>`, with `<Global>` merged in).
    Server,
    /// The configuration in force for the current command: the current
    /// `<Directory>`, else `<Anonymous>`, else the server (`CURRENT_CONF`).
    Current,
    /// The main server's own configuration (the "server config" context,
    /// with `<Global>` merged in), also in a session of a `<VirtualHost>`
    /// (the first server of the server list; `main_server` is the
    /// session's server).
    MainServer,
}

/// Which configuration is in force for the current command (the section
/// [`Scope::Current`] reads), as an identity a module can cache what it
/// derives from that configuration under (e.g. mod_redis's rules).
///
/// It is the address of the section's record — the session's
/// `<Directory>` (`session.dir_config`), else its `<Anonymous>`, else the
/// server (`main_server`, which `HOST` changes) — the registry's
/// generation (bumped when the configuration is re-read), and a
/// fingerprint of the section's own records: how many there are, the
/// first and the last.  Within a session these section records are never
/// freed (a re-read `.ftpaccess` file replaces a directory's contents but
/// keeps its record), but their contents can change: mod_ifsession merges
/// the matching `<IfUser>`/`<IfGroup>` sections into the server's and the
/// directories' records after a login, appending records, and a re-read
/// `.ftpaccess` swaps dynamic ones.  Either changes the fingerprint.
/// Computing it walks the section's list once, without comparing names
/// (a few instructions per record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    section: usize,
    generation: u64,
    records: usize,
    first: usize,
    last: usize,
}

/// The [`Context`] of the command being handled.
pub fn current_context() -> Context {
    let ConfigSet(set) = scope_set(Scope::Current);
    // SAFETY: reading proftpd's globals and walking one live set of its
    // configuration tree (a linked list), on its one thread.
    unsafe {
        let s = &raw const ffi::session;
        let section = if !(*s).dir_config.is_null() {
            (*s).dir_config as usize
        } else if !(*s).anon_config.is_null() {
            (*s).anon_config as usize
        } else {
            ffi::main_server as usize
        };
        let (mut records, mut first, mut last) = (0, 0, 0);
        if !set.is_null() {
            let mut m = (*set).xas_list;
            first = m as usize;
            while !m.is_null() {
                records += 1;
                last = m as usize;
                m = (*m).next;
            }
        }
        Context {
            section,
            generation: GENERATION.load(std::sync::atomic::Ordering::Relaxed),
            records,
            first,
            last,
        }
    }
}

/// Counts [`reset_registry`] calls: see [`Context`].
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A set of proftpd's configuration tree, or NULL: made only from the
/// core's own globals ([`scope_set`], [`Key::all_anon`]).
#[derive(Clone, Copy)]
struct ConfigSet(*mut ffi::xaset_t);

fn scope_set(scope: Scope) -> ConfigSet {
    // SAFETY: reading proftpd's globals on its one thread.
    ConfigSet(unsafe {
        let main = ffi::main_server;
        let server_conf = if main.is_null() {
            ptr::null_mut()
        } else {
            (*main).conf
        };
        match scope {
            Scope::Server => server_conf,
            Scope::MainServer => {
                // `main_server->set` is the server list; its first member
                // is the main server.
                let set = if main.is_null() {
                    ptr::null_mut()
                } else {
                    (*main).set
                };
                let first = if set.is_null() {
                    ptr::null_mut()
                } else {
                    (*set).xas_list as *mut ffi::server_rec
                };
                if first.is_null() {
                    ptr::null_mut()
                } else {
                    (*first).conf
                }
            }
            Scope::Current => {
                let s = &raw const ffi::session;
                if !(*s).dir_config.is_null() {
                    (*(*s).dir_config).subset
                } else if !(*s).anon_config.is_null() {
                    (*(*s).anon_config).subset
                } else {
                    server_conf
                }
            }
        }
    })
}

/// The value of ours `c` stands for, if it is one of our records (of type
/// `T`).
///
/// # Safety
/// `c` is a live config record (whoever made it, its argv holds argc
/// entries).
unsafe fn value_of<T: Any + Clone>(c: *mut ffi::config_rec) -> Option<T> {
    // SAFETY: per the contract.  Only the pointer in the last argv entry
    // is read, never what it points to.
    let slot = unsafe {
        let argc = (*c).argc as usize;
        if argc < 1 || (*c).argv.is_null() {
            return None;
        }
        *(*c).argv.add(argc - 1)
    };
    if slot.is_null() {
        return None;
    }
    let r = registry();
    let idx = r.slots.find(slot as usize)?;
    r.values.get(idx)?.downcast_ref::<T>().cloned()
}

fn collect<T: Any + Clone>(set: ConfigSet, name: &CStr, recurse: bool) -> Vec<T> {
    let mut out = Vec::new();
    walk(set, name, recurse, |v| {
        out.push(v);
        true
    });
    out
}

/// Hand the values stored for `name` in `set` to `f`, in configuration
/// order, while it returns true.
fn walk<T: Any + Clone>(
    ConfigSet(set): ConfigSet,
    name: &CStr,
    recurse: bool,
    mut f: impl FnMut(T) -> bool,
) {
    if set.is_null() {
        return;
    }
    super::state::core_call("conf::lookup");
    let cname = name.as_ptr();
    // SAFETY: find_config/find_config_next walk proftpd's config tree (a
    // ConfigSet is one of its live sets) and return live records.
    unsafe {
        let ty = ffi::CONF_PARAM as i32;
        let mut c = ffi::find_config(set, ty, cname, recurse as i32);
        while !c.is_null() {
            if let Some(v) = value_of::<T>(c)
                && !f(v)
            {
                return;
            }
            c = ffi::find_config_next(c, (*c).next, ty, cname, recurse as i32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SlotTable, context_of, ffi, parse_bool};

    #[test]
    fn slot_table_knows_only_our_addresses() {
        let mut t = SlotTable::new();
        for (i, addr) in [0x5000usize, 0x1000, 0x3000, 0x2000]
            .into_iter()
            .enumerate()
        {
            t.insert(addr, i);
        }
        assert_eq!(t.find(0x1000), Some(1));
        assert_eq!(t.find(0x2000), Some(3));
        assert_eq!(t.find(0x5000), Some(0));
        for foreign in [0, 0x1001, 0x2fff, 0x4000, 0x6000, usize::MAX] {
            assert_eq!(t.find(foreign), None, "{foreign:#x}");
        }
        // An address reused for a new record stands for the new value.
        t.insert(0x3000, 9);
        assert_eq!(t.find(0x3000), Some(9));
        assert_eq!(t.entries.len(), 4);
    }

    #[test]
    fn context_like_check_context() {
        let (root, vhost) = (ffi::CONF_ROOT as i32, ffi::CONF_VIRTUAL as i32);
        let (dir, param) = (ffi::CONF_DIR as i32, ffi::CONF_PARAM as i32);
        // Main server: no section, server type 0 or CONF_ROOT.
        assert_eq!(context_of(None, Some(0)), ffi::CONF_ROOT);
        assert_eq!(context_of(None, Some(root)), ffi::CONF_ROOT);
        assert_eq!(context_of(None, None), ffi::CONF_ROOT);
        // Inside <VirtualHost>: cmd->config is NULL, the server says so.
        assert_eq!(context_of(None, Some(vhost)), ffi::CONF_VIRTUAL);
        assert_eq!(context_of(Some(param), Some(vhost)), ffi::CONF_VIRTUAL);
        // A section wins.
        assert_eq!(context_of(Some(dir), Some(vhost)), ffi::CONF_DIR);
    }

    #[test]
    fn booleans() {
        for s in ["on", "ON", "yes", "true", "1"] {
            assert_eq!(parse_bool(s), Some(true), "{s}");
        }
        for s in ["off", "No", "false", "0"] {
            assert_eq!(parse_bool(s), Some(false), "{s}");
        }
        for s in ["maybe", "", "2", "onn"] {
            assert_eq!(parse_bool(s), None, "{s}");
        }
    }
}

/// Property tests (see docs/fuzzing.md).
#[cfg(test)]
mod proptests {
    use super::{check_arity, parse_bool};
    use crate::proptest_support::{config, text_or};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(config(1024))]

        #[test]
        fn bool_words(s in text_or(&["o", "n", "f", "O", "N", "F", "yes", "no", "true", "false", "1", "0", " ", "\u{130}", "\u{212a}"], 3)) {
            let want = match s.to_lowercase().as_str() {
                "on" | "yes" | "true" | "1" if s.is_ascii() => Some(true),
                "off" | "no" | "false" | "0" if s.is_ascii() => Some(false),
                _ => None,
            };
            prop_assert_eq!(parse_bool(&s), want);
        }

        #[test]
        fn arity(argc in 0usize..20, min in 0usize..10, extra in 0usize..10) {
            let max = min + extra;
            let r = check_arity(argc, min, max);
            prop_assert_eq!(r.is_ok(), (min..=max).contains(&argc));
        }
    }
}
