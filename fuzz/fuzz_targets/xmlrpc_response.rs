//! Fuzz target: any UTF-8 text as the answer of an index's XML-RPC change feed. Parsing may
//! fail; a value that parses must decode as a serial or a changelog without panicking.
#![no_main]

use gilfree::index::xmlrpc::parse_response;
use gilfree::index::{decode_changes, decode_serial};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = parse_response(text) {
        let _ = decode_serial(&value);
        let _ = decode_changes(value);
    }
});
