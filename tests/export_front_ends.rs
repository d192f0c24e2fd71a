//! The async `Export` and the blocking `blocking::Export` against the sans-I/O driver of
//! `support::export`: the same files and results under many chunkings, files left unread, cut
//! bodies and source errors.

mod support;

use authenteq_export::export::{blocking, Export, ExportDecoder, ExportItem, FileKind};
use authenteq_export::ErrorKind;
use bytes::Bytes;
use support::export::{b64, corpus, decode_chunks, default_limits, DecodedFile, Outcome, PDF};

/// The three corpus exports with their `Content-Type`.
fn corpus_bodies() -> Vec<(&'static str, Vec<u8>, String)> {
    let multipart_type =
        String::from_utf8(corpus("verification-result.multipart.content-type")).unwrap();
    vec![
        (
            "multipart",
            corpus("verification-result.multipart"),
            multipart_type.trim().to_owned(),
        ),
        (
            "json",
            corpus("verification-result.json"),
            "application/json".to_owned(),
        ),
        (
            "pdf",
            corpus("verification-result.pdf"),
            "application/pdf".to_owned(),
        ),
    ]
}

/// What a front-end yielded: the files read to their end, the results (id and JSON) and the
/// error that ended it, if any.
#[derive(Debug, Default, PartialEq, Eq)]
struct Items {
    files: Vec<DecodedFile>,
    results: Vec<(String, Vec<u8>)>,
    error: Option<ErrorKind>,
}

impl Items {
    /// The item in `next`, or `None` at the end or after an error, which is recorded.
    fn item<T>(&mut self, next: Result<Option<T>, authenteq_export::Error>) -> Option<T> {
        next.unwrap_or_else(|e| {
            self.error = Some(e.kind());
            None
        })
    }
}

fn decoded_file(info: &authenteq_export::export::FileInfo, bytes: Vec<u8>) -> DecodedFile {
    DecodedFile {
        kind: info.kind().clone(),
        content_type: info.content_type().map(str::to_owned),
        filename: info.filename().map(str::to_owned),
        bytes,
    }
}

/// The `authenteq_export::Error` inside an `io::Error` from a file's `Read`/`AsyncRead`.
fn inner_kind(e: &std::io::Error) -> ErrorKind {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<authenteq_export::Error>())
        .unwrap_or_else(|| panic!("no decoder error inside {e:?}"))
        .kind()
}

/// Reads an export with the async front-end from `chunks`; files are read alternately through
/// `AsyncRead` (7-byte reads) and `chunk()`.
fn read_async(chunks: Vec<Bytes>, content_type: Option<&str>) -> Items {
    use tokio::io::AsyncReadExt as _;
    let runtime = support::runtime();
    runtime.block_on(async {
        let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        let mut export = Export::new(stream, content_type).unwrap();
        let mut items = Items::default();
        let mut n = 0;
        loop {
            let Some(item) = items.item(export.next_item().await) else {
                break;
            };
            match item {
                ExportItem::Result { result, json } => {
                    items.results.push((result.id, json.to_vec()))
                }
                ExportItem::File(mut file) => {
                    n += 1;
                    let info = file.info().clone();
                    let mut bytes = Vec::new();
                    let read = if n % 2 == 0 {
                        let mut buf = [0u8; 7];
                        loop {
                            match file.read(&mut buf).await {
                                Ok(0) => break Ok(()),
                                Ok(k) => bytes.extend_from_slice(&buf[..k]),
                                Err(e) => break Err(inner_kind(&e)),
                            }
                        }
                    } else {
                        loop {
                            match file.chunk().await {
                                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                                Ok(None) => break Ok(()),
                                Err(e) => break Err(e.kind()),
                            }
                        }
                    };
                    match read {
                        Ok(()) => items.files.push(decoded_file(&info, bytes)),
                        Err(kind) => {
                            // The error again from the next item: a cut body never looks complete.
                            let again = export.next_item().await.err().map(|e| e.kind());
                            assert_eq!(again, Some(kind), "the next item after a failed file read");
                            items.error = Some(kind);
                            break;
                        }
                    }
                }
            }
        }
        items
    })
}

/// A `Read` that hands out at most a few bytes per call, cycling through `sizes`.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    sizes: &'static [usize],
    calls: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.calls % self.sizes.len()];
        self.calls += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Reads an export with the blocking front-end from a trickling reader; files are read
/// alternately through `Read` (5-byte reads) and `bytes()`.
fn read_blocking(body: Vec<u8>, content_type: Option<&str>) -> Items {
    use std::io::Read as _;
    let source = Trickle {
        data: body,
        pos: 0,
        sizes: &[1, 7, 300, 2, 64, 4096],
        calls: 0,
    };
    let mut export = blocking::Export::new(source, content_type)
        .unwrap()
        .chunk_size(1000);
    let mut items = Items::default();
    let mut n = 0;
    loop {
        let Some(item) = items.item(export.next_item()) else {
            break;
        };
        match item {
            ExportItem::Result { result, json } => items.results.push((result.id, json.to_vec())),
            ExportItem::File(mut file) => {
                n += 1;
                let info = file.info().clone();
                let read = if n % 2 == 0 {
                    let mut bytes = Vec::new();
                    let mut buf = [0u8; 5];
                    loop {
                        match file.read(&mut buf) {
                            Ok(0) => break Ok(bytes),
                            Ok(k) => bytes.extend_from_slice(&buf[..k]),
                            Err(e) => break Err(inner_kind(&e)),
                        }
                    }
                } else {
                    file.bytes().map(|b| b.to_vec()).map_err(|e| e.kind())
                };
                match read {
                    Ok(bytes) => items.files.push(decoded_file(&info, bytes)),
                    Err(kind) => {
                        let again = export.next_item().err().map(|e| e.kind());
                        assert_eq!(again, Some(kind), "the next item after a failed file read");
                        items.error = Some(kind);
                        break;
                    }
                }
            }
        }
    }
    items
}

/// The sans-I/O driver's outcome as front-end items.
fn items_of(outcome: &Outcome) -> Items {
    Items {
        files: outcome.files.clone(),
        results: outcome
            .results
            .iter()
            .map(|r| (r.id.clone(), r.json.clone()))
            .collect(),
        error: outcome.kind(),
    }
}

#[test]
fn front_ends_match_the_sans_io_driver() {
    for (label, body, content_type) in corpus_bodies() {
        let whole = Bytes::from(body.clone());
        let reference = items_of(&decode_chunks(
            std::slice::from_ref(&whole),
            ExportDecoder::for_content_type(Some(&content_type), default_limits()).unwrap(),
        ));
        assert_eq!(reference.error, None, "{label}");
        assert!(!reference.files.is_empty(), "{label}");
        for content_type in [Some(content_type.as_str()), None] {
            for size in [1, 13, 4096, body.len()] {
                let items = read_async(support::fixed_chunks(&whole, size), content_type);
                assert_eq!(items, reference, "async {label} {content_type:?} {size}");
            }
            let items = read_blocking(body.clone(), content_type);
            assert_eq!(items, reference, "blocking {label} {content_type:?}");
        }
    }
}

#[test]
fn front_ends_skip_unread_files() {
    for (label, body, content_type) in corpus_bodies() {
        let reference = items_of(&decode_chunks(
            &[Bytes::from(body.clone())],
            ExportDecoder::for_content_type(Some(&content_type), default_limits()).unwrap(),
        ));
        let runtime = support::runtime();
        let (kinds, results) = runtime.block_on(async {
            let chunks = support::fixed_chunks(&Bytes::from(body.clone()), 100);
            let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
            let mut export = Export::new(stream, Some(&content_type)).unwrap();
            let (mut kinds, mut results) = (Vec::new(), Vec::new());
            while let Some(item) = export.next_item().await.unwrap() {
                match item {
                    ExportItem::Result { result, json } => results.push((result.id, json.to_vec())),
                    ExportItem::File(file) => kinds.push(file.kind().clone()),
                }
            }
            (kinds, results)
        });
        let want: Vec<_> = reference.files.iter().map(|f| f.kind.clone()).collect();
        assert_eq!(kinds, want, "{label}");
        assert_eq!(results, reference.results, "{label}");
    }
}

#[test]
fn front_ends_report_a_cut_body() {
    for (label, body, content_type) in corpus_bodies() {
        // Cut in the middle of a file.
        let cut = body[..body.len() / 2].to_vec();
        let reference = decode_chunks(
            &[Bytes::from(cut.clone())],
            ExportDecoder::for_content_type(Some(&content_type), default_limits()).unwrap(),
        );
        reference.assert_failed(ErrorKind::UnexpectedEnd);
        assert!(reference.unfinished.is_some(), "{label}: cut inside a file");
        let want = items_of(&reference);
        for content_type in [Some(content_type.as_str()), None] {
            for size in [1, 100, cut.len()] {
                let items = read_async(
                    support::fixed_chunks(&Bytes::from(cut.clone()), size),
                    content_type,
                );
                assert_eq!(items, want, "async {label} {content_type:?} {size}");
            }
            let items = read_blocking(cut.clone(), content_type);
            assert_eq!(items, want, "blocking {label} {content_type:?}");
        }
    }
}

#[test]
fn json_reader_stops_at_an_error() {
    let doc = format!(
        r#"{{"id":"x","livenessFaceImage":{{"contentType":"image/jpeg","content":"QUJD*{}"}},"addressProofDocument":{{"contentType":"application/pdf","content":"{}"}}}}"#,
        "QUJD".repeat(20),
        b64(PDF)
    );
    let mut export = blocking::Export::new(doc.as_bytes(), Some("application/json"))
        .unwrap()
        .chunk_size(16);
    let mut kinds = Vec::new();
    for _ in 0..4 {
        match export.next_item() {
            Ok(Some(ExportItem::File(file))) => kinds.push(Ok(file.kind().clone())),
            Ok(Some(ExportItem::Result { .. })) => kinds.push(Ok(FileKind::Other("result".into()))),
            Ok(None) => kinds.push(Ok(FileKind::Other("end".into()))),
            Err(e) => kinds.push(Err(e.kind())),
        }
    }
    assert_eq!(kinds, vec![Err(ErrorKind::InvalidBase64); 4]);
}

/// Reads an export whose stream fails after its first half, then would go on; returns what each
/// of four `next_item` calls after the failure gave.
fn after_a_source_error(body: &[u8], content_type: &str) -> Vec<Result<&'static str, ErrorKind>> {
    let runtime = support::runtime();
    runtime.block_on(async {
        let half = body.len() / 2;
        let chunks = vec![
            Ok(Bytes::copy_from_slice(&body[..half])),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset",
            )),
            Ok(Bytes::copy_from_slice(&body[half..])),
        ];
        let mut export = Export::new(futures::stream::iter(chunks), Some(content_type)).unwrap();
        // Skip to the source error.
        loop {
            match export.next_item().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the export ended before the source error"),
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Read);
                    break;
                }
            }
        }
        let mut after = Vec::new();
        for _ in 0..4 {
            after.push(match export.next_item().await {
                Ok(Some(ExportItem::File(_))) => Ok("file"),
                Ok(Some(ExportItem::Result { .. })) => Ok("result"),
                Ok(None) => Ok("end"),
                Err(e) => Err(e.kind()),
            });
        }
        after
    })
}

#[test]
fn multipart_front_end_stops_at_a_source_error() {
    let (_, body, content_type) = corpus_bodies().remove(0);
    assert_eq!(
        after_a_source_error(&body, &content_type),
        vec![Err(ErrorKind::Read); 4]
    );
}

#[test]
fn json_and_pdf_front_ends_stop_at_a_source_error() {
    for (label, body, content_type) in corpus_bodies().into_iter().skip(1) {
        assert_eq!(
            after_a_source_error(&body, &content_type),
            vec![Err(ErrorKind::Read); 4],
            "{label}"
        );
    }
}
