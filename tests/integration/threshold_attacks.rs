//! SECURITY-TESTS scenario 46 (one key, two forms) and 47 (absolute per-role caps), against the real
//! notary-server: a key given twice (bare and as its certificate) is refused by `delegate add`,
//! a repository crafted to list one key under two ids with threshold 2 is refused by `get`, and
//! a targets file above `limits.targets_max_bytes` is refused before it is downloaded. Every
//! refused read exits with its code, prints nothing on stdout and leaves the trust cache as it was.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use manifesto::config::Settings;
use manifesto::keys::certificate::root_certificate_key;
use manifesto::keys::passphrase::Passphrases;
use manifesto::keys::signer::{KeyAlgorithm, SigningKey};
use manifesto::keys::signing::signer_among;
use manifesto::keys::store::KeyStore;
use manifesto::notary::publish::{Published, UpdatePart, publish_with_retry};
use manifesto::registry::reference::RepositoryRef;
use manifesto::tuf::build;
use manifesto::tuf::key::PublicKey;
use manifesto::tuf::metadata::{DelegatedRole, FileMeta};
use manifesto::tuf::names::{KeyId, RoleName};
use manifesto::tuf::sign::{SignFailed, Signer, sign_file};

use crate::go_notary::GoNotary;
use crate::harness::{
    StackKind, TestEnv, code, ok, stack, stderr, stdout, test_passphrases, unique_repo,
};
use crate::hostile::{Reply, tampering_proxy};
use crate::scene::{self, Owner, snapshot_existing_dir as snapshot_dir};

/// One private key signing under a chosen listed id: the same key can sign once per id.
struct Under<'a>(&'a SigningKey, KeyId);

impl Signer for Under<'_> {
    fn listed_key_id(&self) -> KeyId {
        self.1.clone()
    }
    fn sign(&self, message: &[u8]) -> Result<(String, Vec<u8>), SignFailed> {
        self.0
            .sign(message)
            .map(|(method, sig)| (method.to_string(), sig))
            .map_err(|e| SignFailed {
                key_id: self.1.clone(),
                reason: e.to_string(),
                failure: e.failure(),
            })
    }
}

/// A repository initialised by manifesto, an image in it, and a reader whose cache trusts it.
struct Scene(scene::Scene);

impl std::ops::Deref for Scene {
    type Target = scene::Scene;
    fn deref(&self) -> &scene::Scene {
        &self.0
    }
}

fn scene(label: &str) -> Scene {
    Scene(scene::Scene::new(label, Owner::Manifesto, true))
}

impl Scene {
    fn owner_settings(&self) -> Settings {
        Settings::resolve(
            Some(self.owner.trust_dir()),
            Some(self.notary_url.clone()),
            None,
        )
        .unwrap()
    }

    /// Publishes the parts `craft` builds on the verified current state with the owner's keys
    /// (the crate's own building blocks, bypassing every check a command makes).
    async fn publish_crafted(
        &self,
        mut craft: impl FnMut(
            &manifesto::tuf::trusted::TrustedState,
            &KeyStore,
            &mut Passphrases,
        ) -> Vec<UpdatePart>,
    ) {
        let settings = self.owner_settings();
        let repo = RepositoryRef::parse(&self.gun).unwrap();
        let store = KeyStore::new(&settings.trust_dir);
        let mut pass = test_passphrases();
        let published =
            publish_with_retry::<_, manifesto::Error>(&settings, &repo, async |updater| {
                Ok(Some(craft(updater.state(), &store, &mut pass)))
            })
            .await
            .unwrap();
        assert!(matches!(published, Published::Now { .. }));
    }

    /// `get` of the image's approvals through `server`: refused with `expected`, nothing on
    /// stdout, the reader's trust cache byte-identical.
    fn get_refused(&self, server: &str, expected: i32) -> String {
        let before = snapshot_dir(&self.reader.trust_dir());
        let out = self
            .reader
            .cmd()
            .args(["--server", server, "get", &self.pinned, "approvals"])
            .output()
            .unwrap();
        assert_eq!(code(&out), expected, "exit code; stderr: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "stdout: {}", stdout(&out));
        assert!(
            before == snapshot_dir(&self.reader.trust_dir()),
            "the trust cache is untouched"
        );
        stderr(&out)
    }
}

/// An approval target for `digest`.
fn approval(digest: &str) -> (String, FileMeta) {
    (
        format!("approvals/{digest}"),
        FileMeta::of(b"{\"status\":\"approved\"}"),
    )
}

/// Publishes a delegation `targets/qa` listing `key` twice, bare and as its certificate, with
/// threshold 2; with `signed_file`, also a `targets/qa` file signed once under each id.
async fn publish_doubled_delegation(sc: &Scene, key: &SigningKey, signed_file: bool) {
    let bare = key.public_key().clone();
    let cert = root_certificate_key(key, "targets/qa", chrono::Utc::now()).unwrap();
    let (bare_id, cert_id) = (bare.key_id(), cert.key_id());
    assert_ne!(bare_id, cert_id, "two different, correct key ids");
    let qa = RoleName::parse("targets/qa").unwrap();
    sc.publish_crafted(|state, store, pass| {
        let now = chrono::Utc::now();
        let root = state.root();
        let listed = &root.role(&RoleName::targets()).unwrap().keyids;
        let targets_signer = signer_among(
            store,
            pass,
            "targets",
            listed
                .iter()
                .filter_map(|id| root.keys.get(id).map(|k| (id, k))),
        )
        .unwrap();
        let current = state
            .targets_role(&RoleName::targets())
            .map(|t| t.get().clone());
        let top = build::next_targets(current.as_ref(), now, |t| {
            t.delegations.keys.insert(bare_id.clone(), bare.clone());
            t.delegations.keys.insert(cert_id.clone(), cert.clone());
            t.delegations.roles.push(DelegatedRole {
                keyids: vec![bare_id.clone(), cert_id.clone()],
                name: qa.clone(),
                paths: vec!["approvals/".into(), "_manifesto/".into()],
                threshold: 2,
            });
        })
        .unwrap();
        let mut parts = vec![UpdatePart {
            role: RoleName::targets(),
            bytes: sign_file(&top, &[&targets_signer as &dyn Signer]).unwrap(),
        }];
        if signed_file {
            let mut file = build::empty_targets(1, now);
            file.targets.extend([approval(&sc.digest)]);
            // "Two of two" from one private key: once under each of its ids.
            let twice = [Under(key, bare_id.clone()), Under(key, cert_id.clone())];
            let signers: Vec<&dyn Signer> = twice.iter().map(|s| s as &dyn Signer).collect();
            parts.push(UpdatePart {
                role: qa.clone(),
                bytes: sign_file(&file, &signers).unwrap(),
            });
        }
        parts
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegation_listing_one_key_bare_and_as_its_certificate_with_threshold_2_is_untrusted_exit_3()
 {
    let sc = scene("thr-deleg");
    let key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
    publish_doubled_delegation(&sc, &key, true).await;
    let url = sc.notary_url.clone();
    let err = tokio::task::spawn_blocking(move || sc.get_refused(&url, 3))
        .await
        .unwrap();
    assert!(
        err.contains("targets/qa") && err.contains("threshold"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_does_not_sign_two_of_two_with_one_key_listed_twice_exit_8_and_publishes_nothing() {
    let sc = scene("thr-put");
    let key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
    publish_doubled_delegation(&sc, &key, false).await;
    // The delegate holds that one key.
    let delegate = TestEnv::new();
    let qa = RoleName::parse("targets/qa").unwrap();
    let store = KeyStore::new(delegate.trust_dir());
    let pass = test_passphrases().for_new_key(&qa, "the qa key").unwrap();
    store.add(&key, &qa, Some(&sc.gun), &pass).unwrap();
    let go = GoNotary::new(stack(StackKind::Plain));
    let (gun, image, url) = (sc.gun.clone(), sc.pinned.clone(), sc.notary_url.clone());
    let out = tokio::task::spawn_blocking(move || {
        delegate
            .signer_cmd()
            .args([
                "--server",
                &url,
                "put",
                "--role",
                "targets/qa",
                &image,
                "approvals",
                "-",
            ])
            .write_stdin("{\"status\":\"approved\"}")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("threshold 2") && stderr(&out).contains("distinct"),
        "{}",
        stderr(&out)
    );
    let served = go.try_fetch_raw(&gun, "targets/qa");
    assert!(
        served.as_ref().is_err_and(|e| e.contains("404")),
        "no targets/qa file was published: {served:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_listing_the_targets_key_bare_and_as_its_certificate_with_threshold_2_is_untrusted_exit_3()
 {
    let sc = scene("thr-top");
    sc.publish_crafted(|state, store, pass| {
        let now = chrono::Utc::now();
        let root = state.root();
        let by_id = |role: &RoleName| -> Vec<(KeyId, PublicKey)> {
            root.role(role)
                .unwrap()
                .keyids
                .iter()
                .filter_map(|id| root.keys.get(id).map(|k| (id.clone(), k.clone())))
                .collect()
        };
        let root_keys = by_id(&RoleName::root());
        let root_signer =
            signer_among(store, pass, "root", root_keys.iter().map(|(i, k)| (i, k))).unwrap();
        let (targets_id, targets_public) = by_id(&RoleName::targets()).remove(0);
        let targets_key = store.load_for(&targets_public, pass).unwrap();
        let cert = root_certificate_key(&targets_key, &sc.gun, now).unwrap();
        let cert_id = cert.key_id();
        let next_root = build::next_root(root, build::expiry(now, 120), |r| {
            r.keys.insert(cert_id.clone(), cert.clone());
            let role = r.roles.get_mut("targets").unwrap();
            role.keyids.push(cert_id.clone());
            role.threshold = 2;
        })
        .unwrap();
        let current = state
            .targets_role(&RoleName::targets())
            .map(|t| t.get().clone());
        let mut top = build::next_targets(current.as_ref(), now, |_| {}).unwrap();
        top.targets.extend([approval(&sc.digest)]);
        let twice = [
            Under(&targets_key, targets_id.clone()),
            Under(&targets_key, cert_id.clone()),
        ];
        let signers: Vec<&dyn Signer> = twice.iter().map(|s| s as &dyn Signer).collect();
        vec![
            UpdatePart {
                role: RoleName::root(),
                bytes: sign_file(&next_root, &[&root_signer as &dyn Signer]).unwrap(),
            },
            UpdatePart {
                role: RoleName::targets(),
                bytes: sign_file(&top, &signers).unwrap(),
            },
        ]
    })
    .await;
    let url = sc.notary_url.clone();
    let err = tokio::task::spawn_blocking(move || sc.get_refused(&url, 3))
        .await
        .unwrap();
    assert!(
        err.contains("targets") && err.contains("threshold"),
        "{err}"
    );
}

/// An openssl-made P-256 key: its public key PEM and a self-signed certificate of it.
fn openssl_key_and_certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let private = dir.join("a.key");
    let public = dir.join("A.pem");
    let cert = dir.join("A-cert.pem");
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    let p = |path: &Path| path.to_str().unwrap().to_string();
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &p(&private),
    ]);
    run(&["ec", "-in", &p(&private), "-pubout", "-out", &p(&public)]);
    run(&[
        "req",
        "-new",
        "-x509",
        "-key",
        &p(&private),
        "-subj",
        "/CN=qa",
        "-days",
        "30",
        "-out",
        &p(&cert),
    ]);
    (public, cert)
}

#[test]
fn delegate_add_refuses_one_key_given_twice_in_any_form_exit_2_and_publishes_nothing() {
    let s = stack(StackKind::Plain);
    let gun = format!("{}/{}", s.registry, unique_repo("thr-add"));
    let owner = TestEnv::new();
    owner.init_repo_without_image(&s.notary_url, &gun);
    let dir = tempfile::tempdir().unwrap();
    let (public, cert) = openssl_key_and_certificate(dir.path());
    let go = GoNotary::new(s);
    let add = |keys: &[&Path], threshold: &str| {
        let mut cmd = owner.signer_cmd();
        cmd.args(["--server", &s.notary_url, "delegate", "add", &gun, "qa"]);
        for k in keys {
            cmd.arg("--key").arg(k);
        }
        cmd.args(["--type", "approvals", "--threshold", threshold]);
        cmd.output().unwrap()
    };
    let version = go.served_version(&gun, "targets");
    for keys in [[&public, &cert], [&cert, &public], [&public, &public]] {
        let out = add(&[keys[0], keys[1]], "2");
        assert_eq!(code(&out), 2, "{keys:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty());
        assert!(stderr(&out).contains("same public key"), "{}", stderr(&out));
    }
    assert_eq!(
        go.served_version(&gun, "targets"),
        version,
        "nothing published"
    );

    // Already in the delegation as a bare key, then given as its certificate.
    ok(add(&[&public], "1"), "delegate add with the bare key");
    let version = go.served_version(&gun, "targets");
    let out = add(&[&cert], "1");
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("already lists"), "{}", stderr(&out));
    assert_eq!(
        go.served_version(&gun, "targets"),
        version,
        "nothing published"
    );
    // The same key in the same form again is no change (a retried command is idempotent).
    let again = ok(add(&[&public], "1"), "the same delegate add again");
    assert!(stdout(&again).contains("already"), "{}", stdout(&again));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targets_file_above_the_configured_cap_is_refused_before_download_exit_3() {
    let sc = scene("cap-targets");
    // A newer targets file the reader does not have yet, then a cap below its size.
    ok(
        sc.owner
            .signer_cmd()
            .args([
                "--server",
                &sc.notary_url,
                "put",
                &sc.pinned,
                "approvals",
                "-",
            ])
            .write_stdin("{\"status\":\"approved\"}")
            .output()
            .unwrap(),
        "put",
    );
    std::fs::write(
        sc.reader.trust_dir().join("config.json"),
        r#"{"limits":{"targets_max_bytes":100}}"#,
    )
    .unwrap();
    let requested = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = requested.clone();
    let proxy = tampering_proxy(&sc.notary_url, move |path, status, body| {
        seen.lock().unwrap().push(path.to_string());
        Reply::Full(status, vec![], body)
    })
    .await;
    let err = tokio::task::spawn_blocking(move || sc.get_refused(&proxy.url, 3))
        .await
        .unwrap();
    assert!(
        err.contains("targets") && err.contains("100") && err.contains("limits.targets_max_bytes"),
        "{err}"
    );
    let requested = requested.lock().unwrap().clone();
    assert!(
        requested.iter().any(|p| p.ends_with("/timestamp.json")),
        "{requested:?}"
    );
    assert!(
        !requested
            .iter()
            .any(|p| p.contains("/_trust/tuf/targets.") || p.contains("/_trust/tuf/targets/")),
        "no targets file was requested: {requested:?}"
    );
}
