//! The set-up most integration tests start from, in one place: a repository on the shared stack,
//! created by manifesto (with an image `v1` pushed) or by the Go notary client, optionally with a
//! reader whose trust cache already trusts it. Test files wrap [`Scene`] in their own newtype
//! (dereferencing to it) for the helpers only they use. Also the file-tree helpers the cache
//! checks share ([`snapshot_dir`], [`copy_dir`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::go_notary::{GoNotary, sha256_hex};
use crate::harness::{Stack, StackKind, TestEnv, code, ok, stack, stderr, unique_repo};

/// Who creates the repository.
pub enum Owner {
    /// An image `v1` is pushed and `manifesto init` runs as [`Scene::owner`].
    Manifesto,
    /// [`Scene::go`] runs `notary init` and publishes these targets; no image is pushed.
    Go(&'static [(&'static str, &'static [u8])]),
}

/// One repository on the plain stack (see the module documentation).
pub struct Scene {
    pub s: &'static Stack,
    pub repo: String,
    /// `<registry>/<repo>`.
    pub gun: String,
    pub notary_url: String,
    /// The image `v1` by tag, and pinned by its manifest digest; empty for [`Owner::Go`].
    pub image: String,
    pub pinned: String,
    pub digest: String,
    /// The owner's environment: with the keys for [`Owner::Manifesto`], empty for [`Owner::Go`].
    pub owner: TestEnv,
    /// A Go notary client on the same server: the owner for [`Owner::Go`], otherwise unused.
    pub go: GoNotary,
    /// A client whose cache trusts the repository when `with_reader` was asked for, else fresh.
    pub reader: TestEnv,
}

impl Scene {
    /// A repository `label-…` created by `owner`; with `with_reader`, [`Scene::reader`] runs
    /// `trust inspect` against the honest server first (exit 0 asserted).
    pub fn new(label: &str, owner: Owner, with_reader: bool) -> Scene {
        let s = stack(StackKind::Plain);
        let repo = unique_repo(label);
        let gun = format!("{}/{repo}", s.registry);
        let go = GoNotary::new(s);
        let env = TestEnv::new();
        let (image, pinned, digest) = match owner {
            Owner::Manifesto => {
                let digest = s.push_image(&repo, "v1");
                let out = env
                    .signer_cmd()
                    .args(["--server", &s.notary_url, "init", &gun])
                    .output()
                    .unwrap();
                assert_eq!(code(&out), 0, "init {gun}: {}", stderr(&out));
                (s.image(&repo, "v1"), format!("{gun}@{digest}"), digest)
            }
            Owner::Go(targets) => {
                go.init_with_targets(&gun, targets);
                (String::new(), String::new(), String::new())
            }
        };
        let reader = TestEnv::new();
        if with_reader {
            ok(
                reader
                    .cmd()
                    .args(["--server", &s.notary_url, "trust", "inspect", &gun])
                    .output()
                    .unwrap(),
                "the reader trusts the honest repository",
            );
        }
        Scene {
            s,
            repo,
            gun,
            notary_url: s.notary_url.clone(),
            image,
            pinned,
            digest,
            owner: env,
            go,
            reader,
        }
    }
}

/// The approvals [`Published`] starts from.
pub const APPROVAL: &[u8] = b"{\"status\":\"approved\"}";

/// An image with approvals put by its owner, and a reader whose cache trusts the repository.
pub struct Published {
    pub stack: &'static Stack,
    pub owner: TestEnv,
    pub reader: TestEnv,
    pub gun: String,
    pub image: String,
}

/// [`Published::unread`], then a first `get` by [`Published::reader`] (content asserted), so
/// its cache trusts the repository.
pub fn published(label: &str) -> Published {
    let p = Published::unread(label);
    let got = ok(p.get(&p.reader, &[]), "first get");
    assert_eq!(got.stdout, APPROVAL);
    p
}

impl Published {
    /// A repository `label-…` with an image `v1`: `manifesto init` and a `put` of [`APPROVAL`]
    /// as the owner. The reader has read nothing yet (tests that set up their own readers).
    pub fn unread(label: &str) -> Published {
        let s = stack(StackKind::Plain);
        let repo = unique_repo(label);
        s.push_image(&repo, "v1");
        let gun = format!("{}/{repo}", s.registry);
        let image = format!("{gun}:v1");
        let owner = TestEnv::new();
        owner.init_repo(&s.notary_url, &gun);
        let p = Published {
            stack: s,
            owner,
            reader: TestEnv::new(),
            gun,
            image,
        };
        ok(p.put(APPROVAL), "put");
        p
    }

    /// The owner puts `content` as the image's approvals.
    pub fn put(&self, content: &[u8]) -> Output {
        self.owner
            .signer_cmd()
            .args([
                "--server",
                &self.stack.notary_url,
                "put",
                &self.image,
                "approvals",
                "-",
            ])
            .write_stdin(content.to_vec())
            .output()
            .unwrap()
    }

    /// The arguments of a `get` of the image's approvals from the honest server, for callers
    /// that build their own command (a faked clock, a process to kill).
    pub fn get_args(&self) -> [&str; 5] {
        [
            "--server",
            &self.stack.notary_url,
            "get",
            &self.image,
            "approvals",
        ]
    }

    pub fn get(&self, env: &TestEnv, extra: &[&str]) -> Output {
        env.cmd()
            .args(self.get_args())
            .args(extra)
            .output()
            .unwrap()
    }

    /// The owner's settings, the image's repository and the owner's key store, for tests that
    /// sign and publish through the library what the CLI refuses to make.
    pub fn library(
        &self,
    ) -> (
        manifesto::config::Settings,
        manifesto::registry::reference::RepositoryRef,
        manifesto::keys::KeyStore,
    ) {
        let settings = manifesto::config::Settings::resolve(
            Some(self.owner.trust_dir()),
            Some(self.stack.notary_url.clone()),
            None,
        )
        .unwrap();
        let repo = manifesto::registry::ImageRef::parse(&self.image)
            .unwrap()
            .repository_ref();
        (
            settings,
            repo,
            manifesto::keys::KeyStore::new(self.owner.trust_dir()),
        )
    }

    /// The reader's cached metadata directory of this GUN.
    pub fn metadata_dir(&self, env: &TestEnv) -> PathBuf {
        env.trust_dir().join("tuf").join(&self.gun).join("metadata")
    }
}

/// Every file under `dir` with its bytes; an absent `dir` is empty.
pub fn snapshot_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// [`snapshot_dir`] of a directory that must exist (a trust cache a test relies on).
pub fn snapshot_existing_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    assert!(dir.is_dir(), "{} is a directory", dir.display());
    snapshot_dir(dir)
}

/// Copy the tree `from` into `to` (created as needed).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `n` fresh environments, each with its own copy of `env`'s trust dir: concurrent writers as
/// the same owner that no local lock serialises, so they race at the server.
pub fn trust_copies(env: &TestEnv, n: usize) -> Vec<TestEnv> {
    (0..n)
        .map(|_| {
            let w = TestEnv::new();
            copy_dir(&env.trust_dir(), &w.trust_dir());
            w
        })
        .collect()
}

/// `content` written to a file in `env`'s home, named by its sha256 (the same content is one
/// file): for commands that take the content as a path rather than on stdin.
pub fn content_file(env: &TestEnv, content: &[u8]) -> PathBuf {
    let dir = env.home.path().join("content");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(sha256_hex(content));
    std::fs::write(&path, content).unwrap();
    path
}
