//! The bundled sample export in `corpus/` is written by our own encoder from `corpus/result.json`
//! and `corpus/files/`. This test writes it again and compares byte for byte; run it with
//! `AUTHENTEQ_UPDATE_CORPUS=1` to rewrite the committed files after changing their sources.

mod support;

use std::path::Path;

use authenteq_export::export::{json_export, write_multipart_export, FileKind, OutgoingFile};
use authenteq_export::multipart::{Boundary, Limits};

const CORPUS_BOUNDARY: &str = "authenteq-export-sample-7Qm2Xc9LrT4vWb8N";

/// The sample's files, in the order the API writes them.
use support::generate::FILE_PARTS as FILES;

/// (kind, content type, bytes) of one file of the sample.
type SourceFile = (FileKind, &'static str, Vec<u8>);

/// The sample's sources: the result JSON and its files.
fn sources() -> (Vec<u8>, Vec<SourceFile>) {
    let dir = support::corpus_path("");
    let result = std::fs::read(dir.join("result.json")).unwrap();
    let files = FILES
        .iter()
        .map(|(name, content_type, ext)| {
            let bytes = std::fs::read(dir.join("files").join(format!("{name}.{ext}"))).unwrap();
            (FileKind::from_part_name(name), *content_type, bytes)
        })
        .collect();
    (result, files)
}

fn with_outgoing<T>(f: impl FnOnce(&[u8], &[OutgoingFile<'_>]) -> T) -> T {
    let (result, files) = sources();
    let outgoing: Vec<OutgoingFile<'_>> = files
        .iter()
        .map(|(kind, content_type, bytes)| OutgoingFile {
            kind,
            content_type,
            bytes,
        })
        .collect();
    f(&result, &outgoing)
}

fn multipart_export() -> Vec<u8> {
    let boundary = Boundary::new(CORPUS_BOUNDARY).unwrap();
    with_outgoing(|result, files| {
        write_multipart_export(Vec::new(), boundary, result, files).unwrap()
    })
}

fn check_or_update(path: &Path, want: &[u8]) {
    if std::env::var_os("AUTHENTEQ_UPDATE_CORPUS").is_some() {
        std::fs::write(path, want).unwrap();
        return;
    }
    let have = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with AUTHENTEQ_UPDATE_CORPUS=1)",
            path.display()
        )
    });
    assert!(
        have == want,
        "{} is not what the encoder writes (run with AUTHENTEQ_UPDATE_CORPUS=1)",
        path.display()
    );
}

#[test]
fn multipart_sample_is_written_by_our_encoder() {
    let dir = support::corpus_path("");
    let body = multipart_export();
    check_or_update(&dir.join("verification-result.multipart"), &body);
    let content_type = format!(
        "{}\n",
        Boundary::new(CORPUS_BOUNDARY)
            .unwrap()
            .content_type("mixed")
    );
    check_or_update(
        &dir.join("verification-result.multipart.content-type"),
        content_type.as_bytes(),
    );
}

#[test]
fn multipart_sample_decodes_to_its_sources() {
    let dir = support::corpus_path("");
    let body = std::fs::read(dir.join("verification-result.multipart")).unwrap();
    let content_type =
        std::fs::read_to_string(dir.join("verification-result.multipart.content-type")).unwrap();
    let boundary = Boundary::from_content_type(content_type.trim()).unwrap();
    for chunk in [1, 7, 100, 4096, body.len()] {
        let bytes = bytes::Bytes::from(body.clone());
        let outcome = support::decode_chunks(
            &support::fixed_chunks(&bytes, chunk),
            &boundary,
            Limits::default(),
        );
        assert!(outcome.is_complete(), "{outcome:?}");
        assert_eq!(outcome.parts.len(), 12);
        assert_eq!(outcome.parts[0].name.as_deref(), Some("result"));
        assert_eq!(
            outcome.parts[0].data,
            std::fs::read(dir.join("result.json")).unwrap()
        );
        for (part, (name, _, ext)) in outcome.parts[1..].iter().zip(FILES.iter()) {
            assert_eq!(part.name.as_deref(), Some(*name));
            let filename = format!("{name}.{ext}");
            assert_eq!(part.filename.as_deref(), Some(filename.as_str()));
            assert_eq!(
                part.data,
                std::fs::read(dir.join("files").join(&filename)).unwrap()
            );
        }
    }
}

#[test]
fn json_sample_is_written_by_our_encoder() {
    let body = with_outgoing(|result, files| json_export(result, files).unwrap());
    check_or_update(
        &support::corpus_path("").join("verification-result.json"),
        &body,
    );
}
