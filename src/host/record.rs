//! The record proftpd knows a module by (`struct module`): the type every
//! layer above names a module with.  Made by [`super::module!`] (its
//! constructor lives with the declaration, in module.rs).

use super::ffi;
use std::cell::UnsafeCell;
use std::ffi::CStr;

/// An exported `module` record (`unique_id_module`, ...).
#[repr(transparent)]
pub struct ModuleRecord(pub(super) UnsafeCell<ffi::module>);

// SAFETY: proftpd is single-threaded; the record is only touched by proftpd
// (on its one thread) and by us passing its address back to proftpd.
unsafe impl Sync for ModuleRecord {}

impl ModuleRecord {
    pub(crate) fn as_ptr(&self) -> *mut ffi::module {
        self.0.get()
    }

    /// The module name as proftpd knows it, e.g. `mod_unique_id.c`.
    pub fn file_name(&self) -> String {
        // SAFETY: `name` is the 'static C string we put there.
        let name = unsafe { CStr::from_ptr((*self.as_ptr()).name) };
        format!("mod_{}.c", name.to_string_lossy())
    }
}
