//! Test support shared by the integration tests: chunkings of a body and a driver that
//! decodes a body into a comparable outcome.
#![allow(dead_code)]

#[cfg(feature = "encrypt")]
pub mod age;
pub mod export;
pub mod generate;
#[cfg(feature = "webhook")]
pub mod log;
pub mod measure;
// Only std and tokio: the CLI package's tests, which have none of the library's features, use
// it too.
pub mod moto;
#[cfg(feature = "object-store")]
pub mod object;
pub mod scripted;
// Only std and serde_json, as `moto`.
pub mod standard_webhooks;

use authenteq_export::multipart::{Boundary, Decoder, Event, Limits};
use authenteq_export::{ErrorKind, Limit};
use bytes::Bytes;
#[allow(unused_imports)] // Not every test binary measures.
pub use measure::free_bytes;

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
    chunkings_at(body, 1..body.len())
}

/// Whole, 1-byte chunks, and the 2-way splits at `splits`.
pub fn chunkings_at(
    body: &[u8],
    splits: impl IntoIterator<Item = usize>,
) -> Vec<(String, Vec<Bytes>)> {
    let whole = Bytes::copy_from_slice(body);
    let mut out = vec![
        ("whole".to_string(), vec![whole.clone()]),
        (
            "1-byte".to_string(),
            (0..body.len()).map(|i| whole.slice(i..i + 1)).collect(),
        ),
    ];
    for split in splits {
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

/// Appends the bytes of a data event named `event` to the part or file being read.
pub fn append(to: Option<&mut Vec<u8>>, data: &[u8], event: &str) {
    assert!(!data.is_empty(), "empty {event}");
    to.unwrap_or_else(|| panic!("{event} outside a part or file"))
        .extend_from_slice(data);
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
            Ok(Some(Event::Data(d))) => append(current.as_mut().map(|p| &mut p.data), &d, "Data"),
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

/// The path of `name` in the sample exports of `corpus/` (`""` for the folder).
pub fn corpus_path(name: &str) -> std::path::PathBuf {
    repo_root().join("corpus").join(name)
}

/// The repository's root, where `corpus/` is: the tests of both packages use these helpers, and
/// the CLI package's folder is one below it.
pub fn repo_root() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("corpus").is_dir())
        .expect("corpus/ in the package's folder or above it")
}

/// The URL a server child process announces on the first line of its standard output,
/// `listening on URL`, as `serve` and `webhook serve` do (its standard output piped).
pub fn listening_url(child: &mut std::process::Child) -> String {
    try_listening_url(child).unwrap_or_else(|line| panic!("the server said {line:?}"))
}

/// [`listening_url`], or the first line the server said instead (empty when it said nothing:
/// it exited).
pub fn try_listening_url(child: &mut std::process::Child) -> Result<String, String> {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("a piped standard output"))
        .read_line(&mut line)
        .expect("the server's first line");
    match line.trim().strip_prefix("listening on ") {
        Some(url) => Ok(url.to_owned()),
        None => Err(line),
    }
}

/// `id` as a [`VerificationId`](authenteq_export::export::VerificationId): for tests whose ids
/// are known good.
pub fn vid(id: &str) -> authenteq_export::export::VerificationId {
    authenteq_export::export::VerificationId::new(id).expect("a valid verification id")
}

/// A tokio runtime with `workers` worker threads, with its timers and I/O: for tests whose
/// server and client must run at once while the test's thread blocks.
pub fn runtime_with_workers(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// A tokio runtime on this thread, with its timers and I/O.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The SHA-256 of `bytes` in lowercase hex, as manifests give it.
#[cfg(any(feature = "save", feature = "webhook"))]
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every regular file under `root`, recursively, by its path from `root` (`/`-separated), with
/// its bytes; fails on anything that is neither a folder nor a regular file (a link).
pub fn files_under(root: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut found = std::collections::BTreeMap::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                todo.push(entry.path());
                continue;
            }
            let path = entry.path();
            assert!(kind.is_file(), "{} is not a regular file", path.display());
            let name = path.strip_prefix(root).unwrap().to_string_lossy();
            found.insert(name.replace('\\', "/"), std::fs::read(&path).unwrap());
        }
    }
    found
}

/// The code between the `// README: begin` and `// README: end` markers of
/// `examples/<example>.rs`: what the README shows.
pub fn readme_code(example: &str) -> String {
    let path = format!("{}/examples/{example}.rs", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let begin = source.find("// README: begin\n").expect("begin marker") + 17;
    let end = source.find("// README: end").expect("end marker");
    source[begin..end].to_owned()
}
