//! The contract of `store::Sink`, one suite run by every backend: `object_store`'s in-memory
//! store and S3 (moto on loopback) through `ObjectSink`, and a local folder through
//! `FolderSink`, each also through `Encrypted` (feature `encrypt`). A new backend is one
//! `Backend` impl and one `contract!` call.
//!
//! The contract: nothing is visible before commit; a commit makes every file and the manifest
//! visible, and the manifest lists each file's name, size, SHA-256 and content type; a discard
//! or a drop leaves nothing, not even an unfinished upload; names are unique in a verification
//! (`stem-N.ext`, `manifest.json` is nobody's); unsafe ids and names and misuse are errors of
//! their kind; of two writers of one id, one stores and the other is told it is complete; an
//! erase takes everything under its id and nothing else, and the id can be stored again whole.

mod support;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use authenteq_export::export::VerificationId;
use authenteq_export::store::{
    erase, Committed, Erased, FolderSink, Manifest, ObjectSink, S3Uploads, Sink, Staging, Written,
    HANDLED_JSON, MANIFEST_JSON, MIN_PART_SIZE,
};
use authenteq_export::ErrorKind;
use bytes::Bytes;
use object_store::ObjectStoreExt;
use support::generate::noise;
use support::moto::Moto;
use support::object::{listed, CountingUploads};
use support::sha256_hex;

/// A place a sink writes into, and what can be seen of it from outside the sink.
trait Backend: Sized {
    type Sink: Sink;

    /// A fresh, empty place for `test`, or `None` when this backend cannot run here.
    fn open(test: &str) -> Option<Self>;

    fn sink(&self) -> &Self::Sink;

    /// The size of an upload's parts: a file larger than this has an upload under way before
    /// it ends.
    fn part_size(&self) -> usize;

    /// Every stored file as `id/name`, with its bytes.
    fn visible(&self) -> impl Future<Output = BTreeMap<String, Bytes>>;

    /// Uploads started and neither completed nor aborted; `None` where there are none.
    fn unfinished_uploads(&self) -> impl Future<Output = Option<usize>>;

    /// Puts `bytes` as `id/name` straight into the place, past the sink: what a writer that
    /// failed before its manifest leaves.
    fn plant(&self, id: &str, name: &str, bytes: &'static [u8]) -> impl Future<Output = ()>;
}

/// `ObjectSink` on `object_store`'s in-memory store, with tiny parts.
struct Memory {
    store: Arc<CountingUploads>,
    sink: ObjectSink,
}

impl Backend for Memory {
    type Sink = ObjectSink;

    fn open(_: &str) -> Option<Self> {
        let store = Arc::new(CountingUploads::default());
        let sink = ObjectSink::new(store.clone(), "contract")
            .part_size(16 << 10)
            .hold_bytes(40 << 10);
        Some(Memory { store, sink })
    }

    fn sink(&self) -> &ObjectSink {
        &self.sink
    }

    fn part_size(&self) -> usize {
        16 << 10
    }

    async fn visible(&self) -> BTreeMap<String, Bytes> {
        listed(&*self.store, "contract").await
    }

    async fn unfinished_uploads(&self) -> Option<usize> {
        Some(self.store.unfinished_uploads())
    }

    async fn plant(&self, id: &str, name: &str, bytes: &'static [u8]) {
        plant_object(&self.sink, id, name, bytes).await;
    }
}

/// `FolderSink` on a temporary folder.
struct Folder {
    dir: tempfile::TempDir,
    sink: FolderSink,
}

impl Backend for Folder {
    type Sink = FolderSink;

    fn open(_: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let sink = FolderSink::create(dir.path()).unwrap();
        Some(Folder { dir, sink })
    }

    fn sink(&self) -> &FolderSink {
        &self.sink
    }

    fn part_size(&self) -> usize {
        16 << 10
    }

    async fn visible(&self) -> BTreeMap<String, Bytes> {
        support::files_under(self.dir.path())
            .into_iter()
            .map(|(name, bytes)| (name, Bytes::from(bytes)))
            .collect()
    }

    async fn unfinished_uploads(&self) -> Option<usize> {
        None
    }

    async fn plant(&self, id: &str, name: &str, bytes: &'static [u8]) {
        let folder = self.dir.path().join(id);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(name), bytes).unwrap();
    }
}

/// `ObjectSink` on S3: a bucket of its own on one `moto_server`, shared by the tests that run
/// at the same time and stopped when the last of them ends.
struct S3 {
    moto: Arc<Moto>,
    bucket: String,
    sink: ObjectSink,
}

fn shared_moto(test: &str) -> Option<Arc<Moto>> {
    static MOTO: Mutex<Weak<Moto>> = Mutex::new(Weak::new());
    let mut slot = MOTO.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(moto) = slot.upgrade() {
        return Some(moto);
    }
    let moto = Arc::new(Moto::start(test)?);
    *slot = Arc::downgrade(&moto);
    Some(moto)
}

impl Backend for S3 {
    type Sink = ObjectSink;

    fn open(test: &str) -> Option<Self> {
        static BUCKETS: AtomicUsize = AtomicUsize::new(0);
        let moto = shared_moto(test)?;
        let bucket = format!("contract-{}", BUCKETS.fetch_add(1, Ordering::SeqCst));
        moto.bucket(&bucket);
        // Static credentials and a region: `object_store` asks no metadata service.
        let sink = ObjectSink::new(Arc::new(moto.store(&bucket)), "contract")
            .part_size(MIN_PART_SIZE)
            .hold_bytes(64 << 10)
            .s3(S3Uploads::new(&moto.builder(&bucket)).unwrap());
        Some(S3 { moto, bucket, sink })
    }

    fn sink(&self) -> &ObjectSink {
        &self.sink
    }

    fn part_size(&self) -> usize {
        MIN_PART_SIZE
    }

    async fn visible(&self) -> BTreeMap<String, Bytes> {
        listed(&**self.sink.store(), "contract").await
    }

    async fn unfinished_uploads(&self) -> Option<usize> {
        let (moto, bucket) = (self.moto.clone(), self.bucket.clone());
        let count = tokio::task::spawn_blocking(move || moto.unfinished_uploads(&bucket));
        Some(count.await.unwrap())
    }

    async fn plant(&self, id: &str, name: &str, bytes: &'static [u8]) {
        plant_object(&self.sink, id, name, bytes).await;
    }
}

/// `bytes` as `PREFIX/id/name` of `sink`'s store.
async fn plant_object(sink: &ObjectSink, id: &str, name: &str, bytes: &'static [u8]) {
    let key = object_store::path::Path::from(format!("{}/{id}/{name}", sink.prefix()));
    sink.store()
        .put(&key, object_store::PutPayload::from_static(bytes))
        .await
        .unwrap();
}

/// Backend `B` through `Encrypted`: what is visible is what the stored files decrypt to, under
/// their names without `.age` (the manifest is plain).
#[cfg(feature = "encrypt")]
struct Sealed<B: Backend> {
    inner: B,
    key: support::age::KeyPair,
    sink: authenteq_export::store::Encrypted<B::Sink>,
}

#[cfg(feature = "encrypt")]
impl<B: Backend> Backend for Sealed<B>
where
    B::Sink: Clone,
{
    type Sink = authenteq_export::store::Encrypted<B::Sink>;

    fn open(test: &str) -> Option<Self> {
        let inner = B::open(test)?;
        let key = support::age::KeyPair::generate();
        let sink = authenteq_export::store::Encrypted::new(inner.sink().clone(), key.recipients());
        Some(Sealed { inner, key, sink })
    }

    fn sink(&self) -> &Self::Sink {
        &self.sink
    }

    fn part_size(&self) -> usize {
        self.inner.part_size()
    }

    async fn visible(&self) -> BTreeMap<String, Bytes> {
        let stored = self.inner.visible().await;
        let mut visible = BTreeMap::new();
        for (key, bytes) in &stored {
            let (id, name) = key.split_once('/').unwrap();
            if name == MANIFEST_JSON || name == HANDLED_JSON {
                visible.insert(key.clone(), bytes.clone());
                continue;
            }
            // Under the name its manifest gives it (two writers of a folder can leave the
            // record's files under `stem-2.age`), or the stored name without `.age`.
            let manifest = stored
                .get(&format!("{id}/{MANIFEST_JSON}"))
                .map(|json| Manifest::from_json(json).unwrap());
            let listed = manifest.as_ref().and_then(|m| {
                let file = m.files().iter().find(|f| f.stored_name() == name)?;
                assert_eq!(file.encryption(), Some("age"), "{key}");
                Some(file.name().to_owned())
            });
            let plain = match listed {
                Some(plain) => plain,
                None => name
                    .strip_suffix(".age")
                    .unwrap_or_else(|| panic!("{key} is stored without .age"))
                    .to_owned(),
            };
            let decrypted = support::age::decrypt(&self.key.identity, bytes);
            visible.insert(format!("{id}/{plain}"), Bytes::from(decrypted));
        }
        visible
    }

    async fn unfinished_uploads(&self) -> Option<usize> {
        self.inner.unfinished_uploads().await
    }

    async fn plant(&self, id: &str, name: &str, bytes: &'static [u8]) {
        self.inner.plant(id, name, bytes).await;
    }
}

/// One `#[test]` per contract function, for backend `$backend`, in module `$module`.
macro_rules! contract {
    ($module:ident, $backend:ty) => {
        mod $module {
            contract!(@tests $backend;
                nothing_is_visible_before_commit,
                a_commit_makes_every_file_and_the_manifest_visible,
                the_manifest_lists_name_size_sha256_and_content_type,
                an_empty_file_is_stored_with_the_hash_of_nothing,
                a_big_file_spans_several_parts,
                a_discard_leaves_nothing,
                a_dropped_staging_leaves_nothing,
                a_discarded_id_can_be_stored_afterwards,
                a_repeated_name_becomes_stem_n_ext,
                a_file_named_manifest_json_is_renamed,
                the_handled_marker_is_written_once_beside_the_files,
                unsafe_ids_are_refused,
                unsafe_file_names_are_refused,
                write_or_end_before_a_file_is_started_is_misuse,
                starting_a_file_while_one_is_open_is_misuse,
                a_commit_with_a_file_open_is_misuse_and_stores_nothing,
                of_two_writers_racing_on_one_id_one_stores_and_one_is_told_complete,
                a_commit_after_a_stored_one_is_already_complete_and_changes_nothing,
                an_erase_leaves_nothing_under_the_id_and_the_others_whole,
                an_absent_id_and_a_second_erase_are_absent,
                a_half_stored_id_is_erased,
                an_erased_id_is_stored_again_whole,
                stored_lists_each_id_with_its_manifests_time,
            );
        }
    };
    (@tests $backend:ty; $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let Some(backend) = <$backend as super::Backend>::open(stringify!($test)) else {
                    return;
                };
                super::support::runtime().block_on(super::$test(&backend));
            }
        )*
    };
}

contract!(in_memory, super::Memory);
contract!(folder, super::Folder);
contract!(s3, super::S3);
#[cfg(feature = "encrypt")]
contract!(encrypted_in_memory, super::Sealed<super::Memory>);
#[cfg(feature = "encrypt")]
contract!(encrypted_folder, super::Sealed<super::Folder>);

/// A file for a staging: its name, content type and bytes.
struct File {
    name: &'static str,
    content_type: Option<&'static str>,
    bytes: Bytes,
}

/// The files of a verification: a small result, an image larger than `part_size` (so it has
/// an upload under way before it ends), and a file with no content type.
fn files(part_size: usize) -> Vec<File> {
    vec![
        File {
            name: "result.json",
            content_type: Some("application/json"),
            bytes: Bytes::from_static(br#"{"id":"v1"}"#),
        },
        File {
            name: "faceImage.jpeg",
            content_type: Some("image/jpeg"),
            bytes: Bytes::from(noise(part_size + 1000, 1)),
        },
        File {
            name: "notes",
            content_type: None,
            bytes: Bytes::from_static(b"no type declared"),
        },
    ]
}

/// Writes `file` in chunks of 7,777 bytes.
async fn write_file(staging: &mut impl Staging, file: &File) {
    staging
        .start_file(file.name, file.content_type)
        .await
        .unwrap();
    for chunk in file.bytes.chunks(7_777) {
        staging.write(file.bytes.slice_ref(chunk)).await.unwrap();
    }
    staging.end_file().await.unwrap();
}

/// Verification `id` staged with `files`, not committed.
async fn staged<S: Sink>(sink: &S, id: &str, files: &[File]) -> S::Staging {
    let mut staging = sink.stage(&support::vid(id)).await.unwrap();
    for file in files {
        write_file(&mut staging, file).await;
    }
    staging
}

/// The manifest of a commit that stored it.
fn stored(committed: Committed) -> Manifest {
    match committed {
        Committed::Stored(manifest) => manifest,
        other => panic!("not stored: {other:?}"),
    }
}

/// Stores `files` as verification `id`.
async fn store<S: Sink>(sink: &S, id: &str, files: &[File]) -> Manifest {
    stored(staged(sink, id, files).await.commit().await.unwrap())
}

/// Waits (up to 5 s) until the backend has no unfinished upload, and says whether it got there.
async fn uploads_settle(backend: &impl Backend) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if backend.unfinished_uploads().await.unwrap_or(0) == 0 {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn nothing_is_visible_before_commit(backend: &impl Backend) {
    let files = files(backend.part_size());
    let staging = staged(backend.sink(), "v1", &files).await;
    assert_eq!(backend.visible().await, BTreeMap::new());
    assert_eq!(
        backend.sink().manifest(&support::vid("v1")).await.unwrap(),
        None
    );
    staging.commit().await.unwrap();
    assert!(backend
        .sink()
        .manifest(&support::vid("v1"))
        .await
        .unwrap()
        .is_some());
}

async fn a_commit_makes_every_file_and_the_manifest_visible(backend: &impl Backend) {
    let files = files(backend.part_size());
    let manifest = store(backend.sink(), "v1", &files).await;
    let visible = backend.visible().await;
    let keys: Vec<&str> = visible.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "v1/faceImage.jpeg",
            "v1/manifest.json",
            "v1/notes",
            "v1/result.json"
        ]
    );
    for file in &files {
        assert_eq!(
            visible[&format!("v1/{}", file.name)],
            file.bytes,
            "{}",
            file.name
        );
    }
    assert_eq!(
        Manifest::from_json(&visible["v1/manifest.json"]).unwrap(),
        manifest
    );
    assert_eq!(backend.unfinished_uploads().await.unwrap_or(0), 0);
}

async fn the_manifest_lists_name_size_sha256_and_content_type(backend: &impl Backend) {
    let files = files(backend.part_size());
    let manifest = store(backend.sink(), "v1", &files).await;
    assert_eq!(manifest.id(), "v1");
    let listed: Vec<_> = manifest
        .files()
        .iter()
        .map(|f| (f.name(), f.size(), f.sha256().to_owned(), f.content_type()))
        .collect();
    let written: Vec<_> = files
        .iter()
        .map(|f| {
            let size = f.bytes.len() as u64;
            (f.name, size, sha256_hex(&f.bytes), f.content_type)
        })
        .collect();
    assert_eq!(listed, written);
    assert_eq!(
        backend.sink().manifest(&support::vid("v1")).await.unwrap(),
        Some(manifest)
    );
}

async fn an_empty_file_is_stored_with_the_hash_of_nothing(backend: &impl Backend) {
    let empty = File {
        name: "empty.bin",
        content_type: Some("application/octet-stream"),
        bytes: Bytes::new(),
    };
    let manifest = store(backend.sink(), "v1", &[empty]).await;
    let file = manifest.file("empty.bin").unwrap();
    assert_eq!((file.size(), file.sha256()), (0, sha256_hex(b"").as_str()));
    assert_eq!(backend.visible().await["v1/empty.bin"], Bytes::new());
}

async fn a_big_file_spans_several_parts(backend: &impl Backend) {
    let big = File {
        name: "addressProofDocument.pdf",
        content_type: Some("application/pdf"),
        bytes: Bytes::from(noise(backend.part_size() * 2 + 12_345, 2)),
    };
    let manifest = store(backend.sink(), "v1", std::slice::from_ref(&big)).await;
    assert_eq!(
        backend.visible().await["v1/addressProofDocument.pdf"],
        big.bytes
    );
    let file = manifest.file("addressProofDocument.pdf").unwrap();
    assert_eq!(file.size(), big.bytes.len() as u64);
    assert_eq!(file.sha256(), sha256_hex(&big.bytes));
    assert_eq!(backend.unfinished_uploads().await.unwrap_or(0), 0);
}

async fn a_discard_leaves_nothing(backend: &impl Backend) {
    let staging = staged(backend.sink(), "v1", &files(backend.part_size())).await;
    if let Some(open) = backend.unfinished_uploads().await {
        assert!(open >= 1, "the image's upload is under way before commit");
    }
    staging.discard().await;
    assert_eq!(backend.visible().await, BTreeMap::new());
    assert_eq!(backend.unfinished_uploads().await.unwrap_or(0), 0);
    assert_eq!(
        backend.sink().manifest(&support::vid("v1")).await.unwrap(),
        None
    );
}

async fn a_dropped_staging_leaves_nothing(backend: &impl Backend) {
    let staging = staged(backend.sink(), "v1", &files(backend.part_size())).await;
    if let Some(open) = backend.unfinished_uploads().await {
        assert!(open >= 1, "the image's upload is under way before commit");
    }
    drop(staging);
    // An object sink aborts its uploads in a task of the runtime.
    assert!(uploads_settle(backend).await, "uploads left after a drop");
    assert_eq!(backend.visible().await, BTreeMap::new());
    assert_eq!(
        backend.sink().manifest(&support::vid("v1")).await.unwrap(),
        None
    );
}

async fn a_discarded_id_can_be_stored_afterwards(backend: &impl Backend) {
    let files = files(backend.part_size());
    staged(backend.sink(), "v1", &files).await.discard().await;
    let manifest = store(backend.sink(), "v1", &files).await;
    assert_eq!(manifest.files().len(), files.len());
    assert_eq!(backend.visible().await.len(), files.len() + 1);
}

async fn a_repeated_name_becomes_stem_n_ext(backend: &impl Backend) {
    let file = |name, bytes| File {
        name,
        content_type: None,
        bytes: Bytes::from_static(bytes),
    };
    let files = [
        file("a.jpeg", b"1"),
        file("a.jpeg", b"2"),
        file("a.jpeg", b"3"),
        file("notes", b"4"),
        file("notes", b"5"),
    ];
    let manifest = store(backend.sink(), "v1", &files).await;
    let names: Vec<&str> = manifest.files().iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        ["a.jpeg", "a-2.jpeg", "a-3.jpeg", "notes", "notes-2"]
    );
    let visible = backend.visible().await;
    assert_eq!(visible["v1/a-3.jpeg"], Bytes::from_static(b"3"));
    assert_eq!(visible["v1/notes-2"], Bytes::from_static(b"5"));
}

async fn a_file_named_manifest_json_is_renamed(backend: &impl Backend) {
    let impostor = File {
        name: MANIFEST_JSON,
        content_type: Some("application/json"),
        bytes: Bytes::from_static(br#"{"not":"the manifest"}"#),
    };
    let manifest = store(backend.sink(), "v1", &[impostor]).await;
    assert_eq!(manifest.files()[0].name(), "manifest-2.json");
    let visible = backend.visible().await;
    assert_eq!(
        visible["v1/manifest-2.json"],
        Bytes::from_static(br#"{"not":"the manifest"}"#)
    );
    assert_eq!(
        Manifest::from_json(&visible["v1/manifest.json"]).unwrap(),
        manifest
    );
}

/// `handled.json` is written once, never over another, plain; a file of that name is renamed;
/// each file's location names its id and its stored name.
async fn the_handled_marker_is_written_once_beside_the_files(backend: &impl Backend) {
    let sink = backend.sink();
    let impostor = File {
        name: HANDLED_JSON,
        content_type: Some("application/json"),
        bytes: Bytes::from_static(br#"{"not":"the marker"}"#),
    };
    let manifest = store(sink, "v1", &[impostor]).await;
    assert_eq!(manifest.files()[0].name(), "handled-2.json");
    let id = support::vid("v1");
    assert!(!sink.is_handled(&id).await.unwrap());
    assert!(sink.mark_handled(&id).await.unwrap());
    assert!(sink.is_handled(&id).await.unwrap());
    let first = backend.visible().await[&format!("v1/{HANDLED_JSON}")].clone();
    let marker: serde_json::Value = serde_json::from_slice(&first).unwrap();
    assert_eq!(marker["id"], "v1");
    assert!(marker["handledAt"].is_string());
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(!sink.mark_handled(&id).await.unwrap());
    let visible = backend.visible().await;
    assert_eq!(visible[&format!("v1/{HANDLED_JSON}")], first);
    assert_eq!(visible.len(), 3, "{:?}", visible.keys());
    let stored_name = manifest.files()[0].stored_name();
    let location = sink.location(&id, stored_name);
    assert!(
        location.ends_with(&format!("v1/{stored_name}")),
        "{location}"
    );
    // Another id is not marked.
    assert!(!sink.is_handled(&support::vid("v2")).await.unwrap());
}

/// Ids and names that are not one safe path component.
const UNSAFE: [&str; 9] = [
    "", ".", "..", "../up", "a/b", "a\\b", ".hidden", "CON", "line\n",
];

/// A sink is only ever asked about a `VerificationId`, and none can be made of an unsafe id:
/// so no backend sees one, whatever its own paths allow.
async fn unsafe_ids_are_refused(backend: &impl Backend) {
    for id in UNSAFE {
        let refused = VerificationId::new(id).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::InvalidId, "{id:?}");
    }
    assert_eq!(backend.visible().await, BTreeMap::new());
}

async fn unsafe_file_names_are_refused(backend: &impl Backend) {
    let mut staging = backend.sink().stage(&support::vid("v1")).await.unwrap();
    for name in UNSAFE {
        let started = staging.start_file(name, None).await;
        assert_eq!(
            started.unwrap_err().kind(),
            ErrorKind::UnsafeName,
            "{name:?}"
        );
    }
    // A refused name leaves no file open.
    staging.start_file("ok.bin", None).await.unwrap();
    staging.end_file().await.unwrap();
    let manifest = stored(staging.commit().await.unwrap());
    assert_eq!(manifest.files().len(), 1);
    let keys: Vec<String> = backend.visible().await.into_keys().collect();
    assert_eq!(keys, ["v1/manifest.json", "v1/ok.bin"]);
}

async fn write_or_end_before_a_file_is_started_is_misuse(backend: &impl Backend) {
    let mut staging = backend.sink().stage(&support::vid("v1")).await.unwrap();
    let written = staging.write(Bytes::from_static(b"x")).await;
    assert_eq!(written.unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(
        staging.end_file().await.unwrap_err().kind(),
        ErrorKind::Usage
    );
    staging.discard().await;
    assert_eq!(backend.visible().await, BTreeMap::new());
}

async fn starting_a_file_while_one_is_open_is_misuse(backend: &impl Backend) {
    let mut staging = backend.sink().stage(&support::vid("v1")).await.unwrap();
    staging.start_file("a.bin", None).await.unwrap();
    let second = staging.start_file("b.bin", None).await;
    assert_eq!(second.unwrap_err().kind(), ErrorKind::Usage);
    staging.discard().await;
    assert_eq!(backend.visible().await, BTreeMap::new());
}

async fn a_commit_with_a_file_open_is_misuse_and_stores_nothing(backend: &impl Backend) {
    let mut staging = backend.sink().stage(&support::vid("v1")).await.unwrap();
    let image = noise(backend.part_size() + 1000, 3);
    staging.start_file("faceImage.jpeg", None).await.unwrap();
    staging.write(Bytes::from(image)).await.unwrap();
    assert_eq!(staging.commit().await.unwrap_err().kind(), ErrorKind::Usage);
    assert_eq!(backend.visible().await, BTreeMap::new());
    assert_eq!(backend.unfinished_uploads().await.unwrap_or(0), 0);
}

async fn of_two_writers_racing_on_one_id_one_stores_and_one_is_told_complete(
    backend: &impl Backend,
) {
    let files = files(backend.part_size());
    for round in 0..3 {
        let id = format!("race-{round}");
        let sink = backend.sink();
        let (a, b) = tokio::join!(staged(sink, &id, &files), staged(sink, &id, &files));
        let (a, b) = tokio::join!(a.commit(), b.commit());
        let (a, b) = (a.unwrap(), b.unwrap());
        let (winner, loser) = match (&a, &b) {
            (Committed::Stored(w), Committed::AlreadyComplete(l))
            | (Committed::AlreadyComplete(l), Committed::Stored(w)) => (w, l),
            _ => panic!("round {round}: {a:?} {b:?}"),
        };
        assert_eq!(loser, winner);
        assert_eq!(
            sink.manifest(&support::vid(&id)).await.unwrap().as_ref(),
            Some(winner)
        );
    }
    let visible = backend.visible().await;
    assert_eq!(visible.len(), 3 * (files.len() + 1));
    for file in &files {
        assert_eq!(visible[&format!("race-2/{}", file.name)], file.bytes);
    }
    assert!(
        uploads_settle(backend).await,
        "the loser's uploads are left"
    );
}

async fn a_commit_after_a_stored_one_is_already_complete_and_changes_nothing(
    backend: &impl Backend,
) {
    let first = files(backend.part_size());
    let manifest = store(backend.sink(), "v1", &first).await;
    let before = backend.visible().await;
    let mut other = files(backend.part_size());
    other[1].bytes = Bytes::from(noise(backend.part_size() + 1000, 99));
    let late = staged(backend.sink(), "v1", &other).await;
    assert_eq!(
        late.commit().await.unwrap(),
        Committed::AlreadyComplete(manifest)
    );
    assert_eq!(backend.visible().await, before);
    assert_eq!(backend.unfinished_uploads().await.unwrap_or(0), 0);
}

/// The keys of `visible` under `id/`.
fn under<'a>(visible: &'a BTreeMap<String, Bytes>, id: &str) -> Vec<&'a str> {
    let prefix = format!("{id}/");
    visible
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .map(String::as_str)
        .collect()
}

/// An erase takes the manifest, every file and the handled marker of its id, and nothing of
/// another id (not even one it is a prefix of); the id then reads as not stored and not handled.
async fn an_erase_leaves_nothing_under_the_id_and_the_others_whole(backend: &impl Backend) {
    let sink = backend.sink();
    let files = files(backend.part_size());
    store(sink, "v1", &files).await;
    assert!(sink.mark_handled(&support::vid("v1")).await.unwrap());
    // `v10` starts with `v1`: only whole path segments are the id's.
    store(sink, "v10", &files).await;
    let before = backend.visible().await;
    assert_eq!(under(&before, "v1").len(), 5, "{:?}", before.keys());

    let erased = erase(sink, &support::vid("v1")).await.unwrap();
    // Three files, the manifest and the marker.
    assert_eq!(erased, Erased::Erased { objects: 5 });
    let after = backend.visible().await;
    assert_eq!(under(&after, "v1"), Vec::<&str>::new());
    let others: BTreeMap<_, _> = before
        .into_iter()
        .filter(|(k, _)| k.starts_with("v10/"))
        .collect();
    assert_eq!(after, others);
    assert_eq!(sink.manifest(&support::vid("v1")).await.unwrap(), None);
    assert!(!sink.is_handled(&support::vid("v1")).await.unwrap());
    assert!(uploads_settle(backend).await);
}

async fn an_absent_id_and_a_second_erase_are_absent(backend: &impl Backend) {
    let sink = backend.sink();
    assert_eq!(
        erase(sink, &support::vid("nobody")).await.unwrap(),
        Erased::Absent
    );
    store(sink, "v1", &files(backend.part_size())).await;
    assert!(matches!(
        erase(sink, &support::vid("v1")).await.unwrap(),
        Erased::Erased { objects: 4 }
    ));
    assert_eq!(
        erase(sink, &support::vid("v1")).await.unwrap(),
        Erased::Absent
    );
    assert_eq!(backend.visible().await, BTreeMap::new());
}

/// Files without a manifest (a writer that failed before it) are erased all the same.
async fn a_half_stored_id_is_erased(backend: &impl Backend) {
    let sink = backend.sink();
    backend
        .plant("v1", "faceImage.jpeg", b"\xff\xd8\xff\xd9")
        .await;
    backend.plant("v1", "result.json", b"{}").await;
    assert_eq!(sink.manifest(&support::vid("v1")).await.unwrap(), None);
    assert_eq!(
        erase(sink, &support::vid("v1")).await.unwrap(),
        Erased::Erased { objects: 2 }
    );
    assert_eq!(backend.visible().await, BTreeMap::new());
}

/// After an erase, a writer of the id stores it again, whole: no leftover is taken for its
/// record.
async fn an_erased_id_is_stored_again_whole(backend: &impl Backend) {
    let sink = backend.sink();
    let files = files(backend.part_size());
    store(sink, "v1", &files).await;
    erase(sink, &support::vid("v1")).await.unwrap();
    let manifest = store(sink, "v1", &files).await;
    let visible = backend.visible().await;
    for file in &files {
        assert_eq!(
            visible[&format!("v1/{}", file.name)],
            file.bytes,
            "{}",
            file.name
        );
    }
    assert_eq!(
        Manifest::from_json(&visible["v1/manifest.json"]).unwrap(),
        manifest
    );
    assert_eq!(visible.len(), files.len() + 1);
}

/// `stored` lists every id with anything under it: a complete one with its manifest's time,
/// a half-stored one as incomplete.
async fn stored_lists_each_id_with_its_manifests_time(backend: &impl Backend) {
    let sink = backend.sink();
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    store(sink, "v1", &files(backend.part_size())).await;
    backend.plant("v2", "result.json", b"{}").await;
    let listed = authenteq_export::store::stored(sink).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|s| s.id().as_str()).collect();
    assert_eq!(ids, ["v1", "v2"]);
    let at = listed[0].written_at().expect("a dated manifest");
    assert!(at >= before && at <= chrono::Utc::now(), "{at}");
    assert!(listed[0].written_before(chrono::Utc::now() + chrono::Duration::seconds(1)));
    assert!(!listed[0].written_before(before));
    assert!(matches!(listed[1].written(), Written::Incomplete));
    assert!(!listed[1].written_before(chrono::Utc::now()));
}

/// A discarded staging of a folder leaves no folder for its id.
#[test]
fn a_folder_discard_leaves_no_id_folder() {
    let backend = Folder::open("a_folder_discard_leaves_no_id_folder").unwrap();
    support::runtime().block_on(async {
        let staging = staged(backend.sink(), "v1", &files(backend.part_size())).await;
        staging.discard().await;
    });
    assert_eq!(entries(backend.dir.path()), Vec::<String>::new());
}

/// A dropped staging of a folder leaves no folder for its id.
#[test]
fn a_folder_drop_leaves_no_id_folder() {
    let backend = Folder::open("a_folder_drop_leaves_no_id_folder").unwrap();
    support::runtime().block_on(async {
        drop(staged(backend.sink(), "v1", &files(backend.part_size())).await);
    });
    assert_eq!(entries(backend.dir.path()), Vec::<String>::new());
}

/// The names in folder `dir`.
fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// An `ObjectSink` with S3's versioned requests into a new bucket of `moto`, made by `make`.
fn s3_sink(
    moto: &support::moto::Moto,
    bucket: &str,
    make: fn(&support::moto::Moto, &str),
) -> ObjectSink {
    make(moto, bucket);
    ObjectSink::new(Arc::new(moto.store(bucket)), "p")
        .hold_bytes(64 << 10)
        .s3(S3Uploads::new(&moto.builder(bucket)).unwrap())
}

/// In a versioned bucket an erase deletes every version and delete marker under the id (an
/// overwritten file's old version, a marker over a deleted one), not just what is current.
#[test]
fn in_a_versioned_bucket_an_erase_leaves_no_version_or_delete_marker() {
    let test = "in_a_versioned_bucket_an_erase_leaves_no_version_or_delete_marker";
    let Some(moto) = shared_moto(test) else {
        return;
    };
    let sink = s3_sink(&moto, "versioned", support::moto::Moto::versioned_bucket);
    support::runtime().block_on(async {
        let files = files(1 << 10);
        store(&sink, "v1", &files).await;
        store(&sink, "v2", &files).await;
        plant_object(&sink, "v1", "result.json", br#"{"id":"v1","again":true}"#).await;
        let notes = object_store::path::Path::from("p/v1/notes");
        sink.store().delete(&notes).await.unwrap();
        let before = moto.versions("versioned", "p/v1/");
        // Four current objects and an old result, the notes under a delete marker.
        assert_eq!(before.len(), 6, "{before:?}");
        assert!(before.contains(&("p/v1/notes".to_owned(), true)));

        let erased = erase(&sink, &support::vid("v1")).await.unwrap();
        assert_eq!(erased, Erased::Erased { objects: 6 });
        assert_eq!(moto.versions("versioned", "p/v1/"), Vec::new());
        assert_eq!(moto.versions("versioned", "p/v2/").len(), 4);
        assert_eq!(
            erase(&sink, &support::vid("v1")).await.unwrap(),
            Erased::Absent
        );
        // Stored again, whole.
        store(&sink, "v1", &files).await;
        assert_eq!(listed(&**sink.store(), "p/v1").await.len(), 4);
    });
}

/// A version under a COMPLIANCE retention cannot be deleted: its id is held, with everything
/// else under it gone and nothing of it readable; the ids next to it are erased.
#[test]
fn an_id_under_a_compliance_lock_is_held_and_the_others_erased() {
    let test = "an_id_under_a_compliance_lock_is_held_and_the_others_erased";
    let Some(moto) = shared_moto(test) else {
        return;
    };
    let sink = s3_sink(&moto, "locked", support::moto::Moto::locked_bucket);
    support::runtime().block_on(async {
        let files = files(1 << 10);
        for id in ["v1", "v2", "v3"] {
            store(&sink, id, &files).await;
        }
        moto.put_locked("locked", "p/v2/result.json", br#"{"id":"v2"}"#);

        assert_eq!(
            erase(&sink, &support::vid("v1")).await.unwrap(),
            Erased::Erased { objects: 4 }
        );
        let held = erase(&sink, &support::vid("v2")).await.unwrap();
        assert_eq!(
            held,
            Erased::Held {
                objects: 4,
                held: 1
            }
        );
        assert_eq!(
            erase(&sink, &support::vid("v3")).await.unwrap(),
            Erased::Erased { objects: 4 }
        );
        // What is held reads as absent, under a delete marker.
        assert_eq!(sink.manifest(&support::vid("v2")).await.unwrap(), None);
        assert_eq!(listed(&**sink.store(), "p").await, BTreeMap::new());
        assert_eq!(
            moto.versions("locked", "p/"),
            [
                ("p/v2/result.json".to_owned(), false),
                ("p/v2/result.json".to_owned(), true)
            ]
        );
        // Again: still held, nothing more to delete.
        assert_eq!(
            erase(&sink, &support::vid("v2")).await.unwrap(),
            Erased::Held {
                objects: 0,
                held: 1
            }
        );
    });
}

/// An unfinished upload under the id (a killed writer's) is aborted; one under another id is
/// not.
#[test]
fn an_erase_aborts_the_unfinished_uploads_under_the_id() {
    let test = "an_erase_aborts_the_unfinished_uploads_under_the_id";
    let Some(moto) = shared_moto(test) else {
        return;
    };
    let sink = s3_sink(&moto, "uploads", support::moto::Moto::bucket);
    support::runtime().block_on(async {
        for id in ["v1", "v2"] {
            let key = object_store::path::Path::from(format!("p/{id}/faceImage.jpeg"));
            let mut upload = sink.store().put_multipart(&key).await.unwrap();
            upload
                .put_part(Bytes::from(noise(MIN_PART_SIZE, 1)).into())
                .await
                .unwrap();
            // Never completed nor aborted: what a killed process leaves.
            std::mem::forget(upload);
        }
        assert_eq!(moto.unfinished_uploads("uploads"), 2);
        assert_eq!(
            erase(&sink, &support::vid("v1")).await.unwrap(),
            Erased::Erased { objects: 1 }
        );
        assert_eq!(moto.unfinished_uploads("uploads"), 1);
    });
}
