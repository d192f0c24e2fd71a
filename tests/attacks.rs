//! The attacks that hit other multipart parsers, each rebuilt at the scale of the attack and fed
//! in several chunkings. Each checks the error kind (or the parts), that memory stays bounded
//! (a counting allocator: peak live bytes and allocation counts) and that the work stays linear
//! (`Decoder::bytes_examined`, bytes looked at per input byte). Nothing here is timed.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use authenteq_export::multipart::{
    Boundary, ContentDisposition, Decoder, Event, Limits, Multipart,
};
use authenteq_export::{ErrorKind, Limit};
use bytes::Bytes;

// ---- a counting allocator: allocations, live bytes and their peak, per thread ----

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static LIVE: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn note(delta: i64, new_alloc: bool) {
    if new_alloc {
        ALLOCS.with(|c| c.set(c.get() + 1));
    }
    LIVE.with(|l| {
        let v = l.get() + delta;
        l.set(v);
        PEAK.with(|p| p.set(p.get().max(v)));
    });
}

// SAFETY: every call goes unchanged to the system allocator; the counters are const-initialized
// thread-local `Cell`s without destructors, so updating them never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as i64, true);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as i64), false);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as i64 - layout.size() as i64, true);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Memory used while `f` runs: (allocations, peak live bytes above the start).
fn measure<T>(f: impl FnOnce() -> T) -> (T, u64, u64) {
    let allocs = ALLOCS.with(Cell::get);
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    let out = f();
    let peak = PEAK.with(Cell::get) - live;
    (out, ALLOCS.with(Cell::get) - allocs, peak.max(0) as u64)
}

// ---- driving the decoder ----

const B: &str = "hostile-boundary";

fn boundary() -> Boundary {
    Boundary::new(B).unwrap()
}

#[derive(Debug)]
struct Run {
    parts: usize,
    payload: u64,
    error: Option<(ErrorKind, Option<Limit>, Option<u64>)>,
    fed: u64,
    examined: u64,
    /// Allocations made and peak live bytes while decoding (the input excluded).
    allocs: u64,
    peak: u64,
}

impl Run {
    /// Where the limit error of this run was, asserting that it names `limit`.
    fn over(&self, limit: Limit) -> Option<u64> {
        let (kind, named, at) = self.error.expect("a limit error");
        assert_eq!((kind, named), (ErrorKind::LimitExceeded, Some(limit)));
        at
    }
}

/// Decodes `body` in chunks of `chunk` bytes (0: whole), feeding only when asked, dropping
/// payload as it comes (as a streaming user does).
fn run(body: &Bytes, chunk: usize, limits: Limits) -> Run {
    let chunks = if chunk == 0 {
        vec![body.clone()]
    } else {
        support::fixed_chunks(body, chunk)
    };
    let mut out = Run {
        parts: 0,
        payload: 0,
        error: None,
        fed: 0,
        examined: 0,
        allocs: 0,
        peak: 0,
    };
    let ((), allocs, peak) = measure(|| decode_into(chunks, limits, &mut out));
    out.allocs = allocs;
    out.peak = peak;
    out
}

fn decode_into(chunks: Vec<Bytes>, limits: Limits, out: &mut Run) {
    let mut decoder = Decoder::with_limits(boundary(), limits);
    let mut input = chunks.into_iter();
    loop {
        match decoder.next_event() {
            Ok(None) => match input.next() {
                Some(c) => decoder.feed(c),
                None => decoder.finish(),
            },
            Ok(Some(Event::PartStart(_))) => out.parts += 1,
            Ok(Some(Event::Data(d))) => out.payload += d.len() as u64,
            Ok(Some(Event::PartEnd)) => {}
            Ok(Some(Event::End)) => break,
            Err(e) => {
                out.error = Some((e.kind(), e.limit().map(|(l, _)| l), e.offset()));
                break;
            }
        }
    }
    out.fed = decoder.bytes_fed();
    out.examined = decoder.bytes_examined();
}

/// Runs every chunking; checks they agree on the outcome and that the work is linear.
fn run_every_way(body: &Bytes, chunks: &[usize], limits: Limits) -> Run {
    let mut first: Option<Run> = None;
    for &chunk in chunks {
        let r = run(body, chunk, limits);
        // Linear work: each fed byte is looked at a small constant number of times.
        assert!(
            r.examined <= 3 * r.fed + 4096,
            "chunk {chunk}: examined {} bytes for {} fed",
            r.examined,
            r.fed
        );
        if let Some(f) = &mut first {
            assert_eq!(
                (r.parts, r.payload, r.error),
                (f.parts, f.payload, f.error),
                "chunk {chunk}"
            );
            // Report the worst memory of all chunkings.
            f.peak = f.peak.max(r.peak);
            f.allocs = f.allocs.max(r.allocs);
        } else {
            first = Some(r);
        }
    }
    first.unwrap()
}

fn part(headers: &str, payload: &[u8]) -> Vec<u8> {
    let mut p = if headers.is_empty() {
        format!("--{B}\r\n\r\n").into_bytes()
    } else {
        format!("--{B}\r\n{headers}\r\n\r\n").into_bytes()
    };
    p.extend_from_slice(payload);
    p.extend_from_slice(b"\r\n");
    p
}

fn close() -> Vec<u8> {
    format!("--{B}--\r\n").into_bytes()
}

// ---- the attacks ----

/// Go CVE-2023-24536 and commons-fileupload CVE-2023-24998: a body of 200 000 parts.
#[test]
fn two_hundred_thousand_parts() {
    let mut body = Vec::new();
    for _ in 0..200_000 {
        body.extend_from_slice(&part("Content-Disposition: form-data; name=\"f\"", b"x"));
    }
    body.extend_from_slice(&close());
    let body = Bytes::from(body);

    // Default limits: refused at part 1001, having read no further than that part's headers
    // (plus one chunk).
    let r = run_every_way(&body, &[0, 65536, 4096, 777], Limits::default());
    let peak = r.peak;
    let at = r.over(Limit::Parts);
    let part_len = body.len() as u64 / 200_000;
    assert!(at.unwrap() <= 1001 * part_len, "error at {at:?}");
    assert_eq!(r.parts, 1000);
    assert!(peak < 64 << 10, "peak {peak} bytes");

    // No part limit: every part decodes, with a constant number of allocations per part and
    // memory that does not grow with the number of parts.
    let unlimited = Limits::default().max_parts(usize::MAX);
    let r = run(&body, 65536, unlimited);
    let (allocs, peak) = (r.allocs, r.peak);
    assert_eq!((r.parts, r.error), (200_000, None));
    assert!(allocs <= 8 * 200_000, "{allocs} allocations");
    assert!(peak < 64 << 10, "peak {peak} bytes");
    assert!(r.examined <= 3 * r.fed);
}

/// Go CVE-2023-24536 (headers) and commons-fileupload CVE-2025-48976: one part with 200 000
/// header lines.
#[test]
fn two_hundred_thousand_headers() {
    let headers = "X-A: b\r\n".repeat(200_000);
    let mut body = part(headers.trim_end(), b"payload");
    body.extend_from_slice(&close());
    let body = Bytes::from(body);
    let header_start = (B.len() + 4) as u64;

    // The header block is refused once it passes 8 KiB, before it is ever parsed.
    let r = run_every_way(&body, &[0, 65536, 4096, 1000], Limits::default());
    let peak = r.peak;
    let at = r.over(Limit::HeaderBytes);
    assert_eq!(at, Some(header_start + 8192));
    assert!(peak < 96 << 10, "peak {peak} bytes");

    // With room for the bytes, the count limit (32) refuses it.
    let roomy = Limits::default().max_header_bytes(4 << 20);
    let r = run_every_way(&body, &[0, 65536], roomy);
    assert_eq!(
        r.error.map(|e| (e.0, e.1)),
        Some((ErrorKind::LimitExceeded, Some(Limit::Headers)))
    );
}

/// Go CVE-2023-45290: one endless header line (4 MiB, no line break).
#[test]
fn endless_header_line() {
    let mut body = format!("--{B}\r\nX-Long: ").into_bytes();
    body.resize(body.len() + (4 << 20), b'a');
    let body = Bytes::from(body);
    for chunk in [0, 65536, 4096] {
        let r = run(&body, chunk, Limits::default());
        let peak = r.peak;
        let at = r.over(Limit::HeaderBytes);
        assert_eq!(at, Some((B.len() + 4) as u64 + 8192));
        assert!(peak < 96 << 10, "chunk {chunk}: peak {peak} bytes");
        if chunk > 0 {
            // Refused as bytes arrive: no more read than the limit and one chunk.
            assert!(
                r.fed <= 8192 + 2 * chunk as u64 + 64,
                "chunk {chunk}: fed {}",
                r.fed
            );
        }
    }
}

/// busboy/dicer CVE-2022-24434: the first header line starts with a space or a tab.
#[test]
fn whitespace_before_the_first_header() {
    for lead in [" ", "\t", "  \t"] {
        let mut body = part(&format!("{lead}Content-Type: text/plain"), b"x");
        body.extend_from_slice(&close());
        let body = Bytes::from(body);
        let r = run_every_way(&body, &[0, 1, 2, 3, 5, 7], Limits::default());
        let (kind, _, at) = r.error.unwrap();
        assert_eq!(kind, ErrorKind::InvalidHeader, "{lead:?}");
        assert_eq!(at, Some((B.len() + 4) as u64));
    }
}

/// python-multipart CVE-2024-24762: a parameter full of backslashes, which made a regular
/// expression backtrack. Both of our parameter parsers are single passes.
#[test]
fn ten_thousand_backslashes_in_a_parameter() {
    for n in [10_000usize, 100_000] {
        let value = "\\\\".repeat(n);
        // Content-Disposition: the escapes resolve to n backslashes, in one buffer.
        let cd = format!("form-data; name=\"{value}\"; filename=\"a\\\"b\"");
        let (d, allocs, _) = measure(|| ContentDisposition::parse(&cd).unwrap());
        assert_eq!(d.name().unwrap().len(), n);
        assert_eq!(d.filename(), Some("a\"b"));
        assert!(allocs <= 8, "{allocs} allocations for {n} backslashes");
        // Content-Type: refused (a backslash is no boundary character), never hanging.
        let ct = format!("multipart/mixed; boundary=\"{value}\"");
        let err = Boundary::from_content_type(&ct).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::InvalidBoundary | ErrorKind::InvalidContentType
        ));
        // Unterminated: refused too.
        let open = format!("form-data; name=\"{value}");
        assert!(ContentDisposition::parse(&open).is_err());
    }
}

/// python-multipart CVE-2024-53981: 64 MiB of CR/LF before the first delimiter and after the
/// last one, which were handled byte by byte.
#[test]
fn crlf_floods_before_and_after() {
    let flood = "\r\n".repeat(32 << 20);
    let mut before = flood.clone().into_bytes();
    before.extend_from_slice(&part("", b"x"));
    before.extend_from_slice(&close());
    let before = Bytes::from(before);

    // Default limits: refused after 16 KiB of preamble.
    let r = run_every_way(&before, &[0, 65536, 4096], Limits::default());
    assert_eq!(
        r.error.map(|e| (e.0, e.1, e.2)),
        Some((
            ErrorKind::LimitExceeded,
            Some(Limit::PreambleBytes),
            Some(16 << 10)
        ))
    );
    // No preamble limit: the flood is skipped in linear work and the part is found.
    let lax = Limits::default().max_preamble_bytes(u64::MAX);
    let r = run_every_way(&before, &[0, 65536, 4096], lax);
    let peak = r.peak;
    assert_eq!((r.parts, r.payload, r.error), (1, 1, None));
    assert!(peak < 64 << 10, "peak {peak} bytes");

    // After the close delimiter: the front-end stops pulling, so the flood is never read.
    let mut after = part("", b"x");
    after.extend_from_slice(&close());
    let body_len = after.len();
    after.extend_from_slice(flood.as_bytes());
    let after = Bytes::from(after);
    let chunks: Vec<Result<Bytes, std::io::Error>> = support::fixed_chunks(&after, 65536)
        .into_iter()
        .map(Ok)
        .collect();
    let rt = support::runtime();
    let read = rt.block_on(async {
        let mut body = Multipart::new(futures::stream::iter(chunks), boundary());
        while let Some(part) = body.next_part().await.unwrap() {
            part.bytes().await.unwrap();
        }
        body.bytes_read()
    });
    assert!(read <= (body_len + 65536) as u64, "read {read} bytes");

    // CR/LF-dense payload (python-multipart's performance guard): linear, and kept whole.
    let mut dense = part("", flood.as_bytes());
    dense.extend_from_slice(&close());
    let dense = Bytes::from(dense);
    let r = run_every_way(&dense, &[0, 65536, 4096], Limits::default());
    assert_eq!((r.parts, r.payload, r.error), (1, flood.len() as u64, None));
}

/// Near-misses of the delimiter, repeated: every one is looked at once, and kept as payload.
#[test]
fn a_flood_of_near_miss_delimiters() {
    let near = format!("\r\n--{B}X\r\n--{}\r\n-{B}", &B[..B.len() - 1]);
    let payload = near.repeat((8 << 20) / near.len());
    let mut body = part("", payload.as_bytes());
    body.extend_from_slice(&close());
    let body = Bytes::from(body);
    let r = run_every_way(&body, &[0, 65536, 4096, 1000, 61], Limits::default());
    assert_eq!(
        (r.parts, r.payload, r.error),
        (1, payload.len() as u64, None)
    );
}

/// Go CVE-2022-41725 (sizes under-counted): part and body limits are counted exactly across
/// chunks and enforced as bytes arrive, with memory flat while a large part streams.
#[test]
fn size_limits_are_counted_exactly_across_chunks() {
    let payload = vec![b'z'; 1 << 20];
    let mut body = part("", &payload);
    body.extend_from_slice(&part("", &payload));
    body.extend_from_slice(&close());
    let body = Bytes::from(body);
    let payload_start = (B.len() + 6) as u64;

    let limits = Limits::default().max_part_bytes((1 << 20) - 1);
    let r = run_every_way(&body, &[0, 65536, 4096, 333], limits);
    let peak = r.peak;
    assert_eq!(
        r.error.map(|e| (e.0, e.1, e.2)),
        Some((
            ErrorKind::LimitExceeded,
            Some(Limit::PartBytes),
            Some(payload_start + (1 << 20) - 1)
        ))
    );
    assert_eq!(
        r.payload,
        (1 << 20) - 1,
        "bytes up to the limit are handed out, no more"
    );
    assert!(peak < 64 << 10, "peak {peak} bytes");

    let limits = Limits::default().max_body_bytes(3 << 19);
    let r = run_every_way(&body, &[0, 65536, 4096, 333], limits);
    assert_eq!(
        r.error.map(|e| (e.0, e.1, e.2)),
        Some((
            ErrorKind::LimitExceeded,
            Some(Limit::BodyBytes),
            Some(3 << 19)
        ))
    );
    assert_eq!(r.fed, 3 << 19, "nothing past the body limit is looked at");
}

/// Silent truncation: other parsers report "no more parts" when a body ends inside headers or
/// right after a delimiter line. Every cut of a two-part body is an unexpected end.
#[test]
fn truncation_never_looks_complete() {
    let mut body = part("Content-Disposition: form-data; name=\"a\"", b"first");
    body.extend_from_slice(&part(
        "Content-Disposition: form-data; name=\"b\"",
        b"second",
    ));
    body.extend_from_slice(&close());
    let close_end = body.len() - 2;
    for cut in 0..close_end {
        let prefix = Bytes::copy_from_slice(&body[..cut]);
        let r = run_every_way(&prefix, &[0, 1, 3], Limits::default());
        assert_eq!(
            r.error.map(|e| e.0),
            Some(ErrorKind::UnexpectedEnd),
            "cut at {cut}"
        );
        assert_eq!(r.error.and_then(|e| e.2), Some(cut as u64), "cut at {cut}");
    }
}
