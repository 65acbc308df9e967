//! mod_unique_id: a unique ID for every FTP session, in the `UNIQUE_ID`
//! environment variable and session note.
//!
//! Directive: `UniqueIDEngine on|off` (server config, `<VirtualHost>`,
//! `<Global>`; default on).

mod id;

pub use id::{ALPHABET, ID_LEN, encode_id};

use crate::host::conf::{Directive, Key, Scope};
use crate::host::{context, session, sys};

crate::host::module! {
    name: unique_id,
    directives: [ENGINE],
    sess_init: sess_init,
}

/// The name of the environment variable and of the session note that hold
/// the ID (other modules read the note: mod_log_forensic).
pub const NOTE: &str = "UNIQUE_ID";

/// usage: UniqueIDEngine on|off
const ENGINE: Key<bool> = Key::new(c"UniqueIDEngine", set_engine);

/// As the C module: words after the first are ignored (with a warning
/// here, naming the directive and the line).
fn set_engine(cmd: &mut Directive<bool>) -> Result<(), String> {
    cmd.check_ignoring_extra(1, context::ROOT | context::VIRTUAL | context::GLOBAL)?;
    let on = cmd.bool_arg(0)?;
    cmd.add_param(on);
    Ok(())
}

/// Give the session its ID, if the server's `UniqueIDEngine` is on.  A
/// session keeps that one ID from start to end: `HOST` changes nothing
/// (as with the C module, which has no session re-init handler), so the
/// forensic block and every log line of the session carry the same ID.
fn sess_init() -> Result<(), String> {
    if !ENGINE.get(Scope::Server).unwrap_or(true) {
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
    match session::env_set(NOTE, &id) {
        Ok(()) => LOG.debug_with(8, || format!("unique session ID is '{id}'")),
        Err(e) => LOG.debug(
            0,
            &format!("error setting UNIQUE_ID environment variable: {e}"),
        ),
    }
    if let Err(e) = session::note_set(NOTE, &id) {
        LOG.debug(0, &format!("error adding UNIQUE_ID session note: {e}"));
    }
    Ok(())
}
