//! User names from the passwd database (`getpwuid_r`, so NSS sources such as LDAP or systemd-userdb count), with
//! a per-run cache because one lookup may cost a round trip to a directory server.

use std::collections::HashMap;
use std::ffi::CStr;

use crate::text::decode_bytes;

/// Upper bound for the `getpwuid_r` string buffer; entries larger than this are treated as missing.
const MAX_BUF: usize = 1 << 20;

/// The name of `uid` in the passwd database, or `None` when it has no entry (or the lookup failed).
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: `passwd` is a plain C struct of integers and pointers; all-zero is a valid value.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer refers to live, writable memory of the size passed; getpwuid_r writes the
        // strings of the entry into `buf` and sets `result` to `&entry` on success.
        let rc = unsafe { libc::getpwuid_r(uid, &mut entry, buf.as_mut_ptr(), buf.len(), &mut result) };
        match rc {
            0 if result.is_null() || entry.pw_name.is_null() => return None,
            0 => {
                // SAFETY: on success `pw_name` points to a NUL-terminated string inside `buf`, still alive here.
                let name = unsafe { CStr::from_ptr(entry.pw_name) };
                return Some(decode_bytes(name.to_bytes()));
            }
            libc::EINTR => continue,
            libc::ERANGE if buf.len() < MAX_BUF => buf.resize(buf.len() * 4, 0),
            _ => return None,
        }
    }
}

/// Resolves user names once per uid.
#[derive(Debug, Default)]
pub struct UserCache {
    names: HashMap<u32, Option<String>>,
}

impl UserCache {
    /// The name for `uid`, or the uid as a number when it has no name.
    pub fn display_name(&mut self, uid: u32) -> String {
        self.names.entry(uid).or_insert_with(|| user_name(uid)).clone().unwrap_or_else(|| uid.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_name_and_unknown_uids_fall_back_to_numbers() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        let mut cache = UserCache::default();
        assert_eq!(cache.display_name(0), "root");
        assert_eq!(cache.display_name(4_000_000_123), "4000000123");
        assert_eq!(user_name(4_000_000_123), None);
    }
}
