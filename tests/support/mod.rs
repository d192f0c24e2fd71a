//! Test support shared by the integration tests: chunkings of a body and a driver that
//! decodes a body into a comparable outcome.
#![allow(dead_code)]

pub mod export;
pub mod generate;
// Only std: the CLI package's tests, which have none of the library's features, use it too.
pub mod moto;
pub mod scripted;

use authenteq_export::multipart::{Boundary, Decoder, Event, Limits};
use authenteq_export::{ErrorKind, Limit};
use bytes::Bytes;

/// One decoded part: its headers as `(name, value)` byte strings and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPart {
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub name: Option<String>,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// How a body ended: complete, or with an error of some kind at some offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Complete,
    Failed {
        kind: ErrorKind,
        offset: Option<u64>,
        limit: Option<Limit>,
        part: Option<usize>,
    },
}

/// Everything a decode produced: the parts that were complete (closing delimiter read), the
/// payload bytes of an unfinished part, and the ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub parts: Vec<DecodedPart>,
    pub unfinished: Option<DecodedPart>,
    pub ending: Ending,
}

impl Outcome {
    pub fn is_complete(&self) -> bool {
        self.ending == Ending::Complete
    }
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self.ending {
            Ending::Complete => None,
            Ending::Failed { kind, .. } => Some(kind),
        }
    }
}

/// The chunkings every table test runs under: whole, 1-byte chunks, and every 2-way split.
pub fn chunkings(body: &[u8]) -> Vec<(String, Vec<Bytes>)> {
    let whole = Bytes::copy_from_slice(body);
    let mut out = vec![("whole".to_string(), vec![whole.clone()])];
    out.push((
        "1-byte".to_string(),
        (0..body.len()).map(|i| whole.slice(i..i + 1)).collect(),
    ));
    for split in 1..body.len() {
        out.push((
            format!("split at {split}"),
            vec![whole.slice(..split), whole.slice(split..)],
        ));
    }
    out
}

/// Fixed-size chunks of `size` bytes (the last one shorter), sliced from one buffer.
pub fn fixed_chunks(body: &Bytes, size: usize) -> Vec<Bytes> {
    (0..body.len())
        .step_by(size.max(1))
        .map(|i| body.slice(i..(i + size).min(body.len())))
        .collect()
}

/// Decodes `chunks` with the sans-I/O decoder, feeding only when it asks for input.
pub fn decode_chunks(chunks: &[Bytes], boundary: &Boundary, limits: Limits) -> Outcome {
    let mut decoder = Decoder::with_limits(boundary.clone(), limits);
    let mut input = chunks.iter();
    let mut parts = Vec::new();
    let mut current: Option<DecodedPart> = None;
    let ending = loop {
        match decoder.next_event() {
            Ok(None) => match input.next() {
                Some(chunk) => decoder.feed(chunk.clone()),
                None => decoder.finish(),
            },
            Ok(Some(Event::PartStart(h))) => {
                assert!(current.is_none(), "part started inside a part");
                current = Some(DecodedPart {
                    headers: h.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect(),
                    name: h.name().map(str::to_owned),
                    filename: h.filename().map(str::to_owned),
                    data: Vec::new(),
                });
            }
            Ok(Some(Event::Data(d))) => {
                assert!(!d.is_empty(), "empty Data event");
                current
                    .as_mut()
                    .expect("data outside a part")
                    .data
                    .extend_from_slice(&d);
            }
            Ok(Some(Event::PartEnd)) => parts.push(current.take().expect("end outside a part")),
            Ok(Some(Event::End)) => {
                assert!(current.is_none(), "body ended inside a part");
                // The decoder is fused: asking again gives End again.
                assert_eq!(decoder.next_event().unwrap(), Some(Event::End));
                break Ending::Complete;
            }
            Err(e) => {
                // The decoder is fused: asking again gives the same error.
                let again = decoder.next_event().unwrap_err();
                assert_eq!((again.kind(), again.offset()), (e.kind(), e.offset()));
                break Ending::Failed {
                    kind: e.kind(),
                    offset: e.offset(),
                    limit: e.limit().map(|(l, _)| l),
                    part: e.part().map(|p| p.number),
                };
            }
        }
    };
    Outcome {
        parts,
        unfinished: current,
        ending,
    }
}

/// Decodes `body` under every chunking and asserts that all give the same outcome; returns it.
pub fn decode_every_way(body: &[u8], boundary: &Boundary, limits: Limits) -> Outcome {
    let mut first: Option<Outcome> = None;
    for (label, chunks) in chunkings(body) {
        let outcome = decode_chunks(&chunks, boundary, limits);
        match &first {
            None => first = Some(outcome),
            Some(whole) => assert_eq!(
                &outcome,
                whole,
                "chunking {label} differs from whole for body {:?}",
                String::from_utf8_lossy(body)
            ),
        }
    }
    first.expect("at least one chunking")
}

/// The repository's root, where `corpus/` is: the tests of both packages use these helpers, and
/// the CLI package's folder is one below it.
pub fn repo_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("corpus").is_dir())
        .expect("corpus/ in the package's folder or above it")
}

/// Free space in `dir`, in bytes, from `df` (None when it cannot tell).
pub fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// The URL a server child process announces on the first line of its standard output,
/// `listening on URL`, as `serve` and `webhook serve` do (its standard output piped).
pub fn listening_url(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("a piped standard output"))
        .read_line(&mut line)
        .expect("the server's first line");
    line.trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("the server said {line:?}"))
        .to_owned()
}
