//! Fuzz target: the policy parser never panics, and every refusal names the file, line and column.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = portwarden::policy::Policy::parse(text, Path::new("f.toml")) {
            assert!(e.to_string().starts_with("f.toml:"), "{e}");
        }
    }
});
