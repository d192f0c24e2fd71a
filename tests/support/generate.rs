//! A generator of realistic exports for benchmarks and memory tests: the sample's result JSON,
//! ten JPEG-sized and one PDF-sized payload of seeded, incompressible bytes, scaled to a total
//! size. Shared by `tests/` and `benches/` (through `#[path]`), never committed as large files.
#![allow(dead_code)]

use std::io::{self, Write};

use authenteq_export::multipart::{form_data_disposition, Boundary, MultipartWriter};
use bytes::Bytes;

/// The part names of a multi-document export, in API order, with their content types.
pub const FILE_PARTS: [(&str, &str, &str); 11] = [
    ("livenessFaceImage", "image/jpeg", "jpeg"),
    ("croppedFrontImage", "image/jpeg", "jpeg"),
    ("croppedBackImage", "image/jpeg", "jpeg"),
    ("faceImage", "image/jpeg", "jpeg"),
    ("croppedFrontImage2", "image/jpeg", "jpeg"),
    ("croppedBackImage2", "image/jpeg", "jpeg"),
    ("faceImage2", "image/jpeg", "jpeg"),
    ("croppedFrontImage3", "image/jpeg", "jpeg"),
    ("croppedBackImage3", "image/jpeg", "jpeg"),
    ("faceImage3", "image/jpeg", "jpeg"),
    ("addressProofDocument", "application/pdf", "pdf"),
];

/// The boundary of generated exports (as long as real ones).
pub const BOUNDARY: &str = "authenteq-bench-0d7f3a9c2e41b8657f1a";

/// The sample result JSON, as the `result` part carries it.
pub fn result_json() -> &'static [u8] {
    include_bytes!("../../corpus/result.json")
}

/// Seeded pseudo-random bytes (xorshift64*): incompressible, reproducible.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Self {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// `len` seeded pseudo-random bytes ([`Noise`]).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    Noise::new(seed).fill(&mut bytes);
    bytes
}

/// Payload sizes of the eleven files for an export of about `total` bytes: ten images of 8 %
/// each, the PDF the remaining 20 %.
pub fn file_sizes(total: usize) -> [usize; 11] {
    let image = total * 8 / 100;
    let mut sizes = [image; 11];
    sizes[10] = total.saturating_sub(image * 10 + result_json().len() + 2048);
    sizes
}

/// Streams a generated multipart export of about `total` bytes to `out`, never holding more
/// than one 1 MiB piece of payload. Returns the payload sizes.
pub fn write_multipart_export<W: Write>(
    out: W,
    seed: u64,
    total: usize,
) -> io::Result<[usize; 11]> {
    let sizes = file_sizes(total);
    let mut w = MultipartWriter::new(out, Boundary::new(BOUNDARY).unwrap());
    w.write_part(
        &[
            (
                "Content-Disposition",
                &form_data_disposition("result", Some("result.json")),
            ),
            ("Content-Type", "application/json"),
        ],
        result_json(),
    )?;
    let mut noise = Noise::new(seed);
    let mut piece = vec![0u8; 1 << 20];
    for ((name, content_type, ext), size) in FILE_PARTS.iter().zip(sizes) {
        let filename = format!("{name}.{ext}");
        let mut part = w.start_part(&[
            (
                "Content-Disposition",
                &form_data_disposition(name, Some(&filename)),
            ),
            ("Content-Type", content_type),
        ])?;
        let mut left = size;
        while left > 0 {
            let n = left.min(piece.len());
            noise.fill(&mut piece[..n]);
            part.write_all(&piece[..n])?;
            left -= n;
        }
    }
    w.finish()?;
    Ok(sizes)
}

/// A generated multipart export of about `total` bytes, in memory.
pub fn multipart_export(seed: u64, total: usize) -> Bytes {
    let mut body = Vec::with_capacity(total + 4096);
    write_multipart_export(&mut body, seed, total).unwrap();
    Bytes::from(body)
}

/// The `Content-Type` of generated multipart exports.
pub fn content_type() -> String {
    Boundary::new(BOUNDARY).unwrap().content_type("mixed")
}
