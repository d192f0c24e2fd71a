#![cfg(all(feature = "encrypt", feature = "object-store"))]
//! `store::Encrypted`: files encrypted with age as they stream, the manifest plain with the
//! plaintext's size and SHA-256, and what the age tool makes of it. (The `Sink` contract
//! through `Encrypted` runs in `sink_contract.rs`.)

mod support;

use std::sync::{Arc, Mutex};

use authenteq_export::export::VerificationId;
use authenteq_export::save::OutputDir;
use authenteq_export::store::{
    open, Committed, Encrypted, FolderSink, Manifest, ObjectSink, Plaintext, Sink, Staging,
};
use authenteq_export::ErrorKind;
use bytes::Bytes;
use support::age::{decrypt, tool, tool_present, KeyPair};
use support::generate::noise;
use support::{runtime, sha256_hex, vid};

/// Stores `files` as verification `id` into `sink`, each written in one chunk.
async fn store<S: Sink>(sink: &S, id: &str, files: &[(&str, &[u8])]) -> Manifest {
    let mut staging = sink.stage(&vid(id)).await.unwrap();
    for (name, bytes) in files {
        staging.start_file(name, None).await.unwrap();
        staging.write(Bytes::copy_from_slice(bytes)).await.unwrap();
        staging.end_file().await.unwrap();
    }
    match staging.commit().await.unwrap() {
        Committed::Stored(manifest) => manifest,
        other => panic!("not stored: {other:?}"),
    }
}

#[test]
fn a_manifest_written_before_encryption_and_times_reads_as_plain_and_timeless() {
    let old = br#"{"id":"v1","files":[{"name":"result.json","size":2,"sha256":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","contentType":"application/json"}]}"#;
    let manifest = Manifest::from_json(old).unwrap();
    assert_eq!(manifest.written_at(), None);
    assert!(!manifest.is_encrypted());
    let file = manifest.file("result.json").unwrap();
    assert_eq!(
        (file.encryption(), file.stored_name(), file.stored_size()),
        (None, "result.json", 2)
    );
    // Written back, it says no more than it did.
    assert_eq!(manifest.to_json(), old.to_vec());
}

#[test]
fn no_plaintext_byte_reaches_the_folder_and_the_manifest_lists_the_plaintext() {
    let key = KeyPair::generate();
    let dir = tempfile::tempdir().unwrap();
    let sink = Encrypted::new(FolderSink::create(dir.path()).unwrap(), key.recipients());
    let secret = b"{\"name\":\"MARKER-Jane-Doe-1970-01-01\"}".to_vec();
    let image = noise(3 << 20, 7);
    let manifest = runtime().block_on(store(
        &sink,
        "v1",
        &[("result.json", &secret), ("faceImage.jpeg", &image)],
    ));
    assert!(manifest.written_at().is_some());
    let stored = support::files_under(dir.path());
    let names: Vec<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "v1/faceImage.jpeg.age",
            "v1/manifest.json",
            "v1/result.json.age"
        ]
    );
    for (name, bytes) in &stored {
        assert!(
            !bytes.windows(6).any(|w| w == b"MARKER"),
            "{name} holds plaintext"
        );
    }
    assert!(!stored["v1/faceImage.jpeg.age"]
        .windows(64)
        .any(|w| w == &image[1000..1064]));
    for (name, plain) in [("result.json", &secret), ("faceImage.jpeg", &image)] {
        let file = manifest.file(name).unwrap();
        let on_disk = &stored[&format!("v1/{name}.age")];
        assert_eq!(file.encryption(), Some("age"));
        assert_eq!(file.stored_name(), format!("{name}.age"));
        assert_eq!(
            (file.size(), file.sha256()),
            (plain.len() as u64, sha256_hex(plain).as_str())
        );
        assert_eq!(file.stored_size(), on_disk.len() as u64);
        assert_eq!(&decrypt(&key.identity, on_disk), plain);
    }
    let json = String::from_utf8(stored["v1/manifest.json"].clone()).unwrap();
    assert!(json.contains(r#""encryption":"age""#), "{json}");
    assert!(json.contains(r#""storedName":"result.json.age""#), "{json}");
    assert!(json.contains(r#""writtenAt":"#), "{json}");
}

#[test]
fn every_recipient_can_read_the_files() {
    let (a, b) = (KeyPair::generate(), KeyPair::generate());
    let mut recipients = a.recipients();
    recipients.extend(b.recipients());
    let dir = tempfile::tempdir().unwrap();
    let sink = Encrypted::new(FolderSink::create(dir.path()).unwrap(), recipients);
    runtime().block_on(store(&sink, "v1", &[("result.json", b"{}")]));
    let stored = std::fs::read(dir.path().join("v1/result.json.age")).unwrap();
    assert_eq!(decrypt(&a.identity, &stored), b"{}");
    assert_eq!(decrypt(&b.identity, &stored), b"{}");
}

/// A staging that records the size of every write it is given, around a folder's.
#[derive(Debug)]
struct Recording<T> {
    inner: T,
    writes: Arc<Mutex<Vec<usize>>>,
}

impl<T: Staging> Staging for Recording<T> {
    async fn start_file(&mut self, name: &str, ct: Option<&str>) -> authenteq_export::Result<()> {
        self.inner.start_file(name, ct).await
    }
    async fn write(&mut self, chunk: Bytes) -> authenteq_export::Result<()> {
        self.writes.lock().unwrap().push(chunk.len());
        self.inner.write(chunk).await
    }
    async fn end_file(&mut self) -> authenteq_export::Result<()> {
        self.inner.end_file().await
    }
    async fn end_encrypted_file(&mut self, plaintext: Plaintext) -> authenteq_export::Result<()> {
        self.inner.end_encrypted_file(plaintext).await
    }
    async fn commit(self) -> authenteq_export::Result<Committed> {
        self.inner.commit().await
    }
    async fn discard(self) {
        self.inner.discard().await
    }
}

struct RecordingSink {
    inner: FolderSink,
    writes: Arc<Mutex<Vec<usize>>>,
}

impl Sink for RecordingSink {
    type Staging = Recording<<FolderSink as Sink>::Staging>;
    async fn manifest(&self, id: &VerificationId) -> authenteq_export::Result<Option<Manifest>> {
        self.inner.manifest(id).await
    }
    async fn stage(&self, id: &VerificationId) -> authenteq_export::Result<Self::Staging> {
        Ok(Recording {
            inner: self.inner.stage(id).await?,
            writes: Arc::clone(&self.writes),
        })
    }
}

#[test]
fn a_big_chunk_is_encrypted_and_passed_on_in_bounded_pieces() {
    let key = KeyPair::generate();
    let dir = tempfile::tempdir().unwrap();
    let writes = Arc::new(Mutex::new(Vec::new()));
    let recording = RecordingSink {
        inner: FolderSink::create(dir.path()).unwrap(),
        writes: Arc::clone(&writes),
    };
    let sink = Encrypted::new(recording, key.recipients());
    let image = noise(32 << 20, 3);
    runtime().block_on(store(&sink, "v1", &[("faceImage.jpeg", &image)]));
    let writes = writes.lock().unwrap();
    let largest = *writes.iter().max().unwrap();
    // 512 KiB of plaintext at a time: eight age chunks of 64 KiB, each with its 16-byte tag.
    assert!(
        largest <= 8 * (64 << 10) + 8 * 16,
        "a write of {largest} bytes"
    );
    assert!(writes.len() >= 64, "{} writes", writes.len());
}

/// Encryption runs on the blocking pool in batches of 512 KiB: every size around a batch's
/// edges, written in chunks smaller, equal to and larger than a batch, decrypts to the bytes
/// written, and the manifest lists their size and SHA-256; into a folder and an object store.
#[test]
fn every_size_and_chunking_around_a_batch_decrypts_to_the_bytes_written() {
    const BATCH: usize = 512 << 10;
    let key = KeyPair::generate();
    let dir = tempfile::tempdir().unwrap();
    let folder = Encrypted::new(FolderSink::create(dir.path()).unwrap(), key.recipients());
    let memory = Arc::new(object_store::memory::InMemory::new());
    let objects = Encrypted::new(ObjectSink::new(memory.clone(), "p"), key.recipients());
    let image = noise(3 * BATCH + 5, 4);
    let rt = runtime();
    let mut n = 0;
    for size in [0, 1, BATCH - 1, BATCH, BATCH + 1, 2 * BATCH, 3 * BATCH + 5] {
        for chunk in [1000, 64 << 10, BATCH, BATCH + 7, usize::MAX] {
            if chunk == 1000 && size > BATCH + 1 {
                continue; // Enough small chunks above.
            }
            n += 1;
            let id = format!("v{n}");
            let bytes = Bytes::copy_from_slice(&image[..size]);
            let chunks = support::fixed_chunks(&bytes, chunk.min(size.max(1)));
            let stored = rt.block_on(async {
                use object_store::ObjectStoreExt as _;
                let in_folder = store_chunks(&folder, &id, &chunks).await;
                let path = dir.path().join(&id).join("faceImage.jpeg.age");
                let in_objects = store_chunks(&objects, &id, &chunks).await;
                let key = object_store::path::Path::from(format!("p/{id}/faceImage.jpeg.age"));
                let got = memory.get(&key).await.unwrap().bytes().await.unwrap();
                [
                    (in_folder, std::fs::read(path).unwrap()),
                    (in_objects, got.to_vec()),
                ]
            });
            for (manifest, ciphertext) in stored {
                let file = manifest.file("faceImage.jpeg").unwrap();
                let label = format!("{size} bytes in chunks of {chunk}");
                assert_eq!(file.size(), size as u64, "{label}");
                assert_eq!(file.sha256(), sha256_hex(&bytes), "{label}");
                assert_eq!(file.stored_size(), ciphertext.len() as u64, "{label}");
                assert_eq!(decrypt(&key.identity, &ciphertext), bytes, "{label}");
            }
        }
    }
}

/// Stores one file in `chunks` through `sink`: the manifest.
async fn store_chunks<S: Sink>(sink: &S, id: &str, chunks: &[Bytes]) -> Manifest {
    let mut staging = sink.stage(&vid(id)).await.unwrap();
    staging.start_file("faceImage.jpeg", None).await.unwrap();
    for chunk in chunks {
        staging.write(chunk.clone()).await.unwrap();
    }
    staging.end_file().await.unwrap();
    staging.commit().await.unwrap().manifest().clone()
}

/// The crate's backends take an encrypted file's hash from the layer that encrypts it, so they
/// refuse to end one as if it were plain (its manifest entry would have no hash).
#[test]
fn a_file_started_encrypted_ends_only_as_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let folder = FolderSink::create(dir.path()).unwrap();
    let objects = ObjectSink::new(Arc::new(object_store::memory::InMemory::new()), "p");
    runtime().block_on(async {
        let mut a = folder.stage(&vid("v1")).await.unwrap();
        let mut b = objects.stage(&vid("v1")).await.unwrap();
        a.start_encrypted_file("x.age", None).await.unwrap();
        b.start_encrypted_file("x.age", None).await.unwrap();
        for ended in [a.end_file().await, b.end_file().await] {
            let ended = ended.unwrap_err();
            assert_eq!(ended.kind(), ErrorKind::Usage);
            assert!(ended.to_string().contains("end_encrypted_file"), "{ended}");
        }
    });
}

/// A staging that does not implement `end_encrypted_file`.
#[derive(Debug)]
struct Plain<T>(T);

impl<T: Staging> Staging for Plain<T> {
    async fn start_file(&mut self, name: &str, ct: Option<&str>) -> authenteq_export::Result<()> {
        self.0.start_file(name, ct).await
    }
    async fn write(&mut self, chunk: Bytes) -> authenteq_export::Result<()> {
        self.0.write(chunk).await
    }
    async fn end_file(&mut self) -> authenteq_export::Result<()> {
        self.0.end_file().await
    }
    async fn commit(self) -> authenteq_export::Result<Committed> {
        self.0.commit().await
    }
    async fn discard(self) {
        self.0.discard().await
    }
}

struct PlainSink(FolderSink);

impl Sink for PlainSink {
    type Staging = Plain<<FolderSink as Sink>::Staging>;
    async fn manifest(&self, id: &VerificationId) -> authenteq_export::Result<Option<Manifest>> {
        self.0.manifest(id).await
    }
    async fn stage(&self, id: &VerificationId) -> authenteq_export::Result<Self::Staging> {
        Ok(Plain(self.0.stage(id).await?))
    }
}

#[test]
fn a_backend_that_cannot_record_encrypted_files_refuses_rather_than_list_them_as_plain() {
    let key = KeyPair::generate();
    let dir = tempfile::tempdir().unwrap();
    let sink = Encrypted::new(
        PlainSink(FolderSink::create(dir.path()).unwrap()),
        key.recipients(),
    );
    runtime().block_on(async {
        let mut staging = sink.stage(&vid("v1")).await.unwrap();
        staging.start_file("result.json", None).await.unwrap();
        staging.write(Bytes::from_static(b"{}")).await.unwrap();
        let ended = staging.end_file().await.unwrap_err();
        assert_eq!(ended.kind(), ErrorKind::Usage);
        assert!(ended.to_string().contains("end_encrypted_file"), "{ended}");
    });
}

#[test]
fn recipients_and_identities_that_do_not_parse_name_the_line() {
    let key = KeyPair::generate();
    let text = format!("# keys\n{}\nage1notakey\n", key.recipient);
    let e = authenteq_export::store::Recipients::parse(&text).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Usage);
    assert!(e.to_string().contains("line 3"), "{e}");
    let e = authenteq_export::store::Identities::parse("\n# nothing\n").unwrap_err();
    assert!(e.to_string().contains("no age identity"), "{e}");
    // A secret key is never quoted back.
    let bad = format!("{}X", key.identity.trim());
    let e = authenteq_export::store::Identities::parse(&bad).unwrap_err();
    assert!(!e.to_string().contains(&bad[20..]), "{e}");
}

#[test]
fn the_age_tool_decrypts_a_stored_file_to_the_original_bytes() {
    if !tool_present("the_age_tool_decrypts_a_stored_file_to_the_original_bytes") {
        return;
    }
    let key = KeyPair::generate();
    let dir = tempfile::tempdir().unwrap();
    let identity = key.identity_file(dir.path());
    let store_dir = dir.path().join("store");
    let sink = Encrypted::new(FolderSink::create(&store_dir).unwrap(), key.recipients());
    let image = noise((1 << 20) + 12_345, 5);
    runtime().block_on(store(
        &sink,
        "v1",
        &[("faceImage.jpeg", &image), ("empty", b"")],
    ));
    for (name, plain) in [("faceImage.jpeg", &image[..]), ("empty", b"")] {
        let stored = std::fs::read(store_dir.join(format!("v1/{name}.age"))).unwrap();
        let out = tool(&["-d", "-i", identity.to_str().unwrap()], &stored);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, plain, "{name}");
    }
}

/// A folder store with `v1` stored encrypted: a small result and a 1 MiB image.
struct Stored {
    key: KeyPair,
    dir: tempfile::TempDir,
    folder: FolderSink,
    image: Vec<u8>,
}

const RESULT: &[u8] = br#"{"id":"v1","name":"Jane"}"#;

fn stored() -> Stored {
    let key = KeyPair::generate();
    let dir = tempfile::tempdir().unwrap();
    let folder = FolderSink::create(dir.path().join("store")).unwrap();
    let image = noise((1 << 20) + 333, 9);
    let sink = Encrypted::new(folder.clone(), key.recipients());
    runtime().block_on(store(
        &sink,
        "v1",
        &[("result.json", RESULT), ("faceImage.jpeg", &image)],
    ));
    Stored {
        key,
        dir,
        folder,
        image,
    }
}

impl Stored {
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join("store/v1").join(name)
    }

    /// `open` into a fresh folder: its result, and what the folder holds.
    fn open_with(
        &self,
        identity: &KeyPair,
    ) -> (
        authenteq_export::Result<()>,
        std::collections::BTreeMap<String, Vec<u8>>,
    ) {
        let out = self.dir.path().join(format!("out-{}", rand_name()));
        let target = OutputDir::create(&out).unwrap();
        let opened = runtime().block_on(open(
            &self.folder,
            &vid("v1"),
            &identity.identities(),
            &target,
        ));
        (opened.map(drop), support::files_under(&out))
    }
}

fn rand_name() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

#[test]
fn open_writes_back_byte_identical_files_under_their_plain_names() {
    let stored = stored();
    let (opened, files) = stored.open_with(&stored.key);
    opened.unwrap();
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(names, ["faceImage.jpeg", "result.json"]);
    assert_eq!(files["result.json"], RESULT);
    assert_eq!(files["faceImage.jpeg"], stored.image);
}

#[test]
fn open_reads_an_object_store_prefix() {
    let key = KeyPair::generate();
    let memory = Arc::new(object_store::memory::InMemory::new());
    let objects = ObjectSink::new(memory, "exports").part_size(64 << 10);
    let image = noise(300 << 10, 4);
    let out = tempfile::tempdir().unwrap();
    let rt = support::runtime_with_workers(2);
    rt.block_on(async {
        let sink = Encrypted::new(objects.clone(), key.recipients());
        store(&sink, "v1", &[("faceImage.jpeg", &image)]).await;
        let target = OutputDir::create(out.path()).unwrap();
        open(&objects, &vid("v1"), &key.identities(), &target)
            .await
            .unwrap();
    });
    assert_eq!(
        std::fs::read(out.path().join("faceImage.jpeg")).unwrap(),
        image
    );
}

#[test]
fn a_wrong_identity_is_a_clear_error_naming_the_file_and_writes_nothing() {
    let stored = stored();
    let (opened, files) = stored.open_with(&KeyPair::generate());
    let e = opened.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreadable);
    assert!(e.to_string().contains("\"result.json.age\""), "{e}");
    assert!(e.to_string().contains("none of the identities"), "{e}");
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn a_truncated_file_is_a_clear_error_naming_the_file_and_writes_nothing() {
    let stored = stored();
    let path = stored.path("faceImage.jpeg.age");
    let bytes = std::fs::read(&path).unwrap();
    for cut in [bytes.len() - 1, bytes.len() - 17, bytes.len() / 2, 100] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let (opened, files) = stored.open_with(&stored.key);
        let e = opened.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unreadable, "cut at {cut}: {e}");
        assert!(e.to_string().contains("\"faceImage.jpeg.age\""), "{e}");
        // The result, read first and whole, is not written either.
        assert!(files.is_empty(), "cut at {cut}: {files:?}");
    }
}

#[test]
fn an_altered_file_is_a_clear_error_naming_the_file_and_writes_nothing() {
    let stored = stored();
    let path = stored.path("faceImage.jpeg.age");
    let original = std::fs::read(&path).unwrap();
    // A byte of the header's MAC, of the first chunk, of the last chunk's tag.
    for at in [150, 2_000, original.len() - 3] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (opened, files) = stored.open_with(&stored.key);
        let e = opened.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unreadable, "byte {at}: {e}");
        assert!(e.to_string().contains("\"faceImage.jpeg.age\""), "{e}");
        assert!(files.is_empty(), "byte {at}: {files:?}");
    }
}

#[test]
fn a_file_whose_content_is_not_the_manifests_is_refused() {
    let stored = stored();
    // Another valid age file for the same recipient, with other content.
    let sink = Encrypted::new(stored.folder.clone(), stored.key.recipients());
    runtime().block_on(store(&sink, "v2", &[("result.json", b"{\"id\":\"v2\"}")]));
    let swapped = std::fs::read(stored.dir.path().join("store/v2/result.json.age")).unwrap();
    std::fs::write(stored.path("result.json.age"), swapped).unwrap();
    let (opened, files) = stored.open_with(&stored.key);
    let e = opened.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unreadable);
    assert!(e.to_string().contains("not what the manifest lists"), "{e}");
    assert!(files.is_empty());
}

#[test]
fn open_reads_a_file_the_age_tool_encrypted_to_the_same_recipient() {
    if !tool_present("open_reads_a_file_the_age_tool_encrypted_to_the_same_recipient") {
        return;
    }
    let stored = stored();
    let out = tool(&["-r", &stored.key.recipient], &stored.image);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = stored.path("faceImage.jpeg.age");
    assert_ne!(std::fs::read(&path).unwrap(), out.stdout);
    std::fs::write(&path, &out.stdout).unwrap();
    let (opened, files) = stored.open_with(&stored.key);
    opened.unwrap();
    assert_eq!(files["faceImage.jpeg"], stored.image);
}
