//! The streaming JSON export reader: identical outcomes whole and under two chunkings, no panic;
//! and when serde_json rejects the document, so must we.
#![no_main]

use authenteq_export::export::ExportFormat;
use authenteq_export_fuzz::{chunks, decode_export};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    let whole = decode_export(std::slice::from_ref(&body), Some(ExportFormat::Json));
    assert_eq!(
        decode_export(&chunks(&body, seed), Some(ExportFormat::Json)),
        whole
    );
    assert_eq!(
        decode_export(
            &chunks(&body, seed.wrapping_mul(31)),
            Some(ExportFormat::Json)
        ),
        whole
    );
    if whole.complete {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
            "accepted invalid json"
        );
    }
});
