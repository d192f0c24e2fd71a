//! `authenteq-export`: split or inspect an Authenteq verification-result export.
//!
//! ```text
//! authenteq-export split INPUT --out DIR [--content-type VALUE]
//! authenteq-export inspect INPUT [--content-type VALUE] [--sha256]
//! ```
//!
//! `INPUT` is a file or `-` for standard input, holding a body as one of the three export
//! endpoints returns it (multipart, JSON or PDF; the format is detected).

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use authenteq_export::export::{blocking, extension_for, ExportItem, FileInfo};
use clap::{Parser, Subcommand};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Parser)]
#[command(
    name = "authenteq-export",
    version,
    about = "Split or inspect Authenteq verification-result exports (multipart, JSON or PDF)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write the result JSON and every file of an export to a directory.
    ///
    /// A file appears only once it is complete; nothing is written outside DIR and nothing is
    /// overwritten. Prints the same summary as `inspect`, with the name each part got in DIR.
    Split {
        /// The export: a file, or `-` for standard input.
        input: PathBuf,
        /// The directory to write to (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The response's Content-Type (gives the format and the multipart boundary); without it
        /// they are detected from the body.
        #[arg(long)]
        content_type: Option<String>,
        /// Print bytes read, time taken and peak memory to standard error at the end.
        #[arg(long)]
        stats: bool,
    },
    /// Stream through an export without writing files; print its result and parts as JSON.
    Inspect {
        /// The export: a file, or `-` for standard input.
        input: PathBuf,
        /// The response's Content-Type; without it the format is detected from the body.
        #[arg(long)]
        content_type: Option<String>,
        /// Add each part's SHA-256.
        #[arg(long)]
        sha256: bool,
        /// Print bytes read, time taken and peak memory to standard error at the end.
        #[arg(long)]
        stats: bool,
    },
}

/// One part of the summary.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartSummary {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// Where `split` wrote the part, relative to its directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
}

#[derive(Serialize)]
struct Summary {
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<serde_json::Value>,
    parts: Vec<PartSummary>,
}

/// Files larger than this get a progress bar (when standard error is a terminal).
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = Instant::now();
    let (result, stats) = match cli.command {
        Command::Split {
            input,
            out,
            content_type,
            stats,
        } => (
            run(&input, content_type.as_deref(), Some(&out), true),
            stats,
        ),
        Command::Inspect {
            input,
            content_type,
            sha256,
            stats,
        } => (run(&input, content_type.as_deref(), None, sha256), stats),
    };
    let code = match result {
        Ok((summary, bytes_read)) => {
            let mut stdout = io::stdout().lock();
            let printed = serde_json::to_writer_pretty(&mut stdout, &summary)
                .map_err(io::Error::from)
                .and_then(|()| writeln!(stdout));
            if stats {
                print_stats(bytes_read, started);
            }
            match printed {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: writing the summary: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    };
    code
}

fn print_stats(bytes_read: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib().map_or_else(|| "unknown".to_owned(), |k| format!("{k} KiB"));
    eprintln!(
        "stats: {bytes_read} bytes read in {secs:.3} s ({:.1} MiB/s), peak RSS {peak}",
        bytes_read as f64 / (1 << 20) as f64 / secs.max(1e-9)
    );
}

/// The process's peak resident set size, from `/proc/self/status` (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Counts the bytes read and moves the progress bar.
struct Progress<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }
}

fn open_input(input: &Path) -> Result<(Box<dyn Read>, Option<u64>), String> {
    if input.as_os_str() == "-" {
        return Ok((Box::new(io::stdin().lock()), None));
    }
    let file = File::open(input).map_err(|e| format!("cannot open {}: {e}", input.display()))?;
    let len = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(file), len))
}

fn progress_bar(len: Option<u64>) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() {
        return None;
    }
    let bar = match len {
        Some(len) if len >= PROGRESS_MIN_BYTES => indicatif::ProgressBar::new(len),
        Some(_) => return None,
        None => indicatif::ProgressBar::new_spinner(),
    };
    let template = if len.is_some() {
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    Some(bar)
}

/// Streams through the export; with `out`, writes every part there.
fn run(
    input: &Path,
    content_type: Option<&str>,
    out: Option<&Path>,
    hash: bool,
) -> Result<(Summary, u64), String> {
    let (source, len) = open_input(input)?;
    let bar = progress_bar(len);
    let source = Progress {
        inner: source,
        bar: bar.clone(),
    };
    if let Some(dir) = out {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut export = blocking::Export::new(source, content_type).map_err(|e| e.to_string())?;
    let mut summary = Summary {
        format: "unknown",
        result: None,
        parts: Vec::new(),
    };
    let mut writer = out.map(OutputDir::new);
    while let Some(item) = export.next_item().map_err(|e| e.to_string())? {
        match item {
            ExportItem::Result { result, json } => {
                let value = serde_json::to_value(&*result).map_err(|e| e.to_string())?;
                summary.result = Some(value);
                let mut part = PartSummary {
                    name: "result".to_owned(),
                    filename: Some("result.json".to_owned()),
                    content_type: Some("application/json".to_owned()),
                    size: json.len() as u64,
                    sha256: hash.then(|| hex(&Sha256::digest(&json))),
                    file: None,
                };
                if let Some(w) = writer.as_mut() {
                    let mut tmp = w.temp()?;
                    tmp.write(&json)?;
                    part.file = Some(w.persist(tmp, RESULT_FILE)?);
                }
                summary.parts.push(part);
            }
            ExportItem::File(mut file) => {
                let info = file.info().clone();
                let mut hasher = hash.then(Sha256::new);
                let mut tmp = writer.as_mut().map(OutputDir::temp).transpose()?;
                let mut size = 0u64;
                while let Some(chunk) = file.chunk().map_err(|e| e.to_string())? {
                    size += chunk.len() as u64;
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk);
                    }
                    if let Some(t) = tmp.as_mut() {
                        t.write(&chunk)?;
                    }
                }
                let mut part = PartSummary {
                    name: info.name().into_owned(),
                    filename: info.filename().map(str::to_owned),
                    content_type: info.content_type().map(str::to_owned),
                    size,
                    sha256: hasher.map(|h| hex(&h.finalize())),
                    file: None,
                };
                if let (Some(w), Some(t)) = (writer.as_mut(), tmp) {
                    part.file = Some(w.persist(t, &target_name(&info, summary.parts.len() + 1))?);
                }
                summary.parts.push(part);
            }
        }
    }
    summary.format = export.format().map_or("unknown", |f| f.name());
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok((summary, export.bytes_read()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The name a file gets in the output directory: its own file name when it has a safe one, else
/// the name the multipart export uses (`faceImage2.jpeg`), else `part-N`. `result.json` is kept
/// for the result: a file part that asks for it gets `part-N-result.json`.
fn target_name(info: &FileInfo, number: usize) -> String {
    let name = info
        .filename()
        .and_then(safe_file_name)
        .or_else(|| {
            // An unnamed part has no canonical name either (`.jpeg`): number it.
            (!info.name().is_empty())
                .then(|| safe_file_name(&info.canonical_filename()))
                .flatten()
        })
        .unwrap_or_else(|| {
            let ext = info.content_type().and_then(extension_for);
            format!(
                "part-{number}{}",
                ext.map(|e| format!(".{e}")).unwrap_or_default()
            )
        });
    if name.eq_ignore_ascii_case(RESULT_FILE) {
        format!("part-{number}-{name}")
    } else {
        name
    }
}

/// Where `split` writes the result JSON.
const RESULT_FILE: &str = "result.json";

/// A file name that stays inside the directory: the last path component (after `/` or `\`),
/// control characters replaced, leading dots and spaces removed, at most 200 bytes. `None` when
/// nothing is left.
fn safe_file_name(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    let trimmed = cleaned
        .trim_start_matches(['.', ' '])
        .trim_end_matches([' ', '.']);
    if trimmed.is_empty() {
        return None;
    }
    let mut end = trimmed.len().min(200);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    Some(trimmed[..end].to_owned())
}

/// The output directory of `split`: files are written under a temporary name and renamed once
/// complete, never over an existing file.
struct OutputDir {
    dir: PathBuf,
    counter: u32,
}

/// A file being written; removed on drop unless persisted.
struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        let file = self.file.as_mut().ok_or("temporary file already closed")?;
        file.write_all(bytes)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl OutputDir {
    fn new(dir: &Path) -> Self {
        OutputDir {
            dir: dir.to_owned(),
            counter: 0,
        }
    }

    fn temp(&mut self) -> Result<TempFile, String> {
        loop {
            self.counter += 1;
            let path = self
                .dir
                .join(format!(".partial-{}-{}", std::process::id(), self.counter));
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            // The files hold personal data (document images): readable by their owner only.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(&path) {
                Ok(file) => {
                    return Ok(TempFile {
                        path,
                        file: Some(file),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(format!(
                        "cannot create a file in {}: {e}",
                        self.dir.display()
                    ))
                }
            }
        }
    }

    /// Gives the complete file its name: `name`, or `stem-2.ext`, `stem-3.ext`... when taken.
    fn persist(&mut self, mut temp: TempFile, name: &str) -> Result<String, String> {
        let file = temp.file.take().ok_or("temporary file already closed")?;
        file.sync_all()
            .map_err(|e| format!("cannot write {}: {e}", temp.path.display()))?;
        drop(file);
        let (stem, ext) = match name.rfind('.') {
            Some(i) if i > 0 => (&name[..i], &name[i..]),
            _ => (name, ""),
        };
        for n in 1u32..=u32::MAX {
            let candidate = if n == 1 {
                name.to_owned()
            } else {
                format!("{stem}-{n}{ext}")
            };
            let target = self.dir.join(&candidate);
            // A hard link fails when the name is taken, so nothing is ever overwritten.
            match fs::hard_link(&temp.path, &target) {
                Ok(()) => {
                    let _ = fs::remove_file(&temp.path);
                    return Ok(candidate);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(_) if !target.exists() => {
                    // No hard links on this file system: rename, after checking the name is free.
                    fs::rename(&temp.path, &target)
                        .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
                    return Ok(candidate);
                }
                Err(_) => continue,
            }
        }
        Err(format!("no free name for {name} in {}", self.dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn file_names_stay_inside_the_directory() {
        let rows: &[(&str, Option<&str>)] = &[
            ("face.jpeg", Some("face.jpeg")),
            ("../../etc/passwd", Some("passwd")),
            ("/etc/passwd", Some("passwd")),
            ("C:\\Users\\x\\photo.jpg", Some("photo.jpg")),
            ("..", None),
            (".", None),
            ("", None),
            ("dir/", None),
            ("a\0b", Some("a_b")),
            (".hidden", Some("hidden")),
            ("...", None),
            ("évidence.pdf", Some("évidence.pdf")),
        ];
        for (raw, want) in rows {
            assert_eq!(safe_file_name(raw).as_deref(), *want, "{raw:?}");
        }
        let long = "é".repeat(150);
        assert!(safe_file_name(&long).unwrap().len() <= 200);
    }
}
