//! A loopback HTTP/1.1 server that answers each connection from a script: whole responses, cut
//! or stalled bodies, silence. The client's tests and the CLI's `fetch` tests use it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does with one connection.
#[derive(Clone)]
pub enum Answer {
    /// Writes these bytes (a whole HTTP response) and closes.
    Whole(Vec<u8>),
    /// Writes the head and the first `n` bytes of the body, then closes.
    Cut(Vec<u8>, usize),
    /// Writes the head and the first `n` bytes of the body, then waits, never closing first.
    Stall(Vec<u8>, usize),
    /// Writes nothing and waits, never closing first.
    Silent,
    /// Writes the chunks of the generator as fast as the client takes them, until it closes.
    Endless(fn() -> Chunks),
    /// Writes the head, then `n` bytes of the body every `every`.
    Drip(Vec<u8>, usize, Duration),
    /// Writes `103 Early Hints` every `every`, until the client closes.
    Informational(Duration),
    /// Writes these bytes as soon as the connection opens, without reading a request, and
    /// closes: a plain HTTP server's answer to a TLS handshake.
    Unasked(Vec<u8>),
}

/// An endless answer, head first.
pub type Chunks = Box<dyn Iterator<Item = Vec<u8>> + Send>;

/// A loopback HTTP/1.1 server that answers each connection with the next answer of its script
/// (the last one again once the script is done) and keeps every request head.
pub struct Server {
    pub url: String,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub async fn start(script: Vec<Answer>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((mut socket, _)) = listener.accept().await {
                let answer = script[n.min(script.len() - 1)].clone();
                n += 1;
                let seen = seen.clone();
                tokio::spawn(async move {
                    if let Answer::Unasked(bytes) = &answer {
                        let _ = socket.write_all(bytes).await;
                        let _ = socket.shutdown().await;
                        return;
                    }
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => head.extend_from_slice(&buf[..k]),
                        }
                    }
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    match answer {
                        Answer::Whole(bytes) => {
                            let _ = socket.write_all(&bytes).await;
                        }
                        Answer::Cut(bytes, n) => {
                            let _ = socket.write_all(&bytes[..head_len(&bytes) + n]).await;
                        }
                        Answer::Stall(bytes, n) => {
                            let _ = socket.write_all(&bytes[..head_len(&bytes) + n]).await;
                            // Until the client gives up and closes.
                            let _ = socket.read(&mut buf).await;
                            return;
                        }
                        Answer::Silent => {
                            let _ = socket.read(&mut buf).await;
                            return;
                        }
                        Answer::Endless(chunks) => {
                            // 1 GiB and more: a client without its caps ends with another
                            // error instead of holding the test forever.
                            for chunk in chunks().take(1 << 10) {
                                if socket.write_all(&chunk).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Answer::Drip(bytes, n, every) => {
                            let head = head_len(&bytes);
                            let _ = socket.write_all(&bytes[..head]).await;
                            for piece in bytes[head..].chunks(n) {
                                tokio::time::sleep(every).await;
                                if socket.write_all(piece).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Answer::Informational(every) => loop {
                            let hint =
                                b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n";
                            if socket.write_all(hint).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(every).await;
                        },
                        Answer::Unasked(_) => unreachable!("answered above"),
                    }
                    let _ = socket.shutdown().await;
                });
            }
        });
        Server { url, heads }
    }

    pub fn requests(&self) -> usize {
        self.heads.lock().unwrap().len()
    }

    pub fn head(&self, n: usize) -> String {
        self.heads.lock().unwrap()[n].clone()
    }
}

/// Where the body starts in a whole response, for cutting it `num/den` of the way in.
pub fn into_body(response: &[u8], num: usize, den: usize) -> usize {
    (response.len() - head_len(response)) * num / den
}

pub fn head_len(response: &[u8]) -> usize {
    response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
}

pub fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn corpus(name: &str) -> PathBuf {
    super::repo_root().join("corpus").join(name)
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap()
}

/// The sample multipart export's content type.
fn multipart_type() -> String {
    String::from_utf8(read(corpus("verification-result.multipart.content-type")))
        .unwrap()
        .trim()
        .to_owned()
}

/// The sample JSON export as a whole `200 OK` response.
pub fn json_export() -> Vec<u8> {
    response(
        "200 OK",
        &[("Content-Type", "application/json")],
        &read(corpus("verification-result.json")),
    )
}

/// The sample multipart export as a whole `200 OK` response.
pub fn multipart_export() -> Vec<u8> {
    response(
        "200 OK",
        &[("Content-Type", &multipart_type())],
        &read(corpus("verification-result.multipart")),
    )
}

/// Every file of `dir` is byte for byte the corpus file of its name (`result.json` the result).
pub fn only_whole_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let want = if name == "result.json" {
            corpus("result.json")
        } else {
            corpus("files").join(&name)
        };
        assert_eq!(read(entry.path()), read(&want), "{name} is not whole");
        n += 1;
    }
    n
}
