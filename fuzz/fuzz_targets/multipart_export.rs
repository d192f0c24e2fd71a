//! The multipart export reader: identical outcomes whole and under two chunkings, no panic.
#![no_main]

use authenteq_export::export::ExportFormat;
use authenteq_export_fuzz::{chunks, decode_export, split_input};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((boundary, seeds, body)) = split_input(data) else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    let format = || Some(ExportFormat::Multipart(boundary.clone()));
    let whole = decode_export(std::slice::from_ref(&body), format());
    assert_eq!(decode_export(&chunks(&body, seeds[0]), format()), whole);
    assert_eq!(decode_export(&chunks(&body, seeds[1]), format()), whole);
});
