//! The trust cache `<trust-dir>/tuf/<GUN>/metadata/`: metadata that already verified.
//!
//! It is what rollback protection remembers (the versions last seen) and what makes a warm `get`
//! cheap. Files are written only after verification, atomically (temp file, fsync, rename,
//! directory fsync), under a per-GUN lock, so a crash or a concurrent run leaves each file either
//! entirely old or entirely new. Symlinks are refused: the cache must be our own files.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::error::NotaryError;
use crate::tuf::remembered::{CachedFile, SharedFile};

/// The cache of one GUN.
#[derive(Debug, Clone)]
pub struct TrustCache {
    dir: PathBuf,
}

/// Proof that the per-GUN lock is held; released on drop.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> NotaryError + '_ {
    move |source| NotaryError::CacheIo {
        path: path.to_owned(),
        source,
    }
}

/// `role` if it is a role name that stays inside the cache directory.
fn checked_role<'a>(dir: &Path, role: &'a str) -> Result<&'a str, NotaryError> {
    if role.is_empty()
        || role
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(NotaryError::Cache {
            path: dir.to_owned(),
            reason: format!("{role:?} is not a role name"),
        });
    }
    Ok(role)
}

/// Create `dir` and missing parents with mode 0700.
fn create_private_dir(dir: &Path) -> Result<(), NotaryError> {
    crate::fs::create_private_dir(dir).map_err(io_err(dir))
}

impl TrustCache {
    /// Open (creating) the cache of `gun` under `trust_dir`. The GUN is used as a relative path,
    /// so it must come from the validated reference parser (no `..`, no leading `/`).
    pub fn open(trust_dir: &Path, gun: &str) -> Result<TrustCache, NotaryError> {
        if gun
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(NotaryError::Cache {
                path: trust_dir.to_owned(),
                reason: format!("{gun:?} cannot be used as a cache path"),
            });
        }
        let dir = trust_dir.join("tuf").join(gun).join("metadata");
        create_private_dir(&dir)?;
        Ok(TrustCache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<trust-dir>/tuf/<GUN>`: everything this cache holds for the GUN. Removing it makes the
    /// next run trust the server's root again (on first use, or by the pinned certificate).
    pub fn gun_dir(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    /// Where the cached file of `role` lives (for messages; it need not exist).
    pub fn role_path(&self, role: &str) -> Result<PathBuf, NotaryError> {
        self.path_of(role)
    }

    /// Take the per-GUN lock, waiting at most `timeout`. The lock is an OS file lock, so a
    /// holder killed with SIGKILL releases it.
    pub fn lock(&self, timeout: Duration) -> Result<CacheLock, NotaryError> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        let deadline = Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(CacheLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(NotaryError::LockTimeout {
                        path,
                        seconds: timeout.as_secs(),
                    });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io_err(&path)(e)),
            }
        }
    }

    fn path_of(&self, role: &str) -> Result<PathBuf, NotaryError> {
        Ok(self
            .dir
            .join(format!("{}.json", checked_role(&self.dir, role)?)))
    }

    /// Where the memo of an earlier verification of `role` lives: `verified/<role>.memo`
    /// beside `metadata/` (see `tuf::remembered`).
    fn memo_path(&self, role: &str) -> Result<PathBuf, NotaryError> {
        let role = checked_role(&self.dir, role)?;
        Ok(self.gun_dir().join("verified").join(format!("{role}.memo")))
    }

    /// The memo of `role`, to be read in pieces as [`open_role`](Self::open_role) reads a role
    /// file, or `None` when there is none (or it is not a regular file).
    pub fn open_memo(&self, role: &str) -> Result<Option<SharedFile>, NotaryError> {
        CachedAt::open(self.memo_path(role)?)
    }

    /// Replace the memo of `role` atomically.
    pub fn write_memo(
        &self,
        lock: &CacheLock,
        role: &str,
        bytes: &[u8],
    ) -> Result<(), NotaryError> {
        write_atomic(lock, &self.memo_path(role)?, bytes)
    }

    /// The cached bytes of `role`, if any. A symlink or a non-file is a corrupt cache.
    pub fn read(&self, role: &str) -> Result<Option<Vec<u8>>, NotaryError> {
        let path = self.path_of(role)?;
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
            Ok(meta) if !meta.file_type().is_file() => {
                return Err(NotaryError::Cache {
                    path,
                    reason: "is not a regular file (a symlink?); remove it to refetch".into(),
                });
            }
            Ok(_) => {}
        }
        std::fs::read(&path).map(Some).map_err(io_err(&path))
    }

    /// The cached file of `role`, to be read in pieces (see `tuf::remembered`), or `None` when
    /// there is none. The first [`MAX_HELD`] files a process opens this way stay open, and their
    /// pieces come from the file as opened; past that, each read opens the file anew (a walk over
    /// thousands of remembered bins runs out of no descriptors), and a read after a concurrent
    /// run replaced the file (by rename, a new inode) fails, so the role is loaded afresh. A
    /// memo's pieces are therefore always from the memo whose header was read, never from a
    /// newer one.
    pub fn open_role(&self, role: &str) -> Result<Option<SharedFile>, NotaryError> {
        CachedAt::open(self.path_of(role)?)
    }

    /// Replace `role` atomically. Needs the lock, so two runs never interleave their writes.
    pub fn write(&self, lock: &CacheLock, role: &str, bytes: &[u8]) -> Result<(), NotaryError> {
        let path = self.path_of(role)?;
        write_atomic(lock, &path, bytes)
    }

    /// Roles with a cached file: the top-level ones and every `targets/…` delegation.
    pub fn cached_roles(&self) -> Result<Vec<String>, NotaryError> {
        let mut roles = Vec::new();
        let mut dirs = vec![(self.dir.clone(), String::new())];
        while let Some((dir, prefix)) = dirs.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err(&dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io_err(&dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let kind = entry.file_type().map_err(io_err(&dir))?;
                if kind.is_dir() && !name.starts_with('.') {
                    dirs.push((entry.path(), format!("{prefix}{name}/")));
                } else if let Some(role) = name
                    .strip_suffix(".json")
                    .filter(|_| !name.starts_with('.'))
                {
                    roles.push(format!("{prefix}{role}"));
                }
            }
        }
        roles.sort();
        Ok(roles)
    }

    /// Bookkeeping next to the metadata (e.g. `versions`: the highest versions ever trusted).
    pub fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, NotaryError> {
        let path = self.state_path(name);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
            Ok(meta) if !meta.file_type().is_file() => Err(NotaryError::Cache {
                path,
                reason: "is not a regular file".into(),
            }),
            Ok(_) => std::fs::read(&path).map(Some).map_err(io_err(&path)),
        }
    }

    pub fn write_state(
        &self,
        lock: &CacheLock,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), NotaryError> {
        write_atomic(lock, &self.state_path(name), bytes)
    }

    /// Where the bookkeeping file `name` lives (for messages; it need not exist).
    pub fn state_path(&self, name: &str) -> PathBuf {
        self.dir
            .parent()
            .unwrap_or(&self.dir)
            .join(format!("{name}.json"))
    }

    /// Forget `role` (e.g. after a key rotation made its cached copy meaningless).
    pub fn remove(&self, _lock: &CacheLock, role: &str) -> Result<(), NotaryError> {
        let path = self.path_of(role)?;
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(&path)(e)),
            _ => Ok(()),
        }
    }
}

/// Atomically replace `path` (mode 0600) in its private directory.
fn write_atomic(_lock: &CacheLock, path: &Path, bytes: &[u8]) -> Result<(), NotaryError> {
    let dir = path.parent().expect("cache paths have a parent");
    create_private_dir(dir)?;
    crate::fs::write_atomic(path, bytes, 0o600).map_err(io_err(path))
}

/// `path` opened for reading if it is a regular file; `None` when it does not exist, is a
/// symlink (not followed) or is not a regular file (the role is then verified in full, or
/// fetched again). One path lookup: a read touches a file per bin it uses.
fn open_regular(path: &Path) -> Result<Option<(File, std::fs::Metadata)>, NotaryError> {
    let opened = OpenOptions::new()
        .read(true)
        // Non-blocking, so a FIFO put in the cache's place cannot hang the open; a regular
        // file reads as usual.
        .custom_flags(
            (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK)
                .bits()
                .cast_signed(),
        )
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // ELOOP: the last component is a symlink.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Ok(None);
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let meta = file.metadata().map_err(io_err(path))?;
    Ok(meta.file_type().is_file().then_some((file, meta)))
}

/// How many cached files a process keeps open for reading in pieces. A `verify` of 100 images
/// in a sharded repository reads about 80 bins and their memos, a few pieces each: holding them
/// saves a path lookup per piece. Past this many (a walk over thousands of bins), each read opens
/// its file anew, so no walk runs out of descriptors.
const MAX_HELD: usize = 256;

/// Cached files currently held open by a [`CachedAt`].
static HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A cached file read in pieces at their offsets.
struct CachedAt {
    path: PathBuf,
    len: u64,
    /// The file's device and inode when it was opened: a read finds the same file or nothing.
    id: (u64, u64),
    /// The file as opened, while fewer than [`MAX_HELD`] are held: reads then come from this
    /// very file, whatever has been renamed over its path since.
    held: Option<File>,
}

impl CachedAt {
    /// The regular file at `path` as it is now (its length), or `None` (see [`open_regular`]), held open while fewer than [`MAX_HELD`] are.
    fn open(path: PathBuf) -> Result<Option<SharedFile>, NotaryError> {
        use std::sync::atomic::Ordering;
        let Some((file, meta)) = open_regular(&path)? else {
            return Ok(None);
        };
        let (len, id) = (meta.len(), (meta.dev(), meta.ino()));
        let held = (HELD.fetch_add(1, Ordering::Relaxed) < MAX_HELD)
            .then_some(file)
            .or_else(|| {
                HELD.fetch_sub(1, Ordering::Relaxed);
                None
            });
        Ok(Some(std::sync::Arc::new(CachedAt {
            path,
            len,
            id,
            held,
        })))
    }
}

impl Drop for CachedAt {
    fn drop(&mut self) {
        if self.held.is_some() {
            HELD.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl CachedFile for CachedAt {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0; len];
        if let Some(file) = &self.held {
            file.read_exact_at(&mut buf, offset).ok()?;
            return Some(buf);
        }
        let (file, meta) = open_regular(&self.path).ok()??;
        if (meta.dev(), meta.ino()) != self.id || meta.len() != self.len {
            return None;
        }
        file.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_are_atomic_private_and_readable_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TrustCache::open(dir.path(), "127.0.0.1:5000/team/app").unwrap();
        let lock = cache.lock(Duration::from_secs(1)).unwrap();
        cache.write(&lock, "timestamp", b"v1").unwrap();
        cache.write(&lock, "timestamp", b"v2").unwrap();
        cache.write(&lock, "targets/qa", b"qa").unwrap();
        assert_eq!(cache.read("timestamp").unwrap().unwrap(), b"v2");
        assert_eq!(cache.read("targets/qa").unwrap().unwrap(), b"qa");
        assert_eq!(cache.read("snapshot").unwrap(), None);
        let mode = std::fs::metadata(cache.dir().join("timestamp.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let leftovers: Vec<_> = std::fs::read_dir(cache.dir())
            .unwrap()
            .filter_map(std::result::Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "no temp files left behind");
    }

    #[test]
    fn roles_opened_for_pieces_hold_a_bounded_number_of_descriptors_and_read_only_what_was_opened()
    {
        let dir = tempfile::tempdir().unwrap();
        let cache = TrustCache::open(dir.path(), "127.0.0.1:5000/team/app").unwrap();
        let lock = cache.lock(Duration::from_secs(1)).unwrap();
        cache.write(&lock, "targets/qa/3f", b"0123456789").unwrap();
        let open_fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
        let before = open_fds();
        let files: Vec<SharedFile> = (0..MAX_HELD + 200)
            .map(|_| cache.open_role("targets/qa/3f").unwrap().unwrap())
            .collect();
        assert!(
            open_fds() < before + MAX_HELD + 100,
            "a walk over many bins holds at most {MAX_HELD} files open"
        );
        let (first, last) = (&files[0], &files[files.len() - 1]);
        for file in [first, last] {
            assert_eq!(file.size(), 10);
            assert_eq!(file.read_at(3, 4).unwrap(), b"3456");
            assert_eq!(file.read_at(8, 4), None, "a short read is no piece");
        }
        // Replaced by another run: a held file still reads the bytes it opened; one opened past
        // the bound finds another file and reads nothing. Either way a memo's pieces never mix
        // with a newer memo's.
        cache.write(&lock, "targets/qa/3f", b"abcdefghij").unwrap();
        assert_eq!(first.read_at(3, 4).unwrap(), b"3456");
        assert_eq!(last.read_at(3, 4), None);
        let now = cache.open_role("targets/qa/3f").unwrap().unwrap();
        assert_eq!(now.read_at(3, 4).unwrap(), b"defg");
        drop(files);
        assert!(open_fds() < before + 50, "dropped files close");
        assert!(cache.open_role("targets/qa/9a").unwrap().is_none());
        std::os::unix::fs::symlink(
            cache.dir().join("targets/qa/3f.json"),
            cache.dir().join("targets/qa/9a.json"),
        )
        .unwrap();
        assert!(
            cache.open_role("targets/qa/9a").unwrap().is_none(),
            "a symlink is not followed"
        );
    }

    #[test]
    fn a_symlinked_cache_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TrustCache::open(dir.path(), "r/x").unwrap();
        std::fs::write(dir.path().join("evil"), b"{}").unwrap();
        std::os::unix::fs::symlink(dir.path().join("evil"), cache.dir().join("root.json")).unwrap();
        let err = cache.read("root").unwrap_err();
        assert_eq!(err.failure(), crate::failure::Failure::LocalState);
    }

    #[test]
    fn path_escapes_in_gun_or_role_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let is_refused_path =
            |r: Result<_, NotaryError>| matches!(r, Err(NotaryError::Cache { .. }));
        assert!(is_refused_path(
            TrustCache::open(dir.path(), "r/../../etc").map(drop)
        ));
        let cache = TrustCache::open(dir.path(), "r/x").unwrap();
        assert!(is_refused_path(cache.read("../root").map(drop)));
        assert!(is_refused_path(cache.read("targets//x").map(drop)));
    }

    #[test]
    fn a_second_lock_waits_then_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TrustCache::open(dir.path(), "r/x").unwrap();
        let _held = cache.lock(Duration::from_secs(1)).unwrap();
        let err = cache.lock(Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, NotaryError::LockTimeout { .. }));
        assert_eq!(err.failure().exit_code(), 8);
    }
}
