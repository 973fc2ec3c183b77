//! Fuzz target: any bytes as a wheel. Lists the members from the central directory, reads
//! each one under a small size limit, parses the `.dist-info` files and classifies the
//! native members. Every step may fail; none may panic, hang or allocate without bound.
#![no_main]

use std::io::Cursor;

use gilfree::wheel::{Platform, PythonTarget, WheelArchive};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut wheel) = WheelArchive::new(Cursor::new(data), "f.whl") else {
        return;
    };
    wheel.set_member_limit(1 << 20);
    let names: Vec<String> = wheel.members().iter().map(|m| m.name.clone()).collect();
    for name in &names {
        let _ = wheel.read_member(name);
    }
    let _ = wheel.dist_info_dir(Some("f"));
    let _ = wheel.wheel_info();
    let _ = wheel.metadata();
    let _ = wheel.record();
    let _ = wheel.native_members(PythonTarget::Py314t, Platform::LinuxX86_64);
});
