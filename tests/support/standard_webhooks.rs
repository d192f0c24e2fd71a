//! An independent check of Standard Webhooks signatures: the `standardwebhooks` package of PyPI,
//! run by `python3` (or `$PYTHON`).
//!
//! Missing package: outside CI the test prints a line and skips; under `CI=true` it fails
//! (`.ci/run` installs it).

use std::io::Write;
use std::process::{Command, Stdio};

/// The verification script: the body on standard input, the secret and the headers (a JSON
/// object) in the environment; prints the verified payload, or exits 3 with the library's
/// reason.
const VERIFY: &str = r#"
import json, os, sys
from standardwebhooks.webhooks import Webhook
body = sys.stdin.buffer.read()
headers = json.loads(os.environ["SW_HEADERS"])
try:
    payload = Webhook(os.environ["SW_SECRET"]).verify(body, headers)
except Exception as e:
    print(type(e).__name__ + ": " + str(e), file=sys.stderr)
    sys.exit(3)
json.dump(payload, sys.stdout)
"#;

/// A Python interpreter with the `standardwebhooks` package.
pub struct StandardWebhooks {
    python: String,
}

impl StandardWebhooks {
    /// The interpreter, or `None` (after printing why) when it or the package is missing outside
    /// CI. Panics under `CI=true` when it is missing.
    pub fn find(test: &str) -> Option<StandardWebhooks> {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let found = Command::new(&python)
            .args(["-c", "import standardwebhooks"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return Some(StandardWebhooks { python });
        }
        let why = format!(
            "{python} cannot import standardwebhooks; install it with \
             `pip install standardwebhooks`"
        );
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{test}: {why} (CI=true: the Standard Webhooks interop tests must run)");
        }
        println!("{test}: skipped: {why}");
        None
    }

    /// Verifies `body` as received with `headers` (name, value) against `secret`
    /// (`whsec_...`): the payload as JSON, or the package's reason for refusing it.
    pub fn verify(
        &self,
        secret: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<serde_json::Value, String> {
        let headers: serde_json::Map<String, serde_json::Value> = headers
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let mut child = Command::new(&self.python)
            .args(["-c", VERIFY])
            .env("SW_SECRET", secret)
            .env("SW_HEADERS", serde_json::Value::Object(headers).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python runs");
        child.stdin.take().unwrap().write_all(body).unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            Ok(serde_json::from_slice(&out.stdout).expect("the payload as JSON"))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }
}
