//! The streaming encoders write exactly what the in-memory ones write, for the corpus sample and
//! for files of every length modulo 3, whatever sizes the reader hands out; and their
//! `content_length` is the number of bytes they yield.

mod support;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use authenteq_export::export::{
    json_export, write_multipart_export, ExportBody, FileKind, OutgoingFile, StreamedFile,
};
use authenteq_export::multipart::Boundary;
use bytes::Bytes;
use futures::StreamExt;
use support::generate::FILE_PARTS;
use tokio::io::{AsyncRead, ReadBuf};

/// A reader that hands out at most `step` bytes per read, and answers `Pending` before each.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
    ready: bool,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.ready {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.ready = false;
        let n = self
            .step
            .min(buf.remaining())
            .min(self.data.len() - self.at);
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

struct Input {
    kind: FileKind,
    filename: String,
    content_type: String,
    bytes: Vec<u8>,
}

fn corpus() -> (Vec<u8>, Vec<Input>) {
    let result = support::export::corpus("result.json");
    let files = FILE_PARTS
        .iter()
        .map(|(name, content_type, ext)| {
            let filename = format!("{name}.{ext}");
            Input {
                kind: FileKind::from_part_name(name),
                bytes: support::export::corpus(&format!("files/{filename}")),
                filename,
                content_type: content_type.to_string(),
            }
        })
        .collect();
    (result, files)
}

fn streamed(inputs: &[Input], step: usize) -> Vec<StreamedFile<Trickle>> {
    inputs
        .iter()
        .map(|f| StreamedFile {
            kind: f.kind.clone(),
            filename: f.filename.clone(),
            content_type: f.content_type.clone(),
            len: f.bytes.len() as u64,
            reader: Trickle {
                data: f.bytes.clone(),
                at: 0,
                step,
                ready: false,
            },
        })
        .collect()
}

fn outgoing(inputs: &[Input]) -> Vec<OutgoingFile<'_>> {
    inputs
        .iter()
        .map(|f| OutgoingFile {
            kind: &f.kind,
            content_type: &f.content_type,
            bytes: &f.bytes,
        })
        .collect()
}

async fn collect(mut body: ExportBody<Trickle>) -> io::Result<Vec<u8>> {
    let length = body.content_length();
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk?);
    }
    assert_eq!(
        out.len() as u64,
        length,
        "content_length is what the stream yields"
    );
    Ok(out)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn corpus_multipart_and_json_equal_the_in_memory_encoders() {
    let (result, inputs) = corpus();
    let boundary = Boundary::new("authenteq-export-sample-7Qm2Xc9LrT4vWb8N").unwrap();
    let expected_mp =
        write_multipart_export(Vec::new(), boundary.clone(), &result, &outgoing(&inputs)).unwrap();
    let expected_json = json_export(&result, &outgoing(&inputs)).unwrap();
    // The corpus files were written by the in-memory encoders.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus");
    assert_eq!(
        expected_mp,
        std::fs::read(format!("{dir}/verification-result.multipart")).unwrap()
    );
    assert_eq!(
        expected_json,
        std::fs::read(format!("{dir}/verification-result.json")).unwrap()
    );
    for step in [1, 2, 3, 7, 1000, 1 << 20] {
        let mp = ExportBody::multipart(
            boundary.clone(),
            Bytes::from(result.clone()),
            streamed(&inputs, step),
        )
        .unwrap();
        assert_eq!(
            mp.content_type(),
            "multipart/mixed; boundary=\"authenteq-export-sample-7Qm2Xc9LrT4vWb8N\""
        );
        assert_eq!(block_on(collect(mp)).unwrap(), expected_mp, "step {step}");
        let json = ExportBody::json(&result, streamed(&inputs, step)).unwrap();
        assert_eq!(json.content_type(), "application/json");
        assert_eq!(
            block_on(collect(json)).unwrap(),
            expected_json,
            "step {step}"
        );
    }
}

#[test]
fn every_length_modulo_3_and_empty_files() {
    let result =
        br#"{"id":"v1","startTime":"x","endTime":"y","documentData":{"documentType":"PP"}}"#;
    for len in [0usize, 1, 2, 3, 4, 5, 100_000, 100_001, 100_002] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let inputs = vec![
            Input {
                kind: FileKind::LivenessFaceImage,
                filename: "livenessFaceImage.jpeg".into(),
                content_type: "image/jpeg".into(),
                bytes: bytes.clone(),
            },
            Input {
                kind: FileKind::from_part_name("faceImage"),
                filename: "faceImage.jpeg".into(),
                content_type: "image/jpeg".into(),
                bytes,
            },
        ];
        let expected = json_export(result, &outgoing(&inputs)).unwrap();
        for step in [1, 4, 1 << 20] {
            let json = ExportBody::json(result, streamed(&inputs, step)).unwrap();
            assert_eq!(
                block_on(collect(json)).unwrap(),
                expected,
                "len {len} step {step}"
            );
        }
    }
}

#[test]
fn a_result_that_holds_the_placeholder_text_is_kept_verbatim() {
    let result = br#"{"id":"@authenteq-export-file-0@","note":"@@authenteq-export-file-1@"}"#;
    let inputs = vec![Input {
        kind: FileKind::AddressProofDocument,
        filename: "addressProofDocument.pdf".into(),
        content_type: "application/pdf".into(),
        bytes: b"%PDF-1.4 ...".to_vec(),
    }];
    let expected = json_export(result, &outgoing(&inputs)).unwrap();
    let json = ExportBody::json(result, streamed(&inputs, 3)).unwrap();
    assert_eq!(block_on(collect(json)).unwrap(), expected);
}

#[test]
fn a_file_shorter_than_stated_cuts_the_body_with_an_error() {
    let (result, mut inputs) = corpus();
    inputs.truncate(1);
    let mut files = streamed(&inputs, 1 << 20);
    files[0].len += 10;
    let body = ExportBody::json(&result, files).unwrap();
    let err = block_on(collect(body)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert!(err.to_string().contains("10 bytes before"), "{err}");
}

#[test]
fn a_file_holding_the_delimiter_fails_the_multipart_stream() {
    let boundary = Boundary::new("b0undary").unwrap();
    let inputs = vec![Input {
        kind: FileKind::AddressProofDocument,
        filename: "addressProofDocument.pdf".into(),
        content_type: "application/pdf".into(),
        bytes: b"abc\r\n--b0undary--\r\n".to_vec(),
    }];
    let body =
        ExportBody::multipart(boundary, Bytes::from_static(b"{}"), streamed(&inputs, 2)).unwrap();
    let err = block_on(collect(body)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}
