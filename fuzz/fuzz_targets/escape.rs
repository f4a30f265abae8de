//! Fuzz target: decoding any bytes and escaping the text never lets a control or format character, nor a CI log
//! command (`##[`, a leading `::`), through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portwarden::text::{decode_bytes, escape, has_ci_command, is_unsafe_char};

fuzz_target!(|data: &[u8]| {
    let text = decode_bytes(data);
    let shown = escape(&text);
    assert!(!shown.chars().any(is_unsafe_char), "{shown:?}");
    assert!(!has_ci_command(&shown), "a CI log command survived: {shown:?}");
    if std::str::from_utf8(data).is_ok() {
        assert_eq!(text.as_bytes(), data);
    }
});
