//! Payload leaves the decoder as slices of the chunks that came in: every `Data` event whose
//! bytes lie inside one input chunk points into that chunk's memory.

mod support;

use authenteq_export::multipart::{Boundary, Decoder, Event, MultipartWriter};
use bytes::Bytes;

/// Deterministic pseudo-random bytes (xorshift), with `\r\n--` near-misses sprinkled in.
fn payload(seed: u64, len: usize, boundary: &str) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 97 {
            0 => out.extend_from_slice(b"\r\n--"),
            1 => {
                out.extend_from_slice(b"\r\n--");
                out.extend_from_slice(&boundary.as_bytes()[..boundary.len() / 2]);
            }
            2 => out.push(b'\r'),
            _ => out.push((x >> 24) as u8),
        }
    }
    out.truncate(len);
    out
}

#[test]
fn data_points_into_input_chunks() {
    let b = "zero-copy-boundary";
    let boundary = Boundary::new(b).unwrap();
    let mut w = MultipartWriter::new(Vec::new(), boundary.clone());
    let mut payloads = Vec::new();
    for (i, len) in [0usize, 1, 100, 5000, 70_000, 3].into_iter().enumerate() {
        let p = payload(i as u64 + 7, len, b);
        w.write_part(&[("Content-Type", "application/octet-stream")], &p)
            .unwrap();
        payloads.push(p);
    }
    let body = Bytes::from(w.finish().unwrap());

    for chunk_size in [1, 2, 3, 17, 64, 1000, 4096, 65536, body.len()] {
        let chunks = support::fixed_chunks(&body, chunk_size);
        // The chunks fed so far, newest last: payload can only come from the last two.
        let mut fed: Vec<(usize, usize)> = Vec::new();
        let mut decoder = Decoder::new(boundary.clone());
        let mut input = chunks.iter();
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let (mut sliced, mut copied) = (0usize, 0usize);
        loop {
            match decoder.next_event().unwrap() {
                None => match input.next() {
                    Some(c) => {
                        fed.push((c.as_ptr() as usize, c.as_ptr() as usize + c.len()));
                        decoder.feed(c.clone())
                    }
                    None => decoder.finish(),
                },
                Some(Event::PartStart(_)) => parts.push(Vec::new()),
                Some(Event::Data(d)) => {
                    let (start, end) = (d.as_ptr() as usize, d.as_ptr() as usize + d.len());
                    if fed
                        .iter()
                        .rev()
                        .take(2)
                        .any(|&(s, e)| s <= start && end <= e)
                    {
                        sliced += d.len();
                    } else {
                        // Only the bytes of a possible delimiter straddling chunks are copied.
                        assert!(d.len() <= b.len() + 4, "copied {} bytes", d.len());
                        copied += d.len();
                    }
                    parts.last_mut().unwrap().extend_from_slice(&d);
                }
                Some(Event::PartEnd) => {}
                Some(Event::End) => break,
            }
        }
        assert_eq!(parts, payloads, "chunk size {chunk_size}");
        if chunk_size >= 64 {
            // A copy happens only where a delimiter-like byte run straddles two chunks.
            assert!(
                copied * 100 <= sliced,
                "chunk {chunk_size}: {copied} copied, {sliced} sliced"
            );
        }
    }
}
