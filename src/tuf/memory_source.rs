//! Test-only: an in-memory [`MetadataSource`] that records every request, and a `block_on` for
//! its always-ready futures (the TUF core stays free of an async runtime, even in tests).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};

use super::metadata::FileMeta;
use super::test_support::Repo;
use super::update::{MetadataSource, TransportError};
use crate::failure::Failure;

/// What one request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub file: String,
    pub max_len: u64,
}

/// Files by server name (`timestamp.json`, `snapshot.<sha256>.json`, `2.root.json`), served
/// as they are; names marked endless answer like a server streaming without end: the body is
/// cut off at `max_len` and the fetch fails, as the real transport does.
#[derive(Default)]
pub struct MemorySource {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    endless: Mutex<BTreeSet<String>>,
    requests: Mutex<Vec<Request>>,
    updates_begun: AtomicU32,
}

/// The server name of a role file listed with `meta`: `<role>.<sha256>.json`.
pub fn consistent_name(role: &str, meta: &FileMeta) -> String {
    format!("{role}.{}.json", meta.sha256_hex().expect("sha256 listed"))
}

impl MemorySource {
    /// Serves `repo` as notary-server would: `root.json` and `<version>.root.json` for its root,
    /// `timestamp.json`, and the snapshot and every role file by checksum.
    pub fn serving(repo: &Repo) -> Self {
        let source = MemorySource::default();
        source.serve_repo(repo);
        source
    }

    /// (Re)publishes `repo`'s current files; files from earlier publishes stay served.
    pub fn serve_repo(&self, repo: &Repo) {
        let root_version =
            serde_json::from_slice::<serde_json::Value>(&repo.root).unwrap()["signed"]["version"]
                .as_u64()
                .unwrap();
        self.put("root.json", repo.root.clone());
        self.put(&format!("{root_version}.root.json"), repo.root.clone());
        self.put("timestamp.json", repo.timestamp.clone());
        self.put(
            &consistent_name("snapshot", &FileMeta::of(&repo.snapshot)),
            repo.snapshot.clone(),
        );
        for (role, bytes) in &repo.files {
            self.put(
                &consistent_name(role.as_str(), &FileMeta::of(bytes)),
                bytes.clone(),
            );
        }
    }

    pub fn put(&self, file: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(file.to_string(), bytes);
    }

    /// `file` now answers with a body that never ends.
    pub fn endless(&self, file: &str) {
        self.endless.lock().unwrap().insert(file.to_string());
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn requested_files(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.file).collect()
    }

    pub fn forget_requests(&self) {
        self.requests.lock().unwrap().clear();
    }

    pub fn updates_begun(&self) -> u32 {
        self.updates_begun.load(Ordering::SeqCst)
    }

    fn answer(&self, file: &str, max_len: u64) -> Result<Option<Vec<u8>>, TransportError> {
        self.requests.lock().unwrap().push(Request {
            file: file.to_string(),
            max_len,
        });
        let too_long = || TransportError {
            file: file.to_string(),
            failure: Failure::Untrusted,
            source: format!("the body exceeds {max_len} bytes").into(),
        };
        if self.endless.lock().unwrap().contains(file) {
            return Err(too_long());
        }
        match self.files.lock().unwrap().get(file) {
            Some(bytes) if bytes.len() as u64 > max_len => Err(too_long()),
            Some(bytes) => Ok(Some(bytes.clone())),
            None => Ok(None),
        }
    }
}

impl MetadataSource for &MemorySource {
    fn fetch(
        &self,
        file: &str,
        max_len: u64,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, TransportError>> + Send {
        std::future::ready(self.answer(file, max_len))
    }

    fn begin_update(&self) {
        self.updates_begun.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs a future that never waits (everything here is in memory) to completion.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
