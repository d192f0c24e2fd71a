//! `--encrypt-to` and `--recipients-file`, read once for `fetch`, `fetch --ids`, `split` and
//! `webhook serve`: the age X25519 recipients every stored file is encrypted to (the
//! library's `store::Encrypted`), and what an encrypted `split` or `fetch ID` prints.

use std::path::{Path, PathBuf};

use authenteq_export::store::{Encrypted, FolderSink, Manifest, Recipients};

use crate::output::{Context, Done, Failure, PartSummary, Summary};

/// The flags, flattened into each command that stores.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct EncryptArgs {
    /// Encrypt every stored file (result.json included) with age to this X25519 recipient
    /// (`age1...`), as it streams: no plaintext byte is written. Repeatable; any one of the
    /// recipients' identities reads the files back (`authenteq-export open`). Stored names
    /// get `.age`; the manifest stays plain. Default: not encrypted.
    #[arg(long = "encrypt-to", value_name = "RECIPIENT")]
    pub encrypt_to: Vec<String>,
    /// As --encrypt-to, for each recipient of FILE (age's recipients-file format: one
    /// `age1...` a line, `#` comments and blank lines skipped). Repeatable, and combines with
    /// --encrypt-to.
    #[arg(long, value_name = "FILE")]
    pub recipients_file: Vec<PathBuf>,
}

impl EncryptArgs {
    /// The recipients asked for, `None` when neither flag was given.
    ///
    /// A value that is not an X25519 recipient is an error naming the flag and its position
    /// (`--encrypt-to #2`) or the file and line.
    pub fn recipients(&self) -> Result<Option<Recipients>, Failure> {
        let mut all: Option<Recipients> = None;
        let mut add = |more: Recipients| match &mut all {
            Some(all) => all.extend(more),
            None => all = Some(more),
        };
        for (n, value) in self.encrypt_to.iter().enumerate() {
            add(one_recipient(n + 1, value)?);
        }
        for path in &self.recipients_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Context::new(
                    format!("--recipients-file: cannot read {}", path.display()),
                    e,
                )
            })?;
            let parsed = Recipients::parse(&text)
                .map_err(|e| Context::new(format!("--recipients-file {}", path.display()), e))?;
            add(parsed);
        }
        Ok(all)
    }
}

/// The `n`th `--encrypt-to` value: one recipient, on one line.
fn one_recipient(n: usize, value: &str) -> Result<Recipients, Failure> {
    let bad = || -> Failure {
        format!(
            "--encrypt-to #{n} ({value:?}) is not an age X25519 recipient: give an `age1...` \
             public key (as `age-keygen -y KEYFILE` prints it)"
        )
        .into()
    };
    let value = value.trim();
    // One key: a value holding a line break or a comment would read as a recipients file.
    if value.is_empty() || value.contains(['\n', '\r', '#']) {
        return Err(bad());
    }
    Recipients::parse(value).map_err(|_| bad())
}

/// What an encrypted `split` or `fetch ID` prints: the format, and each file of the manifest
/// with its plaintext's size and SHA-256 and where it is stored (`ID/NAME.age` under --out).
/// The result's fields are not shown: they are in the encrypted `result.json`.
pub fn summary(format: &'static str, manifest: &Manifest, bytes_read: u64) -> Done {
    let parts = manifest
        .files()
        .iter()
        .map(|file| PartSummary {
            name: file.name().to_owned(),
            content_type: file.content_type().map(str::to_owned),
            size: file.size(),
            sha256: Some(file.sha256().to_owned()),
            file: Some(format!("{}/{}", manifest.id(), file.stored_name())),
            ..PartSummary::default()
        })
        .collect();
    Done {
        summary: Summary {
            format,
            result: None,
            parts,
        },
        bytes_read,
    }
}

/// The folder `out` (made already) as a store whose files are each encrypted to `recipients`,
/// with `file_mode` (default `0600`): what an encrypted `fetch ID` or `split` stores into.
pub fn encrypted_folder(
    out: &Path,
    file_mode: Option<u32>,
    recipients: &Recipients,
) -> Result<Encrypted<FolderSink>, Failure> {
    let mut folder = FolderSink::create(out)?;
    if let Some(mode) = file_mode {
        folder = folder.file_mode(mode);
    }
    Ok(Encrypted::new(folder, recipients.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "age1042gl6v44ujy7730vzzrrgedqlxaugv2lzlathyqnralwqs0392su206mh";

    #[test]
    fn none_without_the_flags() {
        assert!(EncryptArgs::default().recipients().unwrap().is_none());
    }

    #[test]
    fn recipients_of_both_flags_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recipients.txt");
        std::fs::write(&file, format!("# team\n\n{KEY}\n")).unwrap();
        let args = EncryptArgs {
            encrypt_to: vec![KEY.to_owned(), format!(" {KEY} ")],
            recipients_file: vec![file],
        };
        assert_eq!(args.recipients().unwrap().unwrap().len(), 3);
    }

    #[test]
    fn a_bad_recipient_names_the_flag_and_its_position() {
        for bad in [
            "age1nope",
            "",
            "AGE-SECRET-KEY-1X",
            &format!("{KEY}\n{KEY}"),
        ] {
            let args = EncryptArgs {
                encrypt_to: vec![KEY.to_owned(), bad.to_owned()],
                ..EncryptArgs::default()
            };
            let err = args.recipients().unwrap_err().to_string();
            assert!(err.starts_with("--encrypt-to #2 "), "{bad:?}: {err}");
            assert!(err.contains("age1..."), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_bad_recipients_file_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recipients.txt");
        std::fs::write(&file, format!("{KEY}\n# ok\nssh-ed25519 AAAA\n")).unwrap();
        let args = EncryptArgs {
            recipients_file: vec![file.clone()],
            ..EncryptArgs::default()
        };
        let err = crate::output::with_causes(&*args.recipients().unwrap_err());
        assert!(err.contains("--recipients-file"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        std::fs::write(&file, "# nobody\n").unwrap();
        let err = crate::output::with_causes(&*args.recipients().unwrap_err());
        assert!(err.contains("no age recipient"), "{err}");
        let missing = EncryptArgs {
            recipients_file: vec![dir.path().join("missing")],
            ..EncryptArgs::default()
        };
        let err = missing.recipients().unwrap_err().to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
