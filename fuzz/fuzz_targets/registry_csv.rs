//! Fuzz target: the IANA CSV reader never panics; a table it accepts is sorted with consistent bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match portwarden::registry::format::parse(data) {
        Ok(t) => {
            assert!(t.entries.windows(2).all(|w| w[0].start <= w[1].start));
            for e in &t.entries {
                assert!(e.start <= e.end);
                assert!(e.bounds.windows(2).all(|w| w[0] <= w[1]));
                assert!(e.bounds[12] as usize <= t.blob.len());
            }
        }
        Err(e) => assert!(e.line >= 1),
    }
});
