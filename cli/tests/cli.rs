//! Integration tests of the `authenteq-export` command line: `split` and `inspect` run as a child
//! process on the sample in `corpus/` and on exports built here (issue 3's acceptance list).
//!
//! Every run is checked for the error contract: exit status 0, or 1 with nothing on standard
//! output and exactly one `error:` line on standard error; never a panic (status 101).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use authenteq_export::multipart::{form_data_disposition, Boundary, MultipartWriter};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_authenteq-export");

/// The files of the sample, in the order both exports hold them.
const FILES: &[&str] = &[
    "livenessFaceImage.jpeg",
    "croppedFrontImage.jpeg",
    "croppedBackImage.jpeg",
    "faceImage.jpeg",
    "croppedFrontImage2.jpeg",
    "croppedBackImage2.jpeg",
    "faceImage2.jpeg",
    "croppedFrontImage3.jpeg",
    "croppedBackImage3.jpeg",
    "faceImage3.jpeg",
    "addressProofDocument.pdf",
];

/// Files of a directory by name, with their bytes.
type Files = BTreeMap<String, Vec<u8>>;

/// A multipart part to write: its headers and its payload.
type PartSpec = (Vec<(String, String)>, Vec<u8>);

/// Checks the files left in DIR after `split` on a body cut at some offset.
type DirCheck<'a> = &'a (dyn Fn(usize, &Files) -> Result<(), String> + Sync);

/// Child processes run at once by the truncation tests (they mostly wait on `fsync`).
const WORKERS: usize = 8;

// ---------------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------------

/// What the child reads on standard input.
#[derive(Clone, Copy)]
enum Input<'a> {
    /// Nothing (INPUT names a file).
    None,
    /// These bytes, through a pipe.
    Bytes(&'a [u8]),
    /// This file's bytes, through a pipe.
    File(&'a Path),
}

/// How a run of the binary ended.
#[derive(Debug)]
struct Outcome {
    args: Vec<String>,
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

/// Runs the binary with `args`; fails the test on a signal or a panic.
fn cli(args: &[&OsStr], stdin: Input<'_>) -> Outcome {
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(match stdin {
            Input::None => Stdio::null(),
            _ => Stdio::piped(),
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start authenteq-export");
    let output = std::thread::scope(|s| {
        if let Some(mut pipe) = child.stdin.take() {
            s.spawn(move || {
                // The binary may stop reading at an error: a broken pipe is not a failure.
                let _ = match stdin {
                    Input::None => Ok(()),
                    Input::Bytes(bytes) => pipe.write_all(bytes),
                    Input::File(path) => {
                        let mut file = File::open(path).expect("open the input");
                        io::copy(&mut file, &mut pipe).map(drop)
                    }
                };
            });
        }
        child.wait_with_output()
    })
    .expect("wait for authenteq-export");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output
        .status
        .code()
        .unwrap_or_else(|| panic!("{shown:?} was killed: {:?}\n{stderr}", output.status));
    assert!(
        code != 101 && !stderr.contains("panicked"),
        "{shown:?} panicked: {stderr}"
    );
    Outcome {
        args: shown,
        code,
        stdout: output.stdout,
        stderr,
    }
}

/// `&[&OsStr]` from strings and paths.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        &[$(OsStr::new($arg)),*][..]
    };
}

impl Outcome {
    /// Checks success and returns the summary printed on standard output.
    fn summary(&self) -> Value {
        assert_eq!(self.code, 0, "{:?} failed: {}", self.args, self.stderr);
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "{:?}: stdout is not JSON ({e}): {}",
                self.args,
                String::from_utf8_lossy(&self.stdout)
            )
        })
    }

    /// Checks the error contract (status 1, empty stdout, one line on stderr starting `error:`)
    /// and returns that line.
    fn try_error_line(&self) -> Result<&str, String> {
        if self.code != 1 {
            return Err(format!(
                "{:?}: status {}, want 1; stderr: {}",
                self.args, self.code, self.stderr
            ));
        }
        if !self.stdout.is_empty() {
            return Err(format!(
                "{:?}: failed but wrote to stdout: {}",
                self.args,
                String::from_utf8_lossy(&self.stdout)
            ));
        }
        let line = self.stderr.strip_suffix('\n').unwrap_or(&self.stderr);
        if line.contains('\n') || !line.starts_with("error: ") {
            return Err(format!(
                "{:?}: stderr is not one `error:` line: {:?}",
                self.args, self.stderr
            ));
        }
        Ok(line)
    }

    fn error_line(&self) -> &str {
        self.try_error_line().unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The byte offset an error line gives (`... at byte N`).
fn byte_offset(line: &str) -> Option<u64> {
    let rest = &line[line.rfind("at byte ")? + "at byte ".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// Corpus and directories
// ---------------------------------------------------------------------------------------------

fn corpus() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("corpus")
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `Content-Type` of the multipart sample.
fn multipart_content_type() -> String {
    String::from_utf8(read(
        corpus().join("verification-result.multipart.content-type"),
    ))
    .unwrap()
    .trim()
    .to_owned()
}

/// What splitting the multipart or JSON sample must give: `result.json` and the files.
fn corpus_split() -> Files {
    let mut want = BTreeMap::new();
    want.insert("result.json".to_owned(), read(corpus().join("result.json")));
    for name in FILES {
        want.insert((*name).to_owned(), read(corpus().join("files").join(name)));
    }
    want
}

fn corpus_result() -> Value {
    serde_json::from_slice(&read(corpus().join("result.json"))).unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The names in `dir` (none when it does not exist).
fn names(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().into_string().expect("UTF-8 name"))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    }
}

/// The regular files in `dir` with their bytes; fails on anything else (a directory, a link).
fn dir_files(dir: &Path) -> Files {
    names(dir)
        .into_iter()
        .map(|name| {
            let path = dir.join(&name);
            let meta = fs::symlink_metadata(&path).unwrap();
            assert!(meta.is_file(), "{} is not a regular file", path.display());
            (name, read(&path))
        })
        .collect()
}

/// Fails with the differing names (not megabytes of bytes) when two directories differ.
fn assert_same_files(have: &Files, want: &Files, what: &str) {
    let have_names: Vec<&String> = have.keys().collect();
    let want_names: Vec<&String> = want.keys().collect();
    assert_eq!(have_names, want_names, "{what}: file names");
    for (name, bytes) in want {
        assert!(have[name] == *bytes, "{what}: {name} differs");
    }
}

/// Every file under `root`, recursively (symbolic links are listed, not followed).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                todo.push(entry.path());
            } else {
                found.push(entry.path());
            }
        }
    }
    found
}

/// Positions of `needle` in `hay`.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn find_from(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

// ---------------------------------------------------------------------------------------------
// 1. split on the three formats of the sample
// ---------------------------------------------------------------------------------------------

/// Removes each part's `file` (checking it names a file of `files` with the part's size and
/// SHA-256), leaving what `inspect --sha256` prints.
fn strip_file_fields(summary: &Value, files: &Files) -> Value {
    let mut stripped = summary.clone();
    let parts = stripped["parts"].as_array_mut().expect("parts");
    let mut seen = BTreeSet::new();
    for part in parts {
        let part = part.as_object_mut().unwrap();
        let file = part
            .remove("file")
            .unwrap_or_else(|| panic!("split summary part without `file`: {part:?}"));
        let file = file.as_str().expect("`file` is a string").to_owned();
        assert!(seen.insert(file.clone()), "two parts name {file}");
        let bytes = files
            .get(&file)
            .unwrap_or_else(|| panic!("`file` {file:?} is not in the directory"));
        assert_eq!(part["size"], json!(bytes.len()), "size of {file}");
        assert_eq!(part["sha256"], json!(sha256_hex(bytes)), "sha256 of {file}");
    }
    stripped
}

#[test]
fn split_writes_the_sample_byte_for_byte_in_every_format() {
    let multipart_type = multipart_content_type();
    let sample = corpus_split();
    let pdf = read(corpus().join("verification-result.pdf"));
    let exports: [(&str, &str, &str, Files); 3] = [
        (
            "verification-result.multipart",
            &multipart_type,
            "multipart",
            sample.clone(),
        ),
        (
            "verification-result.json",
            "application/json",
            "json",
            sample.clone(),
        ),
        (
            "verification-result.pdf",
            "application/pdf",
            "pdf",
            BTreeMap::from([("result.pdf".to_owned(), pdf)]),
        ),
    ];
    let tmp = tempdir();
    for (export, content_type, format, want) in &exports {
        let path = corpus().join(export);
        let body = read(&path);
        let inspected = cli(args!["inspect", &path, "--sha256"], Input::None).summary();
        for via_stdin in [false, true] {
            for with_type in [false, true] {
                let what =
                    format!("split {export} (stdin: {via_stdin}, --content-type: {with_type})");
                // A directory whose parent does not exist yet either: split creates both.
                let out = tmp
                    .path()
                    .join(format!("{export}-{via_stdin}-{with_type}"))
                    .join("out");
                let input = if via_stdin {
                    OsStr::new("-")
                } else {
                    path.as_os_str()
                };
                // The whole result, as inspect prints it.
                let mut args = vec![
                    OsStr::new("split"),
                    input,
                    OsStr::new("--out"),
                    out.as_os_str(),
                    OsStr::new("--show-personal-data"),
                ];
                if with_type {
                    args.extend([OsStr::new("--content-type"), OsStr::new(content_type)]);
                }
                let run = cli(
                    &args,
                    if via_stdin {
                        Input::Bytes(&body)
                    } else {
                        Input::None
                    },
                );
                let summary = run.summary();
                let have = dir_files(&out);
                assert_same_files(&have, want, &what);
                assert_eq!(summary["format"], json!(format), "{what}");
                if *format == "multipart" {
                    // Every part lands under its own file name.
                    for part in summary["parts"].as_array().unwrap() {
                        assert_eq!(part["file"], part["filename"], "{what}: {part}");
                    }
                }
                let stripped = strip_file_fields(&summary, &have);
                assert_eq!(
                    stripped, inspected,
                    "{what}: stdout is inspect's summary + `file`"
                );
            }
        }
    }
    // The two formats of one verification split to the same directory.
    let dir = |export: &str| dir_files(&tmp.path().join(format!("{export}-false-false/out")));
    assert_same_files(
        &dir("verification-result.json"),
        &dir("verification-result.multipart"),
        "json export vs multipart export",
    );
}

// ---------------------------------------------------------------------------------------------
// 2. inspect
// ---------------------------------------------------------------------------------------------

/// The summary part of one sample file.
fn file_part(name: &str, filename: Option<&str>, bytes: &[u8], sha: bool) -> Value {
    let (stem, ext) = name.rsplit_once('.').unwrap();
    let content_type = if ext == "pdf" {
        "application/pdf"
    } else {
        "image/jpeg"
    };
    let mut part = json!({"name": stem});
    if let Some(filename) = filename {
        part["filename"] = json!(filename);
    }
    part["contentType"] = json!(content_type);
    part["size"] = json!(bytes.len());
    if sha {
        part["sha256"] = json!(sha256_hex(bytes));
    }
    part
}

fn result_part(json_bytes: &[u8], sha: bool) -> Value {
    let mut part = json!({
        "name": "result",
        "filename": "result.json",
        "contentType": "application/json",
        "size": json_bytes.len(),
    });
    if sha {
        part["sha256"] = json!(sha256_hex(json_bytes));
    }
    part
}

#[test]
fn inspect_prints_format_result_and_parts() {
    let sample = corpus_split();
    let result_json = &sample["result.json"];
    let multipart = corpus().join("verification-result.multipart");
    let json_export = corpus().join("verification-result.json");
    let pdf_export = corpus().join("verification-result.pdf");
    let multipart_type = multipart_content_type();
    for sha in [false, true] {
        let sha_arg: &[&OsStr] = if sha { args!["--sha256"] } else { &[] };
        let inspect = |path: &Path, extra: &[&OsStr], stdin: Input<'_>| {
            let input = if matches!(stdin, Input::None) {
                path.as_os_str()
            } else {
                OsStr::new("-")
            };
            let mut args = vec![OsStr::new("inspect"), input];
            args.extend_from_slice(sha_arg);
            args.extend_from_slice(extra);
            cli(&args, stdin).summary()
        };

        // Multipart: the result part (its bytes verbatim) and the files under their names.
        let mut parts = vec![result_part(result_json, sha)];
        for name in FILES {
            parts.push(file_part(name, Some(name), &sample[*name], sha));
        }
        let want = json!({"format": "multipart", "result": corpus_result(), "parts": parts});
        let have = inspect(&multipart, &[], Input::None);
        assert_eq!(have, want, "inspect multipart (sha256: {sha})");
        check_result_order(&have["result"]);
        let body = read(&multipart);
        assert_eq!(inspect(&multipart, &[], Input::Bytes(&body)), want);
        let typed = args!["--content-type", &multipart_type];
        assert_eq!(inspect(&multipart, typed, Input::None), want);

        // JSON: the files (the JSON export gives no file names), then the result at the end of
        // the document, written back as the multipart export's result part.
        let mut have = inspect(&json_export, &[], Input::None);
        for part in have["parts"].as_array_mut().unwrap() {
            // A file name, if given, must be the one the multipart export uses.
            if part["name"] != "result" {
                if let Some(filename) = part.as_object_mut().unwrap().remove("filename") {
                    let name = part["name"].as_str().unwrap();
                    assert!(
                        FILES.iter().any(|f| *f == filename && f.starts_with(name)),
                        "file name {filename} for {name}"
                    );
                }
            }
        }
        let mut parts: Vec<Value> = FILES
            .iter()
            .map(|name| file_part(name, None, &sample[*name], sha))
            .collect();
        parts.push(result_part(result_json, sha));
        let want = json!({"format": "json", "result": corpus_result(), "parts": parts});
        assert_eq!(have, want, "inspect json (sha256: {sha})");
        check_result_order(&have["result"]);
        let body = read(&json_export);
        let stdin = inspect(
            &json_export,
            args!["--content-type", "application/json"],
            Input::Bytes(&body),
        );
        assert_eq!(stdin["result"], want["result"]);
        assert_eq!(stdin["parts"].as_array().unwrap().len(), FILES.len() + 1);

        // PDF: one part, the report, and no typed result.
        let pdf = read(&pdf_export);
        let have = inspect(&pdf_export, &[], Input::None);
        assert_eq!(have["format"], "pdf");
        assert!(have.get("result").is_none_or(Value::is_null), "{have}");
        let parts = have["parts"].as_array().unwrap();
        assert_eq!(parts.len(), 1, "{have}");
        assert!(parts[0]["name"].is_string(), "{have}");
        assert_eq!(parts[0]["filename"], "result.pdf");
        assert_eq!(parts[0]["contentType"], "application/pdf");
        assert_eq!(parts[0]["size"], json!(pdf.len()));
        if sha {
            assert_eq!(parts[0]["sha256"], json!(sha256_hex(&pdf)));
        } else {
            assert!(parts[0].get("sha256").is_none(), "{have}");
        }
        let typed = args!["--content-type", "application/pdf"];
        assert_eq!(inspect(&pdf_export, typed, Input::Bytes(&pdf)), have);
    }
}

/// The re-serialized result keeps the API's field order where the issue asks for it (the
/// sample's `licenseClassDetails` are deliberately not sorted), and as a whole.
fn check_result_order(result: &Value) {
    let classes: Vec<&String> = result["documentData2"]["licenseClassDetails"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(classes, ["B", "AM", "BE"]);
    assert_eq!(
        serde_json::to_string(result).unwrap(),
        serde_json::to_string(&corpus_result()).unwrap(),
        "field order"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. API error bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn api_error_bodies_fail_with_their_error_code() {
    let tmp = tempdir();
    let mut bodies: Vec<(String, Vec<u8>)> = fs::read_dir(corpus().join("errors"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (path.display().to_string(), read(&path))
        })
        .collect();
    bodies.sort();
    assert_eq!(bodies.len(), 7, "the seven documented codes");
    // An undocumented code is reported all the same.
    bodies.push((
        "RATE_LIMITED".to_owned(),
        br#"{"errorCode":"RATE_LIMITED","errorMessage":"Too many requests","retryAfter":30}"#
            .to_vec(),
    ));
    for (i, (what, body)) in bodies.iter().enumerate() {
        let parsed: Value = serde_json::from_slice(body).unwrap();
        let code = parsed["errorCode"].as_str().unwrap();
        let message = parsed
            .get("errorMessage")
            .or_else(|| parsed.get("errorDescription"))
            .and_then(Value::as_str)
            .unwrap();
        let file = tmp.path().join(format!("error-{i}.json"));
        fs::write(&file, body).unwrap();
        let out = tmp.path().join(format!("out-{i}"));
        let runs = [
            cli(args!["inspect", &file], Input::None),
            cli(args!["inspect", "-"], Input::Bytes(body)),
            cli(
                args![
                    "inspect",
                    &file,
                    "--sha256",
                    "--content-type",
                    "application/json"
                ],
                Input::None,
            ),
            cli(args!["split", &file, "--out", &out], Input::None),
            cli(
                args![
                    "split",
                    "-",
                    "--out",
                    &out,
                    "--content-type",
                    "application/json"
                ],
                Input::Bytes(body),
            ),
        ];
        for run in &runs {
            let line = run.error_line();
            assert!(line.contains(code), "{what}: {line:?} lacks {code}");
            assert!(line.contains(message), "{what}: {line:?} lacks {message:?}");
        }
        assert_eq!(
            names(&out),
            Vec::<String>::new(),
            "{what}: split wrote files"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Truncation
// ---------------------------------------------------------------------------------------------

/// How one truncated run is made.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Standard input, with `--content-type`.
    StdinTyped,
    /// Standard input, the format detected.
    Stdin,
    /// A file, the format detected.
    File,
}

/// Runs `split` on `body[..cut]` for every cut (in parallel) and checks the error contract
/// and `check_dir(cut, files left)`; reports every failing cut at once.
fn split_truncated(
    body: &[u8],
    content_type: &str,
    cuts: &[(usize, Mode)],
    check_dir: DirCheck<'_>,
) {
    let tmp = tempdir();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(cut, mode)) = cuts.get(i) else {
                    break;
                };
                let check = || -> Result<(), String> {
                    let input = tmp.path().join(format!("cut-{cut}"));
                    let out = tmp.path().join(format!("out-{cut}"));
                    let run = match mode {
                        Mode::StdinTyped => cli(
                            args!["split", "-", "--out", &out, "--content-type", content_type],
                            Input::Bytes(&body[..cut]),
                        ),
                        Mode::Stdin => cli(
                            args!["split", "-", "--out", &out],
                            Input::Bytes(&body[..cut]),
                        ),
                        Mode::File => {
                            fs::write(&input, &body[..cut]).unwrap();
                            cli(args!["split", &input, "--out", &out], Input::None)
                        }
                    };
                    let line = run.try_error_line()?;
                    if !line.contains("unexpected end") {
                        return Err(format!("{line:?} does not say `unexpected end`"));
                    }
                    if byte_offset(line) != Some(cut as u64) {
                        return Err(format!("{line:?}: want `at byte {cut}`"));
                    }
                    let left = names(&out);
                    if let Some(partial) = left.iter().find(|n| n.starts_with(".partial")) {
                        return Err(format!("temporary file {partial} left behind"));
                    }
                    check_dir(cut, &dir_files(&out))?;
                    let _ = fs::remove_dir_all(&out);
                    let _ = fs::remove_file(&input);
                    Ok(())
                };
                if let Err(e) = check() {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("cut at {cut} ({mode:?}): {e}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} truncated runs failed:\n{}",
        failures.len(),
        cuts.len(),
        failures[..failures.len().min(25)].join("\n")
    );
}

/// Every 97th byte, plus `extra`, below `end`, each with a mode in turn; cuts below
/// `typed_below` always get the content type.
fn plan_cuts(
    len: usize,
    end: usize,
    extra: impl IntoIterator<Item = usize>,
    typed_below: usize,
) -> Vec<(usize, Mode)> {
    let mut cuts: BTreeSet<usize> = (1..len).step_by(97).collect();
    cuts.extend(extra);
    cuts.into_iter()
        .filter(|&c| c >= 1 && c < end)
        .enumerate()
        .map(|(i, cut)| {
            let mode = if cut < typed_below {
                Mode::StdinTyped
            } else {
                [Mode::StdinTyped, Mode::Stdin, Mode::File][i % 3]
            };
            (cut, mode)
        })
        .collect()
}

/// Checks that every file left is one of `want`, whole, and only there once `complete_at` says
/// its part could be known complete.
fn only_whole_files(
    cut: usize,
    left: &Files,
    want: &Files,
    complete_at: &BTreeMap<String, usize>,
) -> Result<(), String> {
    for (name, bytes) in left {
        let Some(expected) = want.get(name) else {
            return Err(format!("unexpected file {name} in DIR"));
        };
        if bytes != expected {
            return Err(format!(
                "{name} is not whole: {} bytes, want {}",
                bytes.len(),
                expected.len()
            ));
        }
        if cut < complete_at[name] {
            return Err(format!(
                "{name} appeared before its end was read (it is complete at byte {})",
                complete_at[name]
            ));
        }
    }
    Ok(())
}

#[test]
fn truncated_multipart_leaves_only_whole_files() {
    let body = read(corpus().join("verification-result.multipart"));
    let content_type = multipart_content_type();
    let boundary = Boundary::from_content_type(&content_type).unwrap();
    let dash_boundary = [b"--", boundary.as_bytes()].concat();
    let delimiters = find_all(&body, &dash_boundary);
    assert_eq!(delimiters.len(), FILES.len() + 2, "12 parts and the close");
    let first_line_end = dash_boundary.len() + 2;
    let len = body.len();
    assert!(body.ends_with(&[&dash_boundary[..], b"--\r\n"].concat()));

    // Each part's file name, where its payload starts, and the offset from which its closing
    // delimiter has been read in full.
    let mut complete_at = BTreeMap::new();
    let mut extra = Vec::new();
    for pair in delimiters.windows(2) {
        let (open, close) = (pair[0], pair[1]);
        let headers_end = find_from(&body, open, b"\r\n\r\n").unwrap();
        let headers = String::from_utf8_lossy(&body[open..headers_end]);
        let filename = headers
            .split("filename=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned();
        complete_at.insert(filename, close + dash_boundary.len());
        let payload = headers_end + 4;
        extra.extend([payload - 1, payload, payload + 1]);
    }
    for &d in &delimiters {
        let after = d + dash_boundary.len();
        extra.extend((d.saturating_sub(3)..=d + 1).chain(after - 1..=after + 2));
        extra.push(d + dash_boundary.len() / 2);
    }
    // Inside the close delimiter, all of it: `\r\n--boundary` and the first `-` of `--`.
    let close = *delimiters.last().unwrap();
    extra.extend(close - 2..len - 2);
    // `--boundary--` read in full is a complete body (the final CRLF is optional).
    let cuts = plan_cuts(len, len - 2, extra, first_line_end);
    let want = corpus_split();
    assert_eq!(
        complete_at.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    split_truncated(&body, &content_type, &cuts, &|cut, left| {
        only_whole_files(cut, left, &want, &complete_at)
    });
}

#[test]
fn truncated_json_export_leaves_only_whole_files() {
    let body = read(corpus().join("verification-result.json"));
    let len = body.len();
    assert!(body.ends_with(b"}\n"));
    let mut complete_at = BTreeMap::new();
    let mut extra = Vec::new();
    let want = corpus_split();
    for start in find_all(&body, b"\"content\": \"") {
        let content = start + b"\"content\": \"".len();
        let quote = find_from(&body, content, b"\"").unwrap();
        let brace = find_from(&body, quote, b"}").unwrap();
        let bytes = STANDARD.decode(&body[content..quote]).unwrap();
        let name = FILES
            .iter()
            .find(|name| want[**name] == bytes)
            .expect("each embedded file is one of the sample");
        // A file object is complete once its closing brace is read.
        complete_at.insert((*name).to_owned(), brace + 1);
        extra.extend([
            content - 1,
            content,
            content + 1,
            content + 2,
            quote - 1,
            quote,
        ]);
        extra.extend([quote + 1, brace - 1, brace, brace + 1]);
    }
    assert_eq!(complete_at.len(), FILES.len());
    // The result is only known at the end of the document.
    complete_at.insert("result.json".to_owned(), len);
    extra.extend([len - 3, len - 2]);
    let cuts = plan_cuts(len, len - 1, extra, 0);
    split_truncated(&body, "application/json", &cuts, &|cut, left| {
        only_whole_files(cut, left, &want, &complete_at)
    });
}

#[test]
fn truncated_pdf_export_leaves_nothing() {
    let body = read(corpus().join("verification-result.pdf"));
    let trailer = *find_all(&body, b"%%EOF").last().unwrap();
    let end = trailer + b"%%EOF".len();
    let extra = (1..=7).chain(trailer - 3..end);
    // Cut inside `%PDF-`, only the content type tells the format (see
    // `truncated_inside_the_format_signature_is_unexpected_end`).
    let cuts = plan_cuts(end, end, extra, 5);
    split_truncated(&body, "application/pdf", &cuts, &|_, left| {
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("files left: {:?}", left.keys().collect::<Vec<_>>()))
        }
    });
}

#[test]
fn truncated_inside_the_format_signature_is_unexpected_end() {
    let multipart = read(corpus().join("verification-result.multipart"));
    let pdf = read(corpus().join("verification-result.pdf"));
    let boundary_line = multipart_content_type()
        .split("boundary=")
        .nth(1)
        .unwrap()
        .len();
    // `--` and at least one boundary character, up to the end of the first line; `%P` to `%PDF`.
    let cuts = (3..boundary_line)
        .map(|cut| &multipart[..cut])
        .chain((2..5).map(|cut| &pdf[..cut]));
    let mut failures = Vec::new();
    for head in cuts {
        let run = cli(args!["inspect", "-"], Input::Bytes(head));
        let line = run.error_line();
        if !line.contains("unexpected end") || byte_offset(line) != Some(head.len() as u64) {
            failures.push(format!("{:?}: {line}", String::from_utf8_lossy(head)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 5. Path tricks, duplicates, existing files
// ---------------------------------------------------------------------------------------------

/// A multipart export: a `result` part with `result`, then one part per `(headers, payload)`.
fn multipart_body(
    boundary: &Boundary,
    result: Option<&[u8]>,
    parts: &[PartSpec],
    result_last: bool,
) -> Vec<u8> {
    let mut w = MultipartWriter::new(Vec::new(), boundary.clone());
    let write_result = |w: &mut MultipartWriter<Vec<u8>>| {
        if let Some(result) = result {
            let disposition = form_data_disposition("result", Some("result.json"));
            w.write_part(
                &[
                    ("Content-Disposition", disposition.as_str()),
                    ("Content-Type", "application/json"),
                ],
                result,
            )
            .unwrap();
        }
    };
    if !result_last {
        write_result(&mut w);
    }
    for (headers, payload) in parts {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        w.write_part(&headers, payload).unwrap();
    }
    if result_last {
        write_result(&mut w);
    }
    w.finish().unwrap()
}

/// The headers of a file part.
fn file_headers(disposition: String) -> Vec<(String, String)> {
    vec![
        ("Content-Disposition".to_owned(), disposition),
        ("Content-Type".to_owned(), "image/jpeg".to_owned()),
    ]
}

/// Splits `body` into `out`, checks that each part of the summary names a distinct file of
/// `out` holding `payloads[i]` (the parts in order), and returns the summary's `file`s.
fn split_and_match(
    body: &[u8],
    boundary: &Boundary,
    out: &Path,
    payloads: &[&[u8]],
) -> Vec<String> {
    let path = out.with_extension("multipart");
    fs::write(&path, body).unwrap();
    let content_type = boundary.content_type("mixed");
    let summary = cli(
        args![
            "split",
            &path,
            "--out",
            out,
            "--content-type",
            &content_type
        ],
        Input::None,
    )
    .summary();
    let parts = summary["parts"].as_array().unwrap();
    assert_eq!(parts.len(), payloads.len(), "{summary}");
    let mut files = Vec::new();
    for (part, payload) in parts.iter().zip(payloads) {
        let file = part["file"].as_str().unwrap().to_owned();
        assert!(safe_name(&file), "unsafe name {file:?}");
        let written = out.join(&file);
        assert!(
            fs::symlink_metadata(&written).unwrap().is_file(),
            "{file} is not a regular file"
        );
        assert!(
            read(&written) == *payload,
            "{file} does not hold its part: {part}"
        );
        assert!(!files.contains(&file), "two parts written to {file}");
        files.push(file);
    }
    files
}

/// A name that is one plain path component.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control)
}

#[test]
fn split_never_writes_outside_dir() {
    let tmp = tempdir();
    // DIR is three levels below the temporary root, so `../../x` would land where the walk
    // below sees it.
    let out = tmp.path().join("a/b/out");
    fs::create_dir_all(&out).unwrap();
    let boundary = Boundary::new("path-tricks-boundary").unwrap();
    let etc_evil_before = Path::new("/etc/evil").exists();
    let dispositions: Vec<String> = vec![
        form_data_disposition("faceImage", Some("../../evil.jpeg")),
        form_data_disposition("faceImage2", Some("/etc/evil")),
        form_data_disposition("faceImage3", Some("..\\..\\evil.jpeg")),
        "form-data; name=\"croppedFrontImage\"; filename*=UTF-8''a%00b".to_owned(),
        "form-data; name=\"croppedBackImage\"; filename*=UTF-8''..%2F..%2Fencoded.jpeg".to_owned(),
        form_data_disposition("croppedFrontImage2", Some("")),
        form_data_disposition("croppedBackImage2", Some(".")),
        form_data_disposition("croppedFrontImage3", Some("..")),
        form_data_disposition("croppedBackImage3", Some("sub/dir/")),
        form_data_disposition("livenessFaceImage", Some("../../../../../../../../tmp")),
        // No usable file name, and a part name that is a path too.
        form_data_disposition("../../evil-name", None),
        form_data_disposition("..", Some("..")),
        form_data_disposition("", Some("/")),
        form_data_disposition("x", Some("C:\\Windows\\evil.jpeg")),
        form_data_disposition("y", Some("évidence/../../évil.pdf")),
    ];
    let parts: Vec<PartSpec> = dispositions
        .into_iter()
        .enumerate()
        .map(|(i, d)| (file_headers(d), format!("payload of part {i}").into_bytes()))
        .collect();
    let result = br#"{"id":"path-tricks"}"#;
    let body = multipart_body(&boundary, Some(result), &parts, false);
    let mut payloads: Vec<&[u8]> = vec![result];
    payloads.extend(parts.iter().map(|(_, p)| p.as_slice()));

    let files = split_and_match(&body, &boundary, &out, &payloads);
    assert_eq!(files[0], "result.json");
    // Nothing anywhere under the root but DIR's files (and the input, next to DIR).
    let input = out.with_extension("multipart");
    for path in walk(tmp.path()) {
        assert!(
            path.starts_with(&out) || path == input,
            "{} was written outside DIR",
            path.display()
        );
    }
    assert_eq!(names(&out).len(), payloads.len(), "{:?}", names(&out));
    assert!(etc_evil_before || !Path::new("/etc/evil").exists());
}

#[test]
fn duplicate_names_all_land_under_distinct_names() {
    let tmp = tempdir();
    let boundary = Boundary::new("duplicates-boundary").unwrap();
    let parts: Vec<PartSpec> = [
        ("faceImage", "faceImage.jpeg"),
        ("faceImage", "faceImage.jpeg"),
        ("faceImage", "faceImage.jpeg"),
        // The name the second copy would get if renamed `stem-2.ext`.
        ("extra", "faceImage-2.jpeg"),
        ("other", "result.json"),
        ("noext", "README"),
        ("noext2", "README"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, filename))| {
        (
            file_headers(form_data_disposition(name, Some(filename))),
            format!("payload {i} of {filename}").into_bytes(),
        )
    })
    .collect();
    let result = br#"{"id":"duplicates"}"#;
    let mut payloads: Vec<&[u8]> = vec![result];
    payloads.extend(parts.iter().map(|(_, p)| p.as_slice()));

    // The result part first: it is result.json, the file part called result.json lands elsewhere.
    let out = tmp.path().join("first");
    let body = multipart_body(&boundary, Some(result), &parts, false);
    let files = split_and_match(&body, &boundary, &out, &payloads);
    assert_eq!(files[0], "result.json");
    assert_eq!(files[1], "faceImage.jpeg");
    assert_eq!(names(&out).len(), payloads.len());

    // The result part last: every part still lands, nothing is overwritten.
    let out = tmp.path().join("last");
    let body = multipart_body(&boundary, Some(result), &parts, true);
    let mut payloads_last = payloads[1..].to_vec();
    payloads_last.push(result);
    split_and_match(&body, &boundary, &out, &payloads_last);
    assert_eq!(names(&out).len(), payloads.len());

    // Into a directory that already holds the same split: every part is found where the first
    // run put it (same bytes under the same name), nothing is written or overwritten.
    let out = tmp.path().join("first");
    let before = dir_files(&out);
    let body = multipart_body(&boundary, Some(result), &parts, false);
    let again = split_and_match(&body, &boundary, &out, &payloads);
    assert_eq!(again, files, "the same names as the first run");
    assert_same_files(&dir_files(&out), &before, "after the second split");

    // Other bytes under the same part names: all new names, nothing overwritten.
    let changed: Vec<PartSpec> = parts
        .iter()
        .map(|(headers, payload)| (headers.clone(), [&payload[..], b" changed"].concat()))
        .collect();
    let changed_result = br#"{"id":"duplicates-changed"}"#;
    let mut changed_payloads: Vec<&[u8]> = vec![changed_result];
    changed_payloads.extend(changed.iter().map(|(_, p)| p.as_slice()));
    let body = multipart_body(&boundary, Some(changed_result), &changed, false);
    let renamed = split_and_match(&body, &boundary, &out, &changed_payloads);
    for file in &renamed {
        assert!(!before.contains_key(file), "{file} reused");
    }
    let after = dir_files(&out);
    for (name, bytes) in &before {
        assert!(after[name] == *bytes, "{name} was overwritten");
    }
}

/// Whether files can be made with no name in `dir` (`O_TMPFILE`).
#[cfg(target_os = "linux")]
fn has_o_tmpfile(dir: &Path) -> bool {
    use rustix::fs::{Mode, OFlags, CWD};
    let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
    rustix::fs::openat(CWD, dir, flags, Mode::from_raw_mode(0o600)).is_ok()
}

/// `kill -9` while `split` waits for the rest of a file: only whole files are left and, where
/// the file system has `O_TMPFILE`, nothing else at all (without it, a hidden `.partial-*`
/// file may stay, never a partial file under a real name).
#[cfg(target_os = "linux")]
#[test]
fn split_killed_mid_file_leaves_only_whole_files() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let body = read(corpus().join("verification-result.multipart"));
    let sample = corpus_split();
    let content_type = multipart_content_type();
    // Half-way is inside one of the files.
    for cut in [body.len() / 3, body.len() / 2, body.len() * 4 / 5] {
        let mut child = Command::new(BIN)
            .args(args![
                "split",
                "-",
                "--out",
                &out,
                "--content-type",
                &content_type
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&body[..cut]).unwrap();
        stdin.flush().unwrap();
        // Wait for the files before the cut: the child is then blocked inside the next one.
        let started = Instant::now();
        while names(&out).iter().filter(|n| !n.starts_with('.')).count() < 2 {
            assert!(started.elapsed().as_secs() < 30, "split wrote nothing");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(stdin);
        let no_name = has_o_tmpfile(&out);
        for name in names(&out) {
            if name.starts_with(".partial-") && !no_name {
                continue;
            }
            let bytes = read(out.join(&name));
            assert!(
                sample.get(&name) == Some(&bytes),
                "cut at {cut}: {name} is left and is not a whole file of the export"
            );
        }
        fs::remove_dir_all(&out).unwrap();
    }
}

/// `split` twice into one directory: the second run reports every file as already there and
/// writes nothing (the files keep their inodes and modification times).
#[test]
fn split_twice_writes_nothing_new() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempdir();
    let out = tmp.path().join("out");
    let export = corpus().join("verification-result.multipart");
    let stamps = || -> BTreeMap<String, (u64, i64, i64)> {
        names(&out)
            .into_iter()
            .map(|name| {
                let meta = fs::symlink_metadata(out.join(&name)).unwrap();
                (name, (meta.ino(), meta.mtime(), meta.mtime_nsec()))
            })
            .collect()
    };
    let first = cli(args!["split", &export, "--out", &out], Input::None).summary();
    let before = stamps();
    assert_eq!(before.len(), FILES.len() + 1);
    for part in first["parts"].as_array().unwrap() {
        assert!(part.get("outcome").is_none(), "first run: {part}");
    }
    let second = cli(args!["split", &export, "--out", &out], Input::None).summary();
    let parts = second["parts"].as_array().unwrap();
    assert_eq!(parts.len(), FILES.len() + 1);
    for (part, was) in parts.iter().zip(first["parts"].as_array().unwrap()) {
        assert_eq!(part["outcome"], "alreadyThere", "{part}");
        assert_eq!(part["file"], was["file"], "{part}");
        assert_eq!(part["sha256"], was["sha256"], "{part}");
    }
    assert_eq!(stamps(), before, "the second run wrote files");
    assert_same_files(&dir_files(&out), &corpus_split(), "after two runs");
}

#[test]
fn existing_files_and_links_in_dir_are_left_alone() {
    let tmp = tempdir();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("faceImage.jpeg"), b"precious face").unwrap();
    fs::write(out.join("result.json"), b"precious result").unwrap();
    // A link to an existing file outside DIR, and a dangling one.
    let outside = tmp.path().join("outside.jpeg");
    fs::write(&outside, b"outside").unwrap();
    std::os::unix::fs::symlink(&outside, out.join("croppedFrontImage.jpeg")).unwrap();
    let dangling = tmp.path().join("dangling-target.jpeg");
    std::os::unix::fs::symlink(&dangling, out.join("livenessFaceImage.jpeg")).unwrap();

    let export = corpus().join("verification-result.multipart");
    let summary = cli(args!["split", &export, "--out", &out], Input::None).summary();

    assert_eq!(read(out.join("faceImage.jpeg")), b"precious face");
    assert_eq!(read(out.join("result.json")), b"precious result");
    assert_eq!(read(&outside), b"outside");
    assert!(!dangling.exists(), "written through a dangling link");
    for link in ["croppedFrontImage.jpeg", "livenessFaceImage.jpeg"] {
        assert!(fs::symlink_metadata(out.join(link)).unwrap().is_symlink());
    }
    // Every part landed under a fresh name with its bytes.
    let sample = corpus_split();
    let parts = summary["parts"].as_array().unwrap();
    assert_eq!(parts.len(), sample.len());
    let taken = [
        "faceImage.jpeg",
        "result.json",
        "croppedFrontImage.jpeg",
        "livenessFaceImage.jpeg",
    ];
    for part in parts {
        let filename = part["filename"].as_str().unwrap();
        let file = part["file"].as_str().unwrap();
        assert!(safe_name(file));
        if taken.contains(&filename) {
            assert_ne!(file, filename);
        }
        assert!(
            read(out.join(file)) == sample[filename],
            "{file} vs {filename}"
        );
    }
    assert_eq!(names(&out).len(), sample.len() + taken.len());
}

// ---------------------------------------------------------------------------------------------
// 6. JSON export edge cases
// ---------------------------------------------------------------------------------------------

/// Splits a JSON export written to a file; returns the outcome and DIR.
fn split_json(tmp: &Path, label: &str, body: &[u8]) -> (Outcome, PathBuf) {
    let input = tmp.join(format!("{label}.json"));
    fs::write(&input, body).unwrap();
    let out = tmp.join(label);
    // The whole result in the summary, to compare with the document's.
    let run = cli(
        args!["split", &input, "--out", &out, "--show-personal-data"],
        Input::None,
    );
    (run, out)
}

/// Rewrites every `"content": "..."` string of a JSON export with `f`.
fn map_contents(body: &str, f: impl Fn(&str) -> String) -> String {
    let marker = "\"content\": \"";
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find(marker) {
        let start = i + marker.len();
        let end = start + rest[start..].find('"').unwrap();
        out.push_str(&rest[..start]);
        out.push_str(&f(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[test]
fn json_export_escapes_and_layouts_split_to_the_sample() {
    let tmp = tempdir();
    let body = String::from_utf8(read(corpus().join("verification-result.json"))).unwrap();
    assert!(body.contains('/'), "the sample's base64 holds slashes");
    let lines = |content: &str, sep: &str| {
        let chunks: Vec<&str> = content
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        chunks.join(sep)
    };
    let minified = serde_json::to_string(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    let variants = [
        // JSON writers that escape slashes (PHP, Java's org.json...).
        ("escaped-slashes", body.replace('/', "\\/")),
        ("unicode-slashes", body.replace('/', "\\u002F")),
        // MIME-style line breaks inside the base64, as JSON escapes.
        ("lf-lines", map_contents(&body, |c| lines(c, "\\n"))),
        ("crlf-lines", map_contents(&body, |c| lines(c, "\\r\\n"))),
        ("minified", minified),
    ];
    let want = corpus_split();
    for (label, variant) in variants {
        assert_ne!(variant, body, "{label} changes the document");
        let (run, out) = split_json(tmp.path(), label, variant.as_bytes());
        let summary = run.summary();
        assert_eq!(summary["result"], corpus_result(), "{label}");
        assert_same_files(&dir_files(&out), &want, label);
    }
}

/// JSON exports with a bad base64 byte: (label, body, the field that holds it).
fn bad_base64_cases() -> Vec<(&'static str, String, &'static str)> {
    let long_ok = "A".repeat(70_000); // the bad byte comes after the first 64 KiB read
    vec![
        (
            "short",
            r#"{"id":"bad","livenessFaceImage":{"contentType":"image/jpeg","content":"@@@@"}}"#
                .to_owned(),
            "livenessFaceImage",
        ),
        (
            "after-64-KiB",
            format!(
                r#"{{"id":"bad","livenessFaceImage":{{"contentType":"image/jpeg","content":"/9j/4AAQ{long_ok}@AAA"}}}}"#
            ),
            "livenessFaceImage",
        ),
        (
            "nested",
            r#"{"id":"bad","documentData2":{"documentType":"DL","faceImage":{"contentType":"image/jpeg","content":"/9j/4A@A"}}}"#
                .to_owned(),
            "faceImage2",
        ),
        (
            "bare",
            r#"{"id":"bad","addressProofDocument":"JVBERi0x*jQK"}"#.to_owned(),
            "addressProofDocument",
        ),
    ]
}

/// The error line of `split` and `inspect` (the same) on a JSON export; checks no file is left.
fn bad_json_error(tmp: &Path, label: &str, body: &str) -> String {
    let (run, out) = split_json(tmp, label, body.as_bytes());
    let line = run.error_line().to_owned();
    assert_eq!(names(&out), Vec::<String>::new(), "{label}: files left");
    let inspected = cli(args!["inspect", "-"], Input::Bytes(body.as_bytes()));
    assert_eq!(
        inspected.error_line(),
        line,
        "{label}: inspect says the same"
    );
    line
}

#[test]
fn json_export_bad_base64_is_an_error_at_its_byte() {
    let tmp = tempdir();
    for (label, body, _) in bad_base64_cases() {
        let line = bad_json_error(tmp.path(), label, &body);
        assert!(line.contains("invalid base64"), "{label}: {line}");
        let bad_at = body.find(['@', '*']).unwrap();
        assert_eq!(byte_offset(&line), Some(bad_at as u64), "{label}: {line}");
    }
}

#[test]
fn json_export_bad_base64_names_the_field() {
    let tmp = tempdir();
    let mut failures = Vec::new();
    for (label, body, field) in bad_base64_cases() {
        let line = bad_json_error(tmp.path(), label, &body);
        if !line.contains(&format!("{field:?}")) {
            failures.push(format!("{label}: {line:?} does not name {field}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_export_content_type_after_content() {
    let tmp = tempdir();
    // A small file (one read) and one of several reads that starts like a JPEG.
    let small = read(corpus().join("files/livenessFaceImage.jpeg"));
    let mut large = small.clone();
    large.extend((0..150_000u32).map(|i| (i * 7 % 251) as u8));
    for (label, jpeg) in [("small", small), ("large", large)] {
        let body = format!(
            r#"{{"id":"late","livenessFaceImage":{{"content":"{}","contentType":"image/jpeg"}}}}"#,
            b64(&jpeg)
        );
        let (run, out) = split_json(tmp.path(), label, body.as_bytes());
        let summary = run.summary();
        assert_eq!(summary["parts"][0]["contentType"], "image/jpeg", "{label}");
        assert_eq!(summary["result"], json!({"id": "late"}), "{label}");
        let files = dir_files(&out);
        assert!(files["livenessFaceImage.jpeg"] == jpeg, "{label}");
        assert_eq!(files.len(), 2, "{label}: {:?}", files.keys());
    }
}

/// A `contentType` written after `content` comes too late to announce the file with (its bytes
/// are already streaming out): as documented, the type is then sniffed from the first bytes, and
/// bytes that are no known type get none. The API writes `contentType` first.
#[test]
fn json_export_content_type_after_unsniffable_content() {
    let tmp = tempdir();
    let unknown: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let body = format!(
        r#"{{"id":"late","livenessFaceImage":{{"content":"{}","contentType":"image/webp"}}}}"#,
        b64(&unknown)
    );
    let (run, out) = split_json(tmp.path(), "late-webp", body.as_bytes());
    let summary = run.summary();
    assert!(
        summary["parts"][0].get("contentType").is_none(),
        "{summary}"
    );
    let files = dir_files(&out);
    assert!(
        files.get("livenessFaceImage") == Some(&unknown),
        "{:?}",
        files.keys()
    );
}

#[test]
fn json_export_bare_base64_strings() {
    let tmp = tempdir();
    let sample = corpus_split();
    let liveness = &sample["livenessFaceImage.jpeg"];
    let face = &sample["faceImage2.jpeg"];
    let pdf = &sample["addressProofDocument.pdf"];
    let body = json!({
        "id": "bare",
        "livenessFaceImage": b64(liveness),
        "documentData2": {"documentType": "DL", "faceImage": b64(face)},
        "addressProofDocument": b64(pdf),
    });
    let (run, out) = split_json(tmp.path(), "bare", body.to_string().as_bytes());
    let summary = run.summary();
    assert_eq!(
        summary["result"],
        json!({"id": "bare", "documentData2": {"documentType": "DL"}})
    );
    let types: Vec<(&str, &str)> = summary["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["contentType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("livenessFaceImage", "image/jpeg"),
            ("faceImage2", "image/jpeg"),
            ("addressProofDocument", "application/pdf"),
            ("result", "application/json"),
        ]
    );
    let files = dir_files(&out);
    assert!(files["livenessFaceImage.jpeg"] == *liveness);
    assert!(files["faceImage2.jpeg"] == *face);
    assert!(files["addressProofDocument.pdf"] == *pdf);
    assert_eq!(files.len(), 4, "{:?}", files.keys());
}

#[test]
fn unknown_fields_survive_in_inspect_result() {
    let tmp = tempdir();
    let jpeg = read(corpus().join("files/faceImage.jpeg"));
    let image = json!({"contentType": "image/jpeg", "content": b64(&jpeg)});
    let body = json!({
        "id": "unknown-fields",
        "platform": "IOS_NATIVE",
        "futureTopLevel": {"nested": [1, "two", null, {"deep": true}]},
        "livenessFaceImage": image,
        "documentData": {
            "documentType": "RP",
            "sex": "M",
            "futureDocumentField": "kept",
            "faceImage": image,
            "licenseClassDetails": {"C1": {"from": "2001-01-01", "notes": "79.06", "x": 1}},
        },
        "riskScore": 0.25,
    });
    let want = json!({
        "id": "unknown-fields",
        "platform": "IOS_NATIVE",
        "futureTopLevel": {"nested": [1, "two", null, {"deep": true}]},
        "documentData": {
            "documentType": "RP",
            "sex": "M",
            "futureDocumentField": "kept",
            "licenseClassDetails": {"C1": {"from": "2001-01-01", "notes": "79.06", "x": 1}},
        },
        "riskScore": 0.25,
    });
    let text = body.to_string();
    let inspected = cli(args!["inspect", "-"], Input::Bytes(text.as_bytes())).summary();
    assert_eq!(inspected["result"], want);
    let (run, out) = split_json(tmp.path(), "unknown", text.as_bytes());
    assert_eq!(run.summary()["result"], want);
    let written: Value = serde_json::from_slice(&read(out.join("result.json"))).unwrap();
    assert_eq!(written, want, "result.json keeps them too");
    assert!(read(out.join("livenessFaceImage.jpeg")) == jpeg);
    assert!(read(out.join("faceImage.jpeg")) == jpeg);

    // The same through a multipart export's result part.
    let boundary = Boundary::new("unknown-fields").unwrap();
    let result = serde_json::to_vec_pretty(&want).unwrap();
    let multipart = multipart_body(&boundary, Some(&result), &[], false);
    let content_type = boundary.content_type("mixed");
    let inspected = cli(
        args!["inspect", "-", "--content-type", &content_type],
        Input::Bytes(&multipart),
    )
    .summary();
    assert_eq!(inspected["result"], want);
}

// ---------------------------------------------------------------------------------------------
// 7. The memory bound
// ---------------------------------------------------------------------------------------------

/// Size of the image in the big JSON export.
const BIG_IMAGE: usize = 96 << 20;
/// The peak RSS the whole process must stay under.
const RSS_LIMIT_KIB: u64 = 64 << 10;

/// Writes `{"id":"big","livenessFaceImage":{"contentType":"image/jpeg","content":"<base64>"}}`
/// with `BIG_IMAGE` pseudo-random bytes, streamed; returns the image's SHA-256.
fn write_big_json_export(path: &Path) -> String {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    out.write_all(br#"{"id":"big","livenessFaceImage":{"contentType":"image/jpeg","content":""#)
        .unwrap();
    let mut hasher = Sha256::new();
    let mut encoder = base64::write::EncoderWriter::new(out, &STANDARD);
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut piece = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < BIG_IMAGE {
        for word in piece.chunks_exact_mut(8) {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        if written == 0 {
            piece[..4].copy_from_slice(b"\xff\xd8\xff\xe0"); // looks like a JPEG
        }
        let n = piece.len().min(BIG_IMAGE - written);
        hasher.update(&piece[..n]);
        encoder.write_all(&piece[..n]).unwrap();
        written += n;
    }
    let mut out = encoder.finish().unwrap();
    out.write_all(b"\"}}").unwrap();
    out.into_inner().unwrap().sync_all().unwrap();
    hex(&hasher.finalize())
}

fn file_sha256(path: &Path) -> (u64, String) {
    let mut file = File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    (size, hex(&hasher.finalize()))
}

/// `(bytes read, peak RSS in KiB)` from the `--stats` line.
fn parse_stats(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("stats: "))
        .unwrap_or_else(|| panic!("no stats line in {stderr:?}"));
    let bytes = line["stats: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bytes read in {line:?}"));
    let rss = line
        .rsplit_once("peak RSS ")
        .and_then(|(_, r)| r.strip_suffix(" KiB"))
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("peak RSS in {line:?}"));
    (bytes, rss)
}

#[test]
fn big_json_export_splits_in_bounded_memory() {
    let tmp = tempdir();
    let export = tmp.path().join("big.json");
    let started = Instant::now();
    let sha = write_big_json_export(&export);
    let export_len = fs::metadata(&export).unwrap().len();
    eprintln!("generated {export_len} bytes in {:.1?}", started.elapsed());

    let check = |run: &Outcome, out: &Path, what: &str| {
        let summary = run.summary();
        let (bytes_read, rss_kib) = parse_stats(&run.stderr);
        eprintln!("{what}: {}", run.stderr.trim());
        assert_eq!(bytes_read, export_len, "{what}: bytes read");
        assert!(
            rss_kib < RSS_LIMIT_KIB,
            "{what}: peak RSS {rss_kib} KiB, limit {RSS_LIMIT_KIB} KiB"
        );
        let parts = summary["parts"].as_array().unwrap();
        assert_eq!(parts[0]["name"], "livenessFaceImage");
        assert_eq!(parts[0]["size"], json!(BIG_IMAGE));
        assert_eq!(parts[0]["sha256"], json!(sha), "{what}: the CLI's sha256");
        assert_eq!(summary["result"], json!({"id": "big"}));
        let mut listed = names(out);
        listed.sort();
        assert_eq!(listed, ["livenessFaceImage.jpeg", "result.json"], "{what}");
        out.join("livenessFaceImage.jpeg")
    };

    let by_path = tmp.path().join("out-path");
    let run = cli(
        args!["split", &export, "--out", &by_path, "--stats"],
        Input::None,
    );
    let image = check(&run, &by_path, "split FILE");
    // Hash the first output while the second run goes.
    let by_stdin = tmp.path().join("out-stdin");
    let (first, run) = std::thread::scope(|s| {
        let hashing = s.spawn(|| file_sha256(&image));
        let run = cli(
            args!["split", "-", "--out", &by_stdin, "--stats"],
            Input::File(&export),
        );
        (hashing.join().unwrap(), run)
    });
    assert_eq!(
        first,
        (BIG_IMAGE as u64, sha.clone()),
        "split FILE: written image"
    );
    fs::remove_dir_all(&by_path).unwrap();
    let image = check(&run, &by_stdin, "split -");
    assert_eq!(
        file_sha256(&image),
        (BIG_IMAGE as u64, sha),
        "split -: written image"
    );
    eprintln!("whole test: {:.1?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------------
// 8. Exit codes
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_inputs_exit_1_with_one_error_line() {
    let tmp = tempdir();
    let missing = tmp.path().join("does-not-exist.multipart");
    let out = tmp.path().join("out");
    for run in [
        cli(args!["inspect", &missing], Input::None),
        cli(args!["split", &missing, "--out", &out], Input::None),
    ] {
        let line = run.error_line();
        assert!(line.contains("does-not-exist.multipart"), "{line}");
    }

    // Pseudo-random bytes that start like none of the formats.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    random[0] = 0x8f;
    let random_file = tmp.path().join("random.bin");
    fs::write(&random_file, &random).unwrap();
    for run in [
        cli(args!["inspect", &random_file], Input::None),
        cli(args!["inspect", "-"], Input::Bytes(&random)),
        cli(args!["split", &random_file, "--out", &out], Input::None),
        cli(args!["inspect", "-"], Input::Bytes(b"hello, world\n")),
        cli(args!["inspect", "-"], Input::Bytes(b"")),
        cli(args!["inspect", "-"], Input::Bytes(b"\r\n  \n")),
    ] {
        let line = run.error_line();
        assert!(line.starts_with("error: unknown export format"), "{line}");
    }
    assert_eq!(names(&out), Vec::<String>::new());

    // DIR is a file; a multipart type without a boundary; JSON that is not an export.
    let export = corpus().join("verification-result.multipart");
    let not_a_dir = tmp.path().join("file");
    fs::write(&not_a_dir, b"x").unwrap();
    for run in [
        cli(args!["split", &export, "--out", &not_a_dir], Input::None),
        cli(
            args!["inspect", &export, "--content-type", "multipart/mixed"],
            Input::None,
        ),
        cli(args!["inspect", "-"], Input::Bytes(b"[1, 2, 3]")),
        cli(args!["inspect", "-"], Input::Bytes(br#"{"noId": true}"#)),
        cli(
            args!["inspect", "-"],
            Input::Bytes(br#"{"id": "x"} trailing"#),
        ),
    ] {
        run.error_line();
    }
    assert_eq!(read(&not_a_dir), b"x");
}

/// `result.json` is the result's: a file part asking for that name (even before the result
/// part) gets another one.
#[test]
fn result_json_is_reserved_for_the_result() {
    use authenteq_export::multipart::{form_data_disposition, Boundary, MultipartWriter};
    let tmp = tempdir();
    let boundary = Boundary::new("reserved-name").unwrap();
    let mut w = MultipartWriter::new(Vec::new(), boundary.clone());
    w.write_part(
        &[(
            "Content-Disposition",
            &form_data_disposition("selfieVideo", Some("result.json")),
        )],
        br#"{"id":"FAKE"}"#,
    )
    .unwrap();
    w.write_part(
        &[(
            "Content-Disposition",
            &form_data_disposition("result", Some("result.json")),
        )],
        br#"{"id":"REAL"}"#,
    )
    .unwrap();
    let body = w.finish().unwrap();
    let input = tmp.path().join("body");
    std::fs::write(&input, &body).unwrap();
    let out = tmp.path().join("out");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_authenteq-export"))
        .arg("split")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--content-type")
        .arg(boundary.content_type("mixed"))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        std::fs::read(out.join("result.json")).unwrap(),
        br#"{"id":"REAL"}"#
    );
    assert_eq!(
        std::fs::read(out.join("part-1-result.json")).unwrap(),
        br#"{"id":"FAKE"}"#
    );
}
