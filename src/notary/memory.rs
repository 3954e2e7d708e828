//! Test-only: a notary-server in memory, for unit tests of the flows. It serves a generated
//! repository as the real server does (through `tuf::memory_source`, which records every
//! request) and takes publishes as the real server does: each posted role file must carry a
//! newer version than the one it replaces (else `400 VERSION`, [`PublishError::Stale`]), and the
//! server signs a new snapshot and timestamp over the result.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::error::NotaryError;
use super::publish::{PublishError, ServerKeys, UpdatePart, UpdateSink};
use crate::tuf::key::PublicKey;
use crate::tuf::memory_source::MemorySource;
use crate::tuf::test_support::{GUN, Repo, TestKey};
use crate::tuf::update::{MetadataSource, TransportError};

struct Inner {
    repo: Mutex<Repo>,
    source: MemorySource,
    publishes: AtomicU32,
}

/// The server; clones share it.
#[derive(Clone)]
pub(crate) struct MemoryNotary {
    inner: Arc<Inner>,
}

fn version_of(bytes: &[u8]) -> u64 {
    serde_json::from_slice::<serde_json::Value>(bytes).expect("role files are JSON")["signed"]
        ["version"]
        .as_u64()
        .expect("role files carry a version")
}

impl MemoryNotary {
    pub(crate) fn serving(repo: Repo) -> Self {
        let source = MemorySource::serving(&repo);
        MemoryNotary {
            inner: Arc::new(Inner {
                repo: Mutex::new(repo),
                source,
                publishes: AtomicU32::new(0),
            }),
        }
    }

    /// Every request the clients made, in order.
    pub(crate) fn source(&self) -> &MemorySource {
        &self.inner.source
    }

    /// Accepted publishes so far.
    pub(crate) fn publishes(&self) -> u32 {
        self.inner.publishes.load(Ordering::SeqCst)
    }

    /// Change the repository as another writer (or an attacker holding the server's keys)
    /// would, then serve it with a new snapshot and timestamp.
    pub(crate) fn change(&self, f: impl FnOnce(&mut Repo)) {
        let mut repo = self.inner.repo.lock().unwrap();
        f(&mut repo);
        let (snapshot, timestamp) = (version_of(&repo.snapshot), version_of(&repo.timestamp));
        repo.publish(snapshot + 1, timestamp + 1);
        self.inner.source.serve_repo(&repo);
    }

    /// The current bytes of `role`.
    pub(crate) fn file(&self, role: &str) -> Vec<u8> {
        self.inner.repo.lock().unwrap().file(role).to_vec()
    }
}

impl MetadataSource for MemoryNotary {
    async fn fetch(&self, file: &str, max_len: u64) -> Result<Option<Vec<u8>>, TransportError> {
        (&self.inner.source).fetch(file, max_len).await
    }

    fn begin_update(&self) {
        (&self.inner.source).begin_update();
    }
}

impl UpdateSink for MemoryNotary {
    async fn publish(&self, parts: &[UpdatePart]) -> Result<(), PublishError> {
        let mut repo = self.inner.repo.lock().unwrap();
        for part in parts {
            let current = repo.files.get(&part.role).map(|b| version_of(b));
            if current.is_some_and(|v| version_of(&part.bytes) <= v) {
                return Err(PublishError::Stale { gun: GUN.into() });
            }
        }
        for part in parts {
            repo.files.insert(part.role.clone(), part.bytes.clone());
        }
        let (snapshot, timestamp) = (version_of(&repo.snapshot), version_of(&repo.timestamp));
        repo.publish(snapshot + 1, timestamp + 1);
        self.inner.source.serve_repo(&repo);
        self.inner.publishes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl ServerKeys for MemoryNotary {
    async fn server_key(&self, role: &str) -> Result<PublicKey, NotaryError> {
        let repo = self.inner.repo.lock().unwrap();
        Ok(match role {
            "timestamp" => repo.ts_key.public.clone(),
            "snapshot" => repo.sn_key.public.clone(),
            other => panic!("the server holds no {other} key"),
        })
    }

    /// The server makes a new key and signs with it from then on.
    async fn rotate_server_key(&self, role: &str) -> Result<PublicKey, NotaryError> {
        let mut repo = self.inner.repo.lock().unwrap();
        let key = match role {
            "timestamp" => &mut repo.ts_key,
            "snapshot" => &mut repo.sn_key,
            other => panic!("the server holds no {other} key"),
        };
        *key = TestKey::ecdsa();
        Ok(key.public.clone())
    }
}
