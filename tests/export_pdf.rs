//! PDF exports through the export layer, under every chunking: complete, truncated at every
//! offset, and bodies that are not PDF.

mod support;

use authenteq_export::export::FileKind;
use authenteq_export::ErrorKind;
use support::export::{
    corpus, decode_all, default_limits, every_way, find, pdf, same_by, sampled_chunkings,
    DecodedFile, Format, Outcome, PDF,
};

fn report(bytes: &[u8]) -> DecodedFile {
    DecodedFile::new(
        FileKind::Report,
        Some("application/pdf"),
        Some("result.pdf"),
        bytes,
    )
}

#[test]
fn pdf_complete() {
    let rows: &[&[u8]] = &[
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\ntrailer <<>>\n%%EOF",
        b"%PDF-1.4\ntrailer <<>>\n%%EOF\n",
        b"%PDF-1.7\r\ntrailer <<>>\r\n%%EOF\r\n",
        b"%PDF-2.0 %%EOF",
    ];
    for body in rows {
        for format in [pdf(), Format::Detect] {
            let outcome = every_way(body, &format, default_limits());
            outcome.assert_complete();
            assert_eq!(outcome.files, [report(body)]);
            assert!(outcome.results.is_empty());
        }
    }
}

#[test]
fn pdf_truncated_at_every_offset() {
    let body = PDF;
    let eof = find(body, b"%%EOF") + 5;
    for cut in 0..body.len() {
        let prefix = &body[..cut];
        let outcome = every_way(prefix, &pdf(), default_limits());
        if cut >= eof {
            outcome.assert_complete();
            continue;
        }
        outcome.assert_failed(ErrorKind::UnexpectedEnd);
        assert_eq!(outcome.offset(), Some(cut as u64), "cut at {cut}");
        assert!(outcome.files.is_empty(), "no FileEnd: {outcome:?}");
        if cut >= 5 {
            assert_eq!(outcome.unfinished, Some(report(prefix)));
        }
    }
    // The corpus PDF cut before its trailer.
    let body = corpus("verification-result.pdf");
    for cut in [5, 1000, body.len() / 2, body.len() - 7, body.len() - 2] {
        let prefix = &body[..cut];
        let outcomes = decode_all(sampled_chunkings(prefix, 20), &pdf(), default_limits());
        let outcome = same_by(&outcomes, prefix, Outcome::strict);
        outcome.assert_failed(ErrorKind::UnexpectedEnd);
        assert!(outcome.files.is_empty());
        assert_eq!(outcome.unfinished, Some(report(prefix)));
    }
}

#[test]
fn pdf_not_starting_with_the_header() {
    let rows: &[&[u8]] = &[
        b"<html><body>Bad gateway</body></html>",
        b"%PDX-1.4\n%%EOF\n",
        b"PDF-1.4\n%%EOF",
        b"%!PS-Adobe-3.0\n%%EOF\n",
        b"%PD!",
    ];
    for body in rows {
        let outcome = every_way(body, &pdf(), default_limits());
        outcome.assert_failed(ErrorKind::InvalidPdf);
        assert_eq!(outcome.offset(), Some(0));
        assert!(outcome.files.is_empty() && outcome.unfinished.is_none());
    }
}
