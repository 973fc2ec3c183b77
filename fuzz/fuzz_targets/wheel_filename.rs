//! Fuzz target: any UTF-8 text as a wheel file name. Parsing may fail; when it succeeds, the
//! parsed name must print and expand its tags without panicking.
#![no_main]

use gilfree::wheel::WheelFilename;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(name) = WheelFilename::parse(text) {
        let _ = name.to_string();
        let _ = name.tags();
        let _ = name.normalized_name();
        let _ = name.tag_string();
        let _ = name.is_pure();
    }
});
