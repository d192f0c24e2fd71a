//! Encode, then decode: any parts the encoder accepts come back byte for byte, under any
//! chunking.
#![no_main]

use authenteq_export::multipart::{Limits, MultipartWriter};
use authenteq_export_fuzz::{chunks, decode, split_input};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((boundary, seeds, rest)) = split_input(data) else {
        return;
    };
    // Parts are separated by 0xFF bytes in the rest of the input.
    let payloads: Vec<&[u8]> = rest.split(|&b| b == 0xff).take(16).collect();
    let mut w = MultipartWriter::new(Vec::new(), boundary.clone());
    for (i, p) in payloads.iter().enumerate() {
        let name = format!("part{i}");
        let disposition = authenteq_export::multipart::form_data_disposition(&name, None);
        if w.write_part(&[("Content-Disposition", &disposition)], p)
            .is_err()
        {
            return; // the payload holds the delimiter: the encoder refused it
        }
    }
    let body = Bytes::from(w.finish().unwrap());
    let out = decode(&chunks(&body, seeds[0]), &boundary, Limits::default());
    assert!(out.complete, "{out:?}");
    let got: Vec<&[u8]> = out.parts.iter().map(|(_, d)| &d.0[..]).collect();
    assert_eq!(got, payloads);
});
