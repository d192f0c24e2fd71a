//! The async and blocking front-ends: laziness, skipping, truncation, source errors, AsyncRead.

mod support;

use std::io::Read;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use authenteq_export::multipart::{blocking, Boundary, Multipart};
use authenteq_export::ErrorKind;
use bytes::Bytes;
use futures::Stream;

const BODY: &[u8] = b"--b\r\nContent-Disposition: form-data; name=\"result\"\r\n\r\n{\"id\":\"x\"}\r\n--b\r\nContent-Disposition: form-data; name=\"faceImage\"; filename=\"faceImage.jpeg\"\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8 jpeg bytes \xff\xd9\r\n--b\r\nContent-Disposition: form-data; name=\"addressProofDocument\"\r\n\r\n%PDF-1.4 ... %%EOF\r\n--b--\r\n";

fn boundary() -> Boundary {
    Boundary::new("b").unwrap()
}

/// A stream over fixed chunks that counts how many chunks were pulled.
struct CountingStream {
    chunks: Vec<Bytes>,
    next: usize,
    pulled: Arc<AtomicUsize>,
    fail_at: Option<usize>,
}

impl Stream for CountingStream {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let i = self.next;
        if self.fail_at == Some(i) {
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset",
            ))));
        }
        self.next += 1;
        self.pulled.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(self.chunks.get(i).cloned().map(Ok))
    }
}

fn counting(chunk: usize, fail_at: Option<usize>) -> (CountingStream, Arc<AtomicUsize>) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let body = Bytes::from_static(BODY);
    let stream = CountingStream {
        chunks: support::fixed_chunks(&body, chunk),
        next: 0,
        pulled: pulled.clone(),
        fail_at,
    };
    (stream, pulled)
}

#[test]
fn async_pulls_only_what_it_needs() {
    support::runtime().block_on(async {
        let (stream, pulled) = counting(16, None);
        let mut body = Multipart::new(stream, boundary());
        let part = body.next_part().await.unwrap().unwrap();
        assert_eq!(part.headers().name(), Some("result"));
        // The first part's headers end at byte 54: 4 chunks of 16 bytes.
        assert_eq!(pulled.load(Ordering::SeqCst), 4);
        drop(part);
        let part = body.next_part().await.unwrap().unwrap();
        assert_eq!(part.headers().filename(), Some("faceImage.jpeg"));
        let at_second = pulled.load(Ordering::SeqCst);
        assert!(at_second < BODY.len() / 16, "pulled {at_second} chunks");
        drop(part);
        assert_eq!(
            body.next_part().await.unwrap().unwrap().headers().name(),
            Some("addressProofDocument")
        );
        assert!(body.next_part().await.unwrap().is_none());
        assert!(
            body.next_part().await.unwrap().is_none(),
            "fused at the end"
        );
    });
}

#[test]
fn async_parts_read_as_chunks_stream_and_asyncread() {
    use futures::StreamExt;
    support::runtime().block_on(async {
        for chunk in [1, 3, 7, 64, 4096] {
            let (stream, _) = counting(chunk, None);
            let mut body = Multipart::new(stream, boundary());
            let mut part = body.next_part().await.unwrap().unwrap();
            let mut json = Vec::new();
            while let Some(c) = part.chunk().await.unwrap() {
                json.extend_from_slice(&c);
            }
            assert_eq!(json, b"{\"id\":\"x\"}");
            assert!(
                part.chunk().await.unwrap().is_none(),
                "a finished part stays finished"
            );

            let mut part = body.next_part().await.unwrap().unwrap();
            let mut jpeg = Vec::new();
            tokio::io::copy(&mut part, &mut jpeg).await.unwrap();
            assert_eq!(jpeg, b"\xff\xd8 jpeg bytes \xff\xd9");

            let part = body.next_part().await.unwrap().unwrap();
            let pdf: Vec<Bytes> = part.map(Result::unwrap).collect().await;
            assert_eq!(pdf.concat(), b"%PDF-1.4 ... %%EOF");
            assert!(body.next_part().await.unwrap().is_none());
        }
    });
}

#[test]
fn async_small_reads_through_asyncread() {
    use tokio::io::AsyncReadExt;
    support::runtime().block_on(async {
        let (stream, _) = counting(64, None);
        let mut body = Multipart::new(stream, boundary());
        let _ = body.next_part().await.unwrap().unwrap();
        let mut part = body.next_part().await.unwrap().unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            let n = part.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, b"\xff\xd8 jpeg bytes \xff\xd9");
    });
}

#[test]
fn async_truncation_fails_on_part_and_next_part() {
    support::runtime().block_on(async {
        let cut = BODY.len() - 15; // inside the last payload
        let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(
            &BODY[..cut],
        ))]);
        let mut body = Multipart::new(stream, boundary());
        let _ = body.next_part().await.unwrap().unwrap();
        let _ = body.next_part().await.unwrap().unwrap();
        let mut part = body.next_part().await.unwrap().unwrap();
        let err = loop {
            match part.chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a truncated part looked complete"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::UnexpectedEnd);
        assert_eq!(err.part().unwrap().number, 3);
        assert_eq!(
            err.part().unwrap().name.as_deref(),
            Some("addressProofDocument")
        );
        assert_eq!(err.offset(), Some(cut as u64));
        let again = body.next_part().await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::UnexpectedEnd);
    });
}

#[test]
fn async_truncation_between_parts_is_not_the_end() {
    support::runtime().block_on(async {
        // Cut right after a delimiter line: other parsers report "no more parts" here.
        let end_of_first = BODY.windows(7).position(|w| w == b"\r\n--b\r\n").unwrap() + 7;
        let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from_static(
            &BODY[..end_of_first],
        ))]);
        let mut body = Multipart::new(stream, boundary());
        let part = body.next_part().await.unwrap().unwrap();
        assert_eq!(part.bytes().await.unwrap(), &b"{\"id\":\"x\"}"[..]);
        let err = body.next_part().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEnd);
    });
}

#[test]
fn async_source_error_is_reported_with_source() {
    support::runtime().block_on(async {
        let (stream, _) = counting(16, Some(6));
        let mut body = Multipart::new(stream, boundary());
        let _ = body.next_part().await.unwrap().unwrap();
        let err = body.next_part().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Read);
        assert_eq!(err.offset(), Some(96));
        let source = std::error::Error::source(&err).expect("source kept");
        assert!(source.to_string().contains("connection reset"));
        // Display says what failed; the cause is `source()`, printed once by error reporters.
        assert!(!err.to_string().contains("connection reset"), "{err}");
        assert_eq!(
            err.to_string(),
            "error reading the body in part 2 at byte 96"
        );
        // Fused: the source is not polled again.
        assert_eq!(body.next_part().await.unwrap_err().kind(), ErrorKind::Read);
    });
}

/// A reader that hands out at most `step` bytes per read and counts the bytes handed out.
struct TrickleReader<'a> {
    data: &'a [u8],
    step: usize,
    given: Arc<AtomicUsize>,
}

impl Read for TrickleReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.given.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    }
}

#[test]
fn blocking_reads_parts_under_any_read_sizes() {
    for step in [1, 2, 5, 16, 1000] {
        for chunk_size in [1, 8, 64 * 1024] {
            let given = Arc::new(AtomicUsize::new(0));
            let source = TrickleReader {
                data: BODY,
                step,
                given: given.clone(),
            };
            let mut body = blocking::Multipart::new(source, boundary()).chunk_size(chunk_size);
            let mut got = Vec::new();
            while let Some(mut part) = body.next_part().unwrap() {
                let name = part.headers().name().unwrap().to_owned();
                let mut data = Vec::new();
                part.read_to_end(&mut data).unwrap();
                got.push((name, data));
            }
            assert_eq!(got.len(), 3, "step {step} chunk {chunk_size}");
            assert_eq!(got[1].1, b"\xff\xd8 jpeg bytes \xff\xd9");
            assert_eq!(got[2].1, b"%PDF-1.4 ... %%EOF");
            // Nothing is read after the close delimiter's last byte, give or take one chunk.
            assert!(given.load(Ordering::SeqCst) <= BODY.len());
        }
    }
}

#[test]
fn blocking_truncation_and_source_errors() {
    let cut = &BODY[..BODY.len() - 10];
    let mut body = blocking::Multipart::new(cut, boundary());
    let mut last = None;
    loop {
        match body.next_part() {
            Ok(Some(part)) => last = Some(part.bytes()),
            Ok(None) => panic!("truncated body looked complete"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::UnexpectedEnd);
                break;
            }
        }
    }
    assert_eq!(last.unwrap().unwrap_err().kind(), ErrorKind::UnexpectedEnd);

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let err = blocking::Multipart::new(Failing, boundary())
        .next_part()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Read);
    assert!(!err.to_string().contains("disk on fire"), "{err}");
    let source = std::error::Error::source(&err).expect("the cause is the source");
    assert_eq!(source.to_string(), "disk on fire");
}
