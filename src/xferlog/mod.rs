//! mod_xferlog: transfer logs in the wu-orig, wu-ext and anon formats.

pub mod format;
