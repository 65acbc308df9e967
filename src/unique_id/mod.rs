//! mod_unique_id: a unique ID for every FTP session, in the `UNIQUE_ID`
//! environment variable and session note.
//!
//! Directive: `UniqueIDEngine on|off` (server config, `<VirtualHost>`,
//! `<Global>`; default on).

mod id;

pub use id::{ALPHABET, ID_LEN, encode_id};

use crate::host::conf::{self, Directive, Scope};
use crate::host::event;
use crate::host::log::Logger;
use crate::host::module::{CONF_END, ConfTable, ModuleRecord, ModuleSpec, cstr, directive};
use crate::host::{context, session, sys};
use crate::unique_id_module as MODULE;

pub const VERSION: &str = concat!("mod_unique_id/", env!("CARGO_PKG_VERSION"), "-rs");
const LOG: Logger = Logger::new(VERSION, c"unique_id");
const KEY: &str = "UNIQUE_ID";
const ENGINE: &str = "UniqueIDEngine";

static CONFTAB: ConfTable<2> = ConfTable::new([
    directive(
        c"UniqueIDEngine",
        crate::host::module::conf_handler!(VERSION, set_engine),
    ),
    CONF_END,
]);

/// The module record exported as `unique_id_module`.
pub const fn record() -> ModuleRecord {
    ModuleRecord::new(ModuleSpec {
        name: c"unique_id",
        version: cstr(concat!(
            "mod_unique_id/",
            env!("CARGO_PKG_VERSION"),
            "-rs\0"
        )),
        conftable: CONFTAB.as_ptr(),
        cmdtable: std::ptr::null_mut(),
        init: crate::host::module::init_fn!(VERSION, init),
        sess_init: crate::host::module::init_fn!(VERSION, sess_init),
    })
}

/// usage: UniqueIDEngine on|off
fn set_engine(cmd: &mut Directive) -> Result<(), String> {
    cmd.check_args(1)?;
    cmd.check_context(context::ROOT | context::VIRTUAL | context::GLOBAL)?;
    let on = cmd.bool_arg(0)?;
    cmd.add_param(on, false);
    Ok(())
}

fn init() -> Result<(), String> {
    event::register_module_lifecycle(&MODULE);
    Ok(())
}

/// Give the session its ID, if the server's `UniqueIDEngine` is on.  A
/// session keeps that one ID from start to end: `HOST` changes nothing
/// (as with the C module, which has no session re-init handler), so the
/// forensic block and every log line of the session carry the same ID.
fn sess_init() -> Result<(), String> {
    if !conf::lookup::<bool>(Scope::Server, ENGINE, false).unwrap_or(true) {
        LOG.trace(8, "UniqueIDEngine off: no UNIQUE_ID for this session");
        return Ok(());
    }
    LOG.debug(8, "generating unique session ID");
    let mut random = [0u8; id::RANDOM_LEN];
    if let Err(e) = sys::random_bytes(&mut random) {
        LOG.notice(&format!("unable to read random bytes: {e}"));
        return Ok(());
    }
    let (secs, micros) = sys::now();
    let id = encode_id(secs, micros, &random);
    match session::env_set(KEY, &id) {
        Ok(()) => LOG.debug_with(8, || format!("unique session ID is '{id}'")),
        Err(e) => LOG.debug(
            0,
            &format!("error setting UNIQUE_ID environment variable: {e}"),
        ),
    }
    if let Err(e) = session::note_set(KEY, &id) {
        LOG.debug(0, &format!("error adding UNIQUE_ID session note: {e}"));
    }
    Ok(())
}
