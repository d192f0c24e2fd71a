//! The README's library example, as users copy it: its text is `examples/save_over_http.rs`
//! word for word, and it is run here over real HTTP on loopback against bodies that try to
//! escape the folder or are cut mid-file.

mod support;

#[path = "../examples/save_over_http.rs"]
mod example;

use std::path::Path;

use authenteq_export::save::Outcome;
use authenteq_export::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[test]
fn the_readme_shows_the_example_word_for_word() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let code = support::readme_code("save_over_http");
    assert!(
        readme.contains(&format!("```rust,no_run\n{code}```")),
        "the README's library example differs from examples/save_over_http.rs:\n{code}"
    );
}

/// Serves one answer on loopback: `status`, `content_type` and a `Content-Length` of the whole
/// body, of which only the first `send` bytes are written before the connection closes.
async fn serve_once(status: u16, content_type: &str, body: Vec<u8>, send: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            request.extend_from_slice(&buf[..n]);
        }
        socket.write_all(head.as_bytes()).await.unwrap();
        // In pieces, so the client reads files over several chunks.
        for piece in body[..send].chunks(1000) {
            socket.write_all(piece).await.unwrap();
            socket.flush().await.unwrap();
        }
        let _ = socket.shutdown().await;
    });
    format!("http://{addr}/export/verification-result-as-multipart?verificationId=v1")
}

fn multipart_with_names(names: &[&str], file_len: usize) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        b"--b\r\nContent-Disposition: form-data; name=\"result\"; filename=\"result.json\"\r\n\
          Content-Type: application/json\r\n\r\n{\"id\":\"v1\"}\r\n",
    );
    for (i, name) in names.iter().enumerate() {
        body.extend_from_slice(
            format!(
                "--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\
                 Content-Type: image/jpeg\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend((0..file_len).map(|j| (i * 7 + j) as u8));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--b--\r\n");
    body
}

/// Every file under `root`, as paths relative to it.
fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn names_that_try_to_escape_the_folder_stay_in_it() {
    let sandbox = tempfile::tempdir().unwrap();
    let out = sandbox.path().join("deep/er/out");
    let abs = sandbox.path().join("abs");
    let abs = abs.to_str().unwrap();
    let names = ["../../escaped", abs, "a/b", "..", ".", "CON", "x\\..\\y"];
    let body = multipart_with_names(&names, 3000);
    support::runtime().block_on(async {
        let url = serve_once(200, "multipart/mixed; boundary=b", body.clone(), body.len()).await;
        let response = reqwest::get(&url).await.unwrap();
        let saved = example::save(response, &out).await.unwrap();
        assert_eq!(saved.files().len(), names.len() + 1);
        // Raw names that clean up to the same name get distinct ones; none is skipped.
        for file in saved.files() {
            assert!(
                matches!(
                    file.saved().outcome(),
                    Outcome::Created | Outcome::Renamed { .. }
                ),
                "{file:?}"
            );
        }
    });
    // Everything is in `out`, one level deep, and nothing next to it.
    let all = files_under(sandbox.path());
    assert_eq!(all.len(), names.len() + 1, "{all:?}");
    for path in &all {
        let inside = Path::new(path)
            .strip_prefix("deep/er/out")
            .expect("inside out/");
        assert_eq!(inside.components().count(), 1, "{path}");
    }
}

#[test]
fn a_body_cut_mid_file_leaves_only_whole_files() {
    let body = multipart_with_names(&["faceImage", "croppedFrontImage"], 50_000);
    // Cut in the middle of the second file.
    let cut = body.len() - 20_000;
    let out = tempfile::tempdir().unwrap();
    support::runtime().block_on(async {
        let url = serve_once(200, "multipart/mixed; boundary=b", body.clone(), cut).await;
        let response = reqwest::get(&url).await.unwrap();
        let err = match example::save(response, out.path()).await {
            Ok(saved) => panic!("a cut body was saved: {saved:?}"),
            Err(err) => err,
        };
        // The cut connection is a read error (hyper reports the missing bytes) or the decoder's
        // unexpected end: either way, not a complete export.
        assert!(
            matches!(err.kind(), ErrorKind::Read | ErrorKind::UnexpectedEnd),
            "{err:?}"
        );
    });
    // The result and the first file are whole; the second is nowhere, not even half.
    assert_eq!(
        files_under(out.path()),
        ["faceImage.jpeg", "result.json"],
        "only whole files"
    );
    let first = std::fs::read(out.path().join("faceImage.jpeg")).unwrap();
    assert_eq!(first.len(), 50_000);
}

#[test]
fn an_api_error_answer_saves_nothing_and_names_its_status() {
    let body =
        br#"{"errorCode":"VERIFICATION_NOT_FOUND","errorMessage":"Verification not found."}"#;
    let out = tempfile::tempdir().unwrap();
    support::runtime().block_on(async {
        let url = serve_once(404, "application/json", body.to_vec(), body.len()).await;
        let response = reqwest::get(&url).await.unwrap();
        let err = example::save(response, out.path()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Api);
        assert_eq!(err.http_status(), 404);
        assert_eq!(
            err.to_string(),
            "API error VERIFICATION_NOT_FOUND: Verification not found (HTTP 404)"
        );
    });
    assert!(files_under(out.path()).is_empty());
}
