//! The header block and `Content-Disposition` parsers: any bytes, no panic, and a parsed
//! disposition's name is what `PartHeaders::name` reports.
#![no_main]

use authenteq_export::multipart::{ContentDisposition, LineEnding, PartHeaders};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for le in [LineEnding::Crlf, LineEnding::Lf] {
        if let Ok(h) = PartHeaders::parse(data, le) {
            let _ = (h.name(), h.filename(), h.content_type(), h.mime());
            for (n, _) in h.iter() {
                assert!(!n.is_empty());
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(d) = ContentDisposition::parse(text) {
            let _ = (d.disposition_type(), d.filename());
            assert_eq!(d.name(), d.param("name"));
        }
    }
});
