//! The core decoder: leading bytes choose the boundary and two chunkings; both chunkings and the
//! whole body must give the same outcome, and nothing may panic.
#![no_main]

use authenteq_export::multipart::Limits;
use authenteq_export_fuzz::{chunks, decode, split_input};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((boundary, seeds, body)) = split_input(data) else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    let limits = Limits::default().max_header_bytes(512).max_parts(64);
    let whole = decode(std::slice::from_ref(&body), &boundary, limits);
    assert_eq!(decode(&chunks(&body, seeds[0]), &boundary, limits), whole);
    assert_eq!(decode(&chunks(&body, seeds[1]), &boundary, limits), whole);
});
