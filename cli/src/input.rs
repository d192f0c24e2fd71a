//! The export to read: a file or standard input, with a progress bar for large files.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::Path;

use crate::output::{Context, Failure};

/// Files larger than this get a progress bar (when standard error is a terminal).
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// The input, counting what is read on its progress bar.
pub struct Input {
    source: Box<dyn Read>,
    bar: Option<indicatif::ProgressBar>,
}

impl Input {
    /// `path`, or standard input for `-`.
    pub fn open(path: &Path) -> Result<Input, Failure> {
        let (source, len): (Box<dyn Read>, _) = if path.as_os_str() == "-" {
            (Box::new(io::stdin().lock()), None)
        } else {
            let file = File::open(path)
                .map_err(|e| Context::new(format!("cannot open {}", path.display()), e))?;
            let len = file.metadata().ok().map(|m| m.len());
            (Box::new(file), len)
        };
        Ok(Input {
            source,
            bar: progress_bar(len),
        })
    }

    /// A handle on the progress bar, to clear it once the input is read (the `Input` itself
    /// goes into the export reader).
    pub fn progress(&self) -> Progress {
        Progress(self.bar.clone())
    }
}

/// Clears the progress bar, if any.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        if let Some(bar) = &self.bar {
            bar.inc(n as u64);
        }
        Ok(n)
    }
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
