//! The fallbacks that a file system with `O_TMPFILE` and `RENAME_NOREPLACE` never takes.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::{sys, Outcome, OutputDir, Shared, DEFAULT_FILE_MODE};

/// Opens a folder for one way of making files.
type Opener = fn(&Path) -> sys::Dir;

/// Every way a file can be made: the best one and, on Linux, each fallback.
fn ways() -> Vec<(&'static str, Opener)> {
    let mut ways: Vec<(&'static str, Opener)> = vec![("best", |p| sys::Dir::open(p).unwrap())];
    #[cfg(target_os = "linux")]
    ways.extend([
        (
            "hidden name, renameat2",
            (|p| sys::Dir::open(p).unwrap().without_tmpfile()) as Opener,
        ),
        ("hidden name, linkat", |p| {
            sys::Dir::open(p)
                .unwrap()
                .without_tmpfile()
                .without_noreplace()
        }),
    ]);
    ways
}

fn listing(path: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn every_way_saves_whole_files_and_leaves_no_hidden_name() {
    for (what, open) in ways() {
        let folder = tempfile::tempdir().unwrap();
        let dir = OutputDir {
            inner: Arc::new(Shared {
                dir: open(folder.path()),
                path: folder.path().to_owned(),
            }),
            mode: DEFAULT_FILE_MODE,
        };
        let mut file = dir.create_file("a.jpeg").unwrap();
        file.write_all(b"first").unwrap();
        // (The best way has no name on file systems with O_TMPFILE: not asserted, since the
        // one under the temporary folder may lack it.)
        #[cfg(target_os = "linux")]
        if what != "best" {
            assert!(file.temp.as_ref().unwrap().is_named(), "{what}");
        }
        let while_writing = listing(folder.path());
        assert!(
            while_writing.iter().all(|n| n.starts_with(".partial-")),
            "{what}: {while_writing:?}"
        );
        let saved = file.commit().unwrap();
        assert_eq!(
            (saved.name(), saved.outcome()),
            ("a.jpeg", &Outcome::Created)
        );
        let again = dir.write_file("a.jpeg", b"first").unwrap();
        assert_eq!(again.outcome(), &Outcome::AlreadyThere, "{what}");
        let other = dir.write_file("a.jpeg", b"other").unwrap();
        assert_eq!(other.name(), "a-2.jpeg", "{what}");
        // Dropped unfinished: removed.
        let mut dropped = dir.create_file("b.jpeg").unwrap();
        dropped.write_all(b"half").unwrap();
        drop(dropped);
        assert_eq!(listing(folder.path()), ["a-2.jpeg", "a.jpeg"], "{what}");
        assert_eq!(
            std::fs::read(folder.path().join("a.jpeg")).unwrap(),
            b"first"
        );
        assert_eq!(
            std::fs::read(folder.path().join("a-2.jpeg")).unwrap(),
            b"other"
        );
    }
}
