//! The `save` module: names never leave the folder, files appear only whole, nothing is
//! overwritten, and saving twice writes nothing new.

#![cfg(feature = "save")]

mod support;

use std::collections::BTreeMap;
use std::error::Error as _;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Barrier;

use authenteq_export::export::{blocking, Export};
use authenteq_export::save::{
    self, is_safe_file_name, safe_file_name, Outcome, OutputDir, SavedExport,
};
use authenteq_export::ErrorKind;
use bytes::Bytes;
use support::corpus_path as corpus;

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The regular files of `dir` with their bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    names(dir)
        .into_iter()
        .map(|n| {
            let bytes = fs::read(dir.join(&n)).unwrap();
            (n, bytes)
        })
        .collect()
}

/// What splitting the sample gives: `result.json` and its eleven files.
fn sample_files() -> BTreeMap<String, Vec<u8>> {
    let mut want = files(&corpus("files"));
    want.insert(
        "result.json".to_owned(),
        fs::read(corpus("result.json")).unwrap(),
    );
    want
}

/// Saves `body` (its format detected) read in chunks of 1000 bytes.
fn save_blocking(body: &[u8], dir: &OutputDir) -> authenteq_export::Result<SavedExport> {
    save_typed(body, None, dir)
}

fn save_typed(
    body: &[u8],
    content_type: Option<&str>,
    dir: &OutputDir,
) -> authenteq_export::Result<SavedExport> {
    let mut export = blocking::Export::new(body, content_type)?.chunk_size(1000);
    save::blocking::save_export(&mut export, dir)
}

const TRAVERSALS: &[&str] = &[
    "../../escaped",
    "../escaped.jpeg",
    "/abs",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "..\\..\\escaped",
    "..",
    ".",
    "",
    "/",
    "dir/",
    "CON.jpeg",
    "con",
    "LPT1",
    "nul.txt",
    "a\0b",
    "\0",
    "tab\there",
    "new\nline",
    "esc\u{1b}[31m",
    ".hidden",
    "trailing.",
    "trailing ",
    "a:stream",
];

#[test]
fn unsafe_names_are_refused_and_their_safe_forms_stay_inside() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("a/b/out");
    let dir = OutputDir::create(&out).unwrap();
    for (i, raw) in TRAVERSALS.iter().enumerate() {
        assert!(!is_safe_file_name(raw), "{raw:?} passes as safe");
        let err = dir.create_file(raw).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsafeName, "{raw:?}: {err}");
        assert!(err.to_string().starts_with("unsafe file name: "), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
        assert!(dir.write_file(raw, b"x").is_err());
        if let Some(name) = safe_file_name(raw) {
            assert!(is_safe_file_name(&name), "{raw:?} -> {name:?}");
            let saved = dir.write_file(&name, format!("{i}").as_bytes()).unwrap();
            assert!(out.join(saved.name()).is_file(), "{raw:?} -> {name:?}");
        }
    }
    // Nothing beside the folder or above it.
    assert_eq!(names(root.path()), ["a"]);
    assert_eq!(names(&root.path().join("a")), ["b"]);
    assert_eq!(names(&root.path().join("a/b")), ["out"]);
    let saved = names(&out);
    assert!(saved.len() > TRAVERSALS.len() / 2, "{saved:?}");
    for name in saved {
        assert!(
            fs::symlink_metadata(out.join(&name)).unwrap().is_file(),
            "{name}"
        );
        assert!(!name.starts_with('.'), "{name}");
        assert!(!name.eq_ignore_ascii_case("con.jpeg"), "{name}");
    }
}

/// Checks that the save of a body cut at `cut` failed as cut, and left only whole files of
/// `sample` in `folder`; returns how many.
fn whole_files_only(
    cut: usize,
    err: &authenteq_export::Error,
    folder: &Path,
    sample: &BTreeMap<String, Vec<u8>>,
) -> usize {
    assert_eq!(err.kind(), ErrorKind::UnexpectedEnd, "cut at {cut}: {err}");
    let left = files(folder);
    for (name, bytes) in &left {
        assert!(
            sample.get(name) == Some(bytes),
            "cut at {cut}: {name} is not a whole file of the sample"
        );
    }
    left.len()
}

#[test]
fn a_body_cut_mid_file_leaves_whole_files_only() {
    let body = fs::read(corpus("verification-result.multipart")).unwrap();
    let content_type =
        fs::read_to_string(corpus("verification-result.multipart.content-type")).unwrap();
    let sample = sample_files();
    // Every 211th byte, and the last bytes before the close delimiter.
    let cuts: Vec<usize> = (1..body.len())
        .step_by(211)
        .chain(body.len() - 40..body.len() - 2)
        .collect();
    let mut most = 0;
    // The last file is whole only with the close delimiter's `--`: any other byte after
    // `CRLF--boundary` would make that line payload.
    const WANT_MOST: usize = 11;
    for cut in cuts {
        let folder = tempfile::tempdir().unwrap();
        let dir = OutputDir::open(folder.path()).unwrap();
        let err = save_typed(&body[..cut], Some(content_type.trim()), &dir).unwrap_err();
        most = most.max(whole_files_only(cut, &err, folder.path(), &sample));
    }
    assert_eq!(
        most, WANT_MOST,
        "the last cuts leave every file that was complete"
    );
}

#[test]
fn an_async_body_cut_mid_file_leaves_whole_files_only() {
    let body = Bytes::from(fs::read(corpus("verification-result.json")).unwrap());
    let sample = sample_files();
    let runtime = support::runtime();
    let mut most = 0;
    // The result comes last in the JSON export: only the eleven files can be whole.
    const WANT_MOST: usize = 11;
    let cuts = (1..body.len()).step_by(499).chain([body.len() - 2]);
    for cut in cuts {
        let folder = tempfile::tempdir().unwrap();
        let dir = OutputDir::open(folder.path()).unwrap();
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..cut)
            .step_by(700)
            .map(|at| Ok(body.slice(at..cut.min(at + 700))))
            .collect();
        let err = runtime
            .block_on(async {
                let stream = futures::stream::iter(chunks);
                let mut export = Export::new(stream, Some("application/json"))?;
                save::save_export(&mut export, &dir).await
            })
            .unwrap_err();
        most = most.max(whole_files_only(cut, &err, folder.path(), &sample));
    }
    assert_eq!(
        most, WANT_MOST,
        "the last cuts leave every file that was complete"
    );
}

/// A folder with the sample multipart export saved into it: the folder, and what was saved.
fn folder_with_the_sample() -> (tempfile::TempDir, OutputDir, SavedExport) {
    let folder = tempfile::tempdir().unwrap();
    let dir = OutputDir::open(folder.path()).unwrap();
    let body = fs::read(corpus("verification-result.multipart")).unwrap();
    let first = save_blocking(&body, &dir).unwrap();
    (folder, dir, first)
}

#[test]
fn saving_twice_writes_nothing_new() {
    let (folder, dir, first) = folder_with_the_sample();
    let body = fs::read(corpus("verification-result.multipart")).unwrap();
    assert_eq!(files(folder.path()), sample_files());
    assert!(first
        .files()
        .iter()
        .all(|f| *f.saved().outcome() == Outcome::Created));
    assert_eq!(first.written(), 12);
    let inodes = |dir: &Path| -> Vec<(String, u64)> {
        use std::os::unix::fs::MetadataExt;
        names(dir)
            .into_iter()
            .map(|n| {
                let ino = fs::metadata(dir.join(&n)).unwrap().ino();
                (n, ino)
            })
            .collect()
    };
    let before = inodes(folder.path());

    // The same export, and the same verification as a JSON export: all already there.
    let json = fs::read(corpus("verification-result.json")).unwrap();
    for again in [&body, &json] {
        let saved = save_blocking(again, &dir).unwrap();
        assert_eq!(saved.written(), 0);
        // (The JSON export has its result last.)
        let mut have: Vec<_> = saved
            .files()
            .iter()
            .map(|f| (f.saved().name(), f.saved().sha256(), f.saved().outcome()))
            .collect();
        let mut want: Vec<_> = first
            .files()
            .iter()
            .map(|f| (f.saved().name(), f.saved().sha256(), &Outcome::AlreadyThere))
            .collect();
        have.sort_by_key(|f| f.0);
        want.sort_by_key(|f| f.0);
        assert_eq!(have, want);
        assert_eq!(inodes(folder.path()), before, "a file was written again");
    }
}

#[test]
fn other_bytes_under_a_taken_name_get_the_next_free_name() {
    let (folder, dir, _) = folder_with_the_sample();
    // The next free name, said so.
    let other = dir.write_file("faceImage.jpeg", b"another face").unwrap();
    assert_eq!(other.name(), "faceImage-2.jpeg");
    assert_eq!(
        *other.outcome(),
        Outcome::Renamed {
            wanted: "faceImage.jpeg".to_owned()
        }
    );
    let third = dir.write_file("faceImage.jpeg", b"a third face").unwrap();
    assert_eq!(third.name(), "faceImage-3.jpeg");
    // Those bytes again: found under the name they got.
    let again = dir.write_file("faceImage.jpeg", b"a third face").unwrap();
    assert_eq!(
        (again.name(), again.outcome()),
        ("faceImage-3.jpeg", &Outcome::AlreadyThere)
    );
    // Same size, other bytes: compared, not taken for the same.
    let same_size = vec![b'x'; sample_files()["faceImage2.jpeg"].len()];
    let saved = dir.write_file("faceImage2.jpeg", &same_size).unwrap();
    assert_eq!(saved.name(), "faceImage2-2.jpeg");
    assert_eq!(
        fs::read(folder.path().join("faceImage2.jpeg")).unwrap(),
        sample_files()["faceImage2.jpeg"]
    );
}

#[test]
fn files_are_private_by_default_and_the_mode_is_a_setting() {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::tempdir().unwrap();
    let mode = |name: &str| {
        fs::metadata(folder.path().join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    let dir = OutputDir::open(folder.path()).unwrap();
    dir.write_file("private.jpeg", b"x").unwrap();
    assert_eq!(mode("private.jpeg"), 0o600);
    dir.clone()
        .file_mode(0o640)
        .write_file("shared.jpeg", b"x")
        .unwrap();
    // The umask may take bits away, never add them.
    assert_eq!(mode("shared.jpeg") & !0o640, 0);
    assert_eq!(mode("shared.jpeg") & 0o600, 0o600);
    // The clone with another mode leaves the first as it was.
    dir.write_file("private2.jpeg", b"x").unwrap();
    assert_eq!(mode("private2.jpeg"), 0o600);
}

#[test]
fn writers_racing_for_one_name_never_overwrite_or_mix() {
    const WRITERS: usize = 6;
    for round in 0..20 {
        let folder = tempfile::tempdir().unwrap();
        let dir = OutputDir::open(folder.path()).unwrap();
        // Writers 0-2 write the same bytes, 3-5 each their own.
        let content = |w: usize| -> Vec<u8> {
            let tag = if w < 3 { 0 } else { w };
            (0..50_000)
                .map(|i| (i * 7 + tag * 31 + round) as u8)
                .collect()
        };
        let start = Barrier::new(WRITERS);
        let outcomes: Vec<(usize, save::Saved)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let (dir, start, bytes) = (dir.clone(), &start, content(w));
                    s.spawn(move || {
                        let mut file = dir.create_file("race.bin").unwrap();
                        start.wait();
                        for piece in bytes.chunks(4096) {
                            file.write_all(piece).unwrap();
                            std::thread::yield_now();
                        }
                        (w, file.commit().unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let on_disk = files(folder.path());
        // One file for the shared bytes, one for each writer of its own.
        assert_eq!(on_disk.len(), 4, "round {round}: {:?}", on_disk.keys());
        let created = outcomes
            .iter()
            .filter(|(_, s)| *s.outcome() == Outcome::Created)
            .count();
        assert_eq!(created, 1, "round {round}: one writer gets the name");
        let already = outcomes
            .iter()
            .filter(|(_, s)| *s.outcome() == Outcome::AlreadyThere)
            .count();
        assert_eq!(already, 2, "round {round}: the same bytes are found");
        for (w, saved) in &outcomes {
            assert_eq!(
                on_disk[saved.name()],
                content(*w),
                "round {round}: writer {w}'s {} is not its bytes",
                saved.name()
            );
        }
    }
}

#[test]
fn dropping_an_uncommitted_file_leaves_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let dir = OutputDir::open(folder.path()).unwrap();
    let mut file = dir.create_file("unfinished.pdf").unwrap();
    file.write_all(&[7; 100_000]).unwrap();
    assert_eq!(file.size(), 100_000);
    assert_eq!(
        names(folder.path()),
        Vec::<String>::new(),
        "visible before commit"
    );
    drop(file);
    assert_eq!(names(folder.path()), Vec::<String>::new());
}

#[test]
fn an_existing_link_or_folder_under_the_name_is_left_alone() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    fs::create_dir(&out).unwrap();
    let outside = root.path().join("outside.jpeg");
    fs::write(&outside, b"same").unwrap();
    std::os::unix::fs::symlink(&outside, out.join("link.jpeg")).unwrap();
    std::os::unix::fs::symlink(root.path().join("nowhere"), out.join("dangling.jpeg")).unwrap();
    fs::create_dir(out.join("folder.jpeg")).unwrap();
    let dir = OutputDir::open(&out).unwrap();
    for name in ["link.jpeg", "dangling.jpeg", "folder.jpeg"] {
        // Even the bytes the link points to are not "already there": a link is not followed.
        let saved = dir.write_file(name, b"same").unwrap();
        assert!(
            matches!(saved.outcome(), Outcome::Renamed { .. }),
            "{name}: {saved:?}"
        );
        assert_eq!(fs::read(out.join(saved.name())).unwrap(), b"same");
    }
    assert_eq!(fs::read(&outside).unwrap(), b"same");
    assert!(!root.path().join("nowhere").exists());
    assert!(fs::symlink_metadata(out.join("link.jpeg"))
        .unwrap()
        .is_symlink());
}

#[test]
fn async_writes_and_commit() {
    use tokio::io::AsyncWriteExt;
    let folder = tempfile::tempdir().unwrap();
    let dir = OutputDir::open(folder.path()).unwrap();
    let saved = support::runtime().block_on(async {
        let mut file = dir.create_file("async.jpeg").unwrap();
        AsyncWriteExt::write_all(&mut file, b"\xff\xd8")
            .await
            .unwrap();
        AsyncWriteExt::write_all(&mut file, b"\xff\xd9")
            .await
            .unwrap();
        file.shutdown().await.unwrap();
        assert_eq!(
            names(folder.path()),
            Vec::<String>::new(),
            "shutdown commits nothing"
        );
        file.commit().unwrap()
    });
    assert_eq!(saved.size(), 4);
    let sha = <sha2::Sha256 as sha2::Digest>::digest(b"\xff\xd8\xff\xd9");
    assert_eq!(saved.sha256()[..], sha[..]);
    let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(saved.sha256_hex(), hex);
    assert_eq!(
        fs::read(folder.path().join("async.jpeg")).unwrap(),
        b"\xff\xd8\xff\xd9"
    );
}

#[test]
fn errors_say_what_failed_and_keep_the_cause_as_source() {
    let root = tempfile::tempdir().unwrap();
    let missing = root.path().join("missing");
    let err = OutputDir::open(&missing).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.to_string(), "i/o error: opening the output folder");
    let source = err.source().expect("the I/O error is the source");
    assert_eq!(
        source.downcast_ref::<std::io::Error>().map(|e| e.kind()),
        Some(std::io::ErrorKind::NotFound)
    );

    // A file where the folder should be.
    let file = root.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = OutputDir::create(&file).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.source().is_some());
    assert!(
        !err.to_string().contains(&*root.path().to_string_lossy()),
        "{err}"
    );

    // A folder removed while in use: creating in it fails, naming the file.
    let gone = root.path().join("gone");
    let dir = OutputDir::create(&gone).unwrap();
    fs::remove_dir(&gone).unwrap();
    let err = dir.create_file("faceImage.jpeg").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(
        err.to_string(),
        r#"i/o error: creating "faceImage.jpeg" in the output folder"#
    );
    assert!(err.source().is_some());
}
