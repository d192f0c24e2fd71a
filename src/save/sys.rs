//! The file-system calls behind `OutputDir`, one implementation per platform family.
//!
//! Linux works relative to an open descriptor of the folder (so a folder renamed or replaced
//! while files are saved is not followed): a new file is an `O_TMPFILE` inode with no name, given
//! its name by `linkat`, which fails rather than replace an existing name. Where the file system
//! has no `O_TMPFILE`, the file is written under a hidden temporary name and moved with
//! `renameat2(RENAME_NOREPLACE)` (or, where that is missing too, hard-linked and unlinked).
//!
//! Elsewhere the portable fallback uses paths: a hidden temporary name, then `hard_link` (which
//! never replaces a name) and removal of the temporary name.

use std::io;

/// What `Dir::publish` did.
#[derive(Debug)]
pub(super) enum Published {
    /// The file now has the name.
    Done,
    /// The name is taken; the file still has none (or only its temporary one).
    Taken,
}

/// What `Dir::open_existing` found under a name.
#[derive(Debug)]
pub(super) enum Found {
    /// No entry.
    Missing,
    /// A regular file, opened for reading, with its size.
    File(std::fs::File, u64),
    /// Anything else (a link, a folder, a FIFO), or an entry that cannot be opened.
    Other,
}

/// The hidden name of a file being written, where one is needed: safe names never start with
/// a dot, so it cannot collide with a saved file.
fn temp_name(counter: u64) -> String {
    format!(".partial-{}-{counter}", std::process::id())
}

/// Whether `e` says the name exists.
fn is_taken(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::AlreadyExists
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, CWD};
    use rustix::io::Errno;

    use super::{is_taken, temp_name, Found, Published};

    /// An open folder.
    #[derive(Debug)]
    pub(in crate::save) struct Dir {
        fd: OwnedFd,
        /// Cleared once the file system refused `O_TMPFILE`, to stop asking.
        tmpfile: AtomicBool,
        /// Cleared once it refused `RENAME_NOREPLACE`.
        noreplace: AtomicBool,
        counter: AtomicU64,
    }

    /// A file being written.
    #[derive(Debug)]
    pub(in crate::save) struct Temp {
        pub(in crate::save) file: File,
        /// Its hidden name, for a file system without `O_TMPFILE`; `None` once moved.
        name: Option<String>,
    }

    impl Dir {
        pub(in crate::save) fn open(path: &Path) -> io::Result<Dir> {
            let fd = rustix::fs::open(
                path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Ok(Dir {
                fd,
                tmpfile: AtomicBool::new(true),
                noreplace: AtomicBool::new(true),
                counter: AtomicU64::new(0),
            })
        }

        /// A new, empty file with no name (or a hidden one), readable and writable by `mode`
        /// (less the umask).
        pub(in crate::save) fn create_temp(&self, mode: u32) -> io::Result<Temp> {
            let mode = Mode::from_raw_mode(mode & 0o7777);
            if self.tmpfile.load(Ordering::Relaxed) {
                let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
                match rustix::fs::openat(&self.fd, ".", flags, mode) {
                    Ok(fd) => {
                        return Ok(Temp {
                            file: File::from(fd),
                            name: None,
                        })
                    }
                    // No O_TMPFILE in this file system (EOPNOTSUPP) or kernel (EISDIR).
                    Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => {
                        self.tmpfile.store(false, Ordering::Relaxed);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            self.create_named_temp(mode)
        }

        fn create_named_temp(&self, mode: Mode) -> io::Result<Temp> {
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            loop {
                let name = temp_name(self.counter.fetch_add(1, Ordering::Relaxed));
                match rustix::fs::openat(&self.fd, name.as_str(), flags, mode) {
                    Ok(fd) => {
                        return Ok(Temp {
                            file: File::from(fd),
                            name: Some(name),
                        })
                    }
                    Err(Errno::EXIST) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }

        /// Gives the (synced) file `name` in this folder, unless the name is taken; `from` is
        /// the folder the file was created in (on the same file system).
        pub(in crate::save) fn publish(
            &self,
            from: &Dir,
            temp: &mut Temp,
            name: &str,
        ) -> io::Result<Published> {
            let done = match &temp.name {
                None => self.link_anonymous(&temp.file, name),
                Some(hidden) => self.move_named(from, hidden, name),
            };
            match done {
                Ok(()) => {
                    temp.name = None;
                    Ok(Published::Done)
                }
                Err(e) if is_taken(&e) => Ok(Published::Taken),
                Err(e) => Err(e),
            }
        }

        /// `linkat` of an `O_TMPFILE` file: by its descriptor (`AT_EMPTY_PATH`, which needs
        /// `CAP_DAC_READ_SEARCH` on older kernels), else through `/proc/self/fd`.
        fn link_anonymous(&self, file: &File, name: &str) -> io::Result<()> {
            match rustix::fs::linkat(file.as_fd(), "", &self.fd, name, AtFlags::EMPTY_PATH) {
                Err(Errno::NOENT | Errno::PERM | Errno::ACCESS) => {
                    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
                    rustix::fs::linkat(
                        CWD,
                        proc_path.as_str(),
                        &self.fd,
                        name,
                        AtFlags::SYMLINK_FOLLOW,
                    )
                    .map_err(io::Error::from)
                }
                other => other.map_err(io::Error::from),
            }
        }

        /// `renameat2(RENAME_NOREPLACE)` of a hidden name in `from`, else `linkat` and
        /// `unlinkat`.
        fn move_named(&self, from: &Dir, hidden: &str, name: &str) -> io::Result<()> {
            if self.noreplace.load(Ordering::Relaxed) {
                match rustix::fs::renameat_with(
                    &from.fd,
                    hidden,
                    &self.fd,
                    name,
                    RenameFlags::NOREPLACE,
                ) {
                    Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                        self.noreplace.store(false, Ordering::Relaxed);
                    }
                    other => return other.map_err(io::Error::from),
                }
            }
            rustix::fs::linkat(&from.fd, hidden, &self.fd, name, AtFlags::empty())?;
            // The file has its name: a failure to drop the hidden one loses nothing.
            let _ = rustix::fs::unlinkat(&from.fd, hidden, AtFlags::empty());
            Ok(())
        }

        /// Removes what is left of a file that was not published: its hidden name, if any (an
        /// `O_TMPFILE` file goes away when closed).
        pub(in crate::save) fn discard(&self, temp: Temp) {
            if let Some(name) = &temp.name {
                let _ = rustix::fs::unlinkat(&self.fd, name.as_str(), AtFlags::empty());
            }
        }

        /// The entry `name`: a regular file is opened for reading, without following a
        /// symbolic link (and without blocking on a FIFO).
        pub(in crate::save) fn open_existing(&self, name: &str) -> io::Result<Found> {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            let fd = match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Ok(Found::Missing),
                Err(_) => return Ok(Found::Other),
            };
            let stat = rustix::fs::fstat(&fd)?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Ok(Found::Other);
            }
            Ok(Found::File(File::from(fd), stat.st_size as u64))
        }

        /// Makes the folder's new entries durable.
        pub(in crate::save) fn sync(&self) -> io::Result<()> {
            rustix::fs::fsync(&self.fd).map_err(io::Error::from)
        }

        /// Stops using `O_TMPFILE`, as on a file system without it (for tests of the fallback).
        #[cfg(test)]
        pub(in crate::save) fn without_tmpfile(self) -> Self {
            self.tmpfile.store(false, Ordering::Relaxed);
            self
        }

        /// Stops using `RENAME_NOREPLACE` too (for tests of the last fallback).
        #[cfg(test)]
        pub(in crate::save) fn without_noreplace(self) -> Self {
            self.noreplace.store(false, Ordering::Relaxed);
            self
        }
    }

    impl Temp {
        /// Whether the file has a hidden name.
        #[cfg(test)]
        pub(in crate::save) fn is_named(&self) -> bool {
            self.name.is_some()
        }
    }
}

// Built for tests on Linux too, so that it is checked there.
#[cfg(any(not(target_os = "linux"), test))]
mod portable {
    use std::fs::{self, File, OpenOptions};
    use std::io;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::{is_taken, temp_name, Found, Published};

    /// A folder, by its path.
    #[derive(Debug)]
    pub(in crate::save) struct Dir {
        path: PathBuf,
        counter: AtomicU64,
    }

    /// A file being written, under a hidden name.
    #[derive(Debug)]
    pub(in crate::save) struct Temp {
        pub(in crate::save) file: File,
        /// `None` once it has its name.
        path: Option<PathBuf>,
    }

    impl Dir {
        pub(in crate::save) fn open(path: &Path) -> io::Result<Dir> {
            if !fs::metadata(path)?.is_dir() {
                return Err(io::Error::other("not a directory"));
            }
            Ok(Dir {
                path: path.to_owned(),
                counter: AtomicU64::new(0),
            })
        }

        pub(in crate::save) fn create_temp(&self, mode: u32) -> io::Result<Temp> {
            loop {
                let path = self
                    .path
                    .join(temp_name(self.counter.fetch_add(1, Ordering::Relaxed)));
                let mut options = OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode & 0o7777);
                #[cfg(not(unix))]
                let _ = mode;
                match options.open(&path) {
                    Ok(file) => {
                        return Ok(Temp {
                            file,
                            path: Some(path),
                        })
                    }
                    Err(e) if is_taken(&e) => continue,
                    Err(e) => return Err(e),
                }
            }
        }

        /// A hard link never replaces a name, so nothing is overwritten; a file system without
        /// hard links cannot save safely and gives an error. The hidden name is a whole path,
        /// so the folder it was made in (`_from`) is not needed.
        pub(in crate::save) fn publish(
            &self,
            _from: &Dir,
            temp: &mut Temp,
            name: &str,
        ) -> io::Result<Published> {
            let Some(hidden) = &temp.path else {
                return Err(io::Error::other("file already saved"));
            };
            match fs::hard_link(hidden, self.path.join(name)) {
                Ok(()) => {
                    let _ = fs::remove_file(hidden);
                    temp.path = None;
                    Ok(Published::Done)
                }
                Err(e) if is_taken(&e) => Ok(Published::Taken),
                Err(e) => Err(e),
            }
        }

        pub(in crate::save) fn discard(&self, temp: Temp) {
            if let Some(path) = &temp.path {
                let _ = fs::remove_file(path);
            }
        }

        /// The entry `name`: a regular file is opened for reading, a link is not followed.
        /// (Between the look and the open the entry could change: the folder is the caller's.)
        pub(in crate::save) fn open_existing(&self, name: &str) -> io::Result<Found> {
            let path = self.path.join(name);
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => match File::open(&path) {
                    Ok(file) => Ok(Found::File(file, meta.len())),
                    Err(_) => Ok(Found::Other),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Missing),
                _ => Ok(Found::Other),
            }
        }

        pub(in crate::save) fn sync(&self) -> io::Result<()> {
            #[cfg(unix)]
            File::open(&self.path)?.sync_all()?;
            Ok(())
        }
    }
}

#[cfg(target_os = "linux")]
pub(super) use linux::{Dir, Temp};
#[cfg(not(target_os = "linux"))]
pub(super) use portable::{Dir, Temp};

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::{portable, Found, Published};

    #[test]
    fn portable_fallback_links_whole_files_and_never_replaces() {
        let folder = tempfile::tempdir().unwrap();
        let dir = portable::Dir::open(folder.path()).unwrap();
        let mut temp = dir.create_temp(0o600).unwrap();
        temp.file.write_all(b"bytes").unwrap();
        let names = || -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(folder.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        assert!(names()[0].starts_with(".partial-"), "{:?}", names());
        std::fs::write(folder.path().join("taken"), b"other").unwrap();
        assert!(matches!(
            dir.publish(&dir, &mut temp, "taken").unwrap(),
            Published::Taken
        ));
        assert!(matches!(
            dir.publish(&dir, &mut temp, "free").unwrap(),
            Published::Done
        ));
        dir.discard(temp);
        dir.sync().unwrap();
        assert_eq!(names(), ["free", "taken"]);
        assert_eq!(std::fs::read(folder.path().join("free")).unwrap(), b"bytes");
        assert_eq!(
            std::fs::read(folder.path().join("taken")).unwrap(),
            b"other"
        );
        assert!(matches!(
            dir.open_existing("free").unwrap(),
            Found::File(_, 5)
        ));
        assert!(matches!(dir.open_existing("none").unwrap(), Found::Missing));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(folder.path().join("free"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            std::os::unix::fs::symlink("free", folder.path().join("link")).unwrap();
            assert!(matches!(dir.open_existing("link").unwrap(), Found::Other));
        }
        // Dropped unpublished: the hidden name goes.
        let temp = dir.create_temp(0o600).unwrap();
        dir.discard(temp);
        assert!(names().iter().all(|n| !n.starts_with('.')), "{:?}", names());
    }
}
