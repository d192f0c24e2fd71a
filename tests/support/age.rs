//! age for the tests: a key pair made per test, decryption with the `age` crate, and the `age`
//! command-line tool (Debian's `age`, an independent implementation).
//!
//! Missing `age` tool: outside CI the test prints a line and skips; under `CI=true` it fails
//! (`.ci/run` installs it).
#![allow(deprecated)] // age's X25519 keys: what the age tool reads and writes.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use age::secrecy::ExposeSecret;
use authenteq_export::store::{Identities, Recipients};

/// A fresh X25519 key pair: the identity file's text and the recipient (`age1…`).
pub struct KeyPair {
    pub identity: String,
    pub recipient: String,
}

impl KeyPair {
    pub fn generate() -> KeyPair {
        let identity = age::x25519::Identity::generate();
        KeyPair {
            identity: format!("{}\n", identity.to_string().expose_secret()),
            recipient: identity.to_public().to_string(),
        }
    }

    pub fn identities(&self) -> Identities {
        Identities::parse(&self.identity).unwrap()
    }

    pub fn recipients(&self) -> Recipients {
        Recipients::parse(&self.recipient).unwrap()
    }

    /// Writes the identity file into `dir` and gives its path.
    pub fn identity_file(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("key.txt");
        std::fs::write(&path, &self.identity).unwrap();
        path
    }
}

/// `ciphertext` decrypted with `identity` (an identity file's text), with the `age` crate.
pub fn decrypt(identity: &str, ciphertext: &[u8]) -> Vec<u8> {
    let identity: age::x25519::Identity = identity.trim().parse().unwrap();
    let decryptor = age::Decryptor::new(ciphertext).unwrap();
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap();
    let mut plaintext = Vec::new();
    reader.read_to_end(&mut plaintext).unwrap();
    plaintext
}

/// Whether the `age` tool runs here: `false` (after printing why) outside CI when it is
/// missing; panics under `CI=true` when it is.
pub fn tool_present(test: &str) -> bool {
    match Command::new("age").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: the age tool is missing under CI=true (.ci/run installs it)")
        }
        _ => {
            eprintln!("{test}: skipped, the age tool is not installed (apt-get install age)");
            false
        }
    }
}

/// Runs the `age` tool with `args`, `input` on its standard input.
pub fn tool(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new("age")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    out
}
