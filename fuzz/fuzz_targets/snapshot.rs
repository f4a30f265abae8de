//! Fuzz target: the snapshot/recording reader never panics, and every refusal names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = portwarden::history::parse(data, "f.json") {
        assert!(e.to_string().starts_with("f.json"), "{e}");
    }
});
