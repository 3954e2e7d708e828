//! The sharded layout over an in-memory notary-server and registry: what a write signs into
//! which bin, what an unsharded repository keeps when it is moved, and what a bin may not claim.
//! (The same against the real servers and the Go client: `tests/integration/`.)

use std::collections::BTreeMap;

use super::MetadataType;
use super::batch::PutItem;
use super::get::{GetRequest, get_via};
use super::layout;
use super::list::list_image_via;
use super::put::put_many_via;
use super::remote::memory::MemoryRemote;
use super::shard;
use crate::config::Settings;
use crate::error::Error;
use crate::keys::passphrase::Passphrases;
use crate::keys::passphrase::testing::env_only;
use crate::keys::signer::SigningKey;
use crate::keys::store::KeyStore;
use crate::notary::memory::MemoryNotary;
use crate::registry::MemoryRegistry;
use crate::registry::client::sha256_digest;
use crate::registry::{Digest, ImageRef};
use crate::tuf::metadata::{DelegatedRole, FileMeta, Targets};
use crate::tuf::names::RoleName;
use crate::tuf::test_support::{self as ts, GUN, Repo, TestKey};

const PASS: &str = "shard-test-passphrase";

fn passphrases() -> Passphrases {
    env_only(&[
        ("MANIFESTO_DELEGATION_PASSPHRASE", PASS),
        ("MANIFESTO_TARGETS_PASSPHRASE", PASS),
    ])
}

/// A repository whose `targets` (holding another client's tag `app/v1`) delegates `approvals/`
/// and `_manifesto/` to `targets/qa`; both keys in the trust dir's store.
struct Scene {
    remote: MemoryRemote,
    settings: Settings,
    qa_key: TestKey,
    qa: RoleName,
    dir: tempfile::TempDir,
}

fn image(n: u8) -> (ImageRef, Digest) {
    // Digests spread over labels: the first hex digits differ from image to image.
    let digest = sha256_digest(&[n, n, n]);
    (ImageRef::parse(&format!("{GUN}@{digest}")).unwrap(), digest)
}

fn qa_targets(qa_key: &TestKey, qa: &RoleName) -> Targets {
    let mut targets = ts::targets_meta(2, ts::far(), &[("app/v1", b"hello")]);
    targets
        .delegations
        .keys
        .insert(qa_key.id.clone(), qa_key.public.clone());
    targets.delegations.roles.push(DelegatedRole {
        keyids: vec![qa_key.id.clone()],
        name: qa.clone(),
        paths: vec!["approvals/".into(), "_manifesto/".into()],
        threshold: 1,
    });
    targets
}

fn scene_with(edit: impl FnOnce(&mut Repo, &TestKey, &RoleName)) -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::for_tests(&dir.path().join("trust"));
    let qa = RoleName::parse("targets/qa").unwrap();
    let qa_key = TestKey::ecdsa();
    let mut repo = Repo::new();
    let store = KeyStore::new(&settings.trust_dir);
    let mut p = passphrases();
    for (key, role) in [(&qa_key, &qa), (&repo.tg_key, &RoleName::targets())] {
        let pass = p.for_new_key(role, "x").unwrap();
        let signing = SigningKey::from_pkcs8_for_tests(&key.pkcs8);
        store.add(&signing, role, Some(GUN), &pass).unwrap();
    }
    let targets = qa_targets(&qa_key, &qa);
    repo.set("targets", ts::sign(&targets, &[&repo.tg_key]));
    edit(&mut repo, &qa_key, &qa);
    repo.publish(2, 2);
    Scene {
        remote: MemoryRemote {
            notary: MemoryNotary::serving(repo),
            registry: MemoryRegistry::default(),
        },
        settings,
        qa_key,
        qa,
        dir,
    }
}

impl Scene {
    fn item(&self, image: &ImageRef, ty: &str, content: &[u8], line: usize) -> PutItem {
        let file = self.dir.path().join(format!("content-{line}"));
        std::fs::write(&file, content).unwrap();
        PutItem {
            image: image.clone(),
            metadata_type: MetadataType::parse(ty).unwrap(),
            file,
            media_type: None,
            annotations: BTreeMap::new(),
            line: Some(line),
        }
    }

    async fn put_all(&self, role: &RoleName, items: Vec<PutItem>) -> Result<usize, Error> {
        let reports = put_many_via(
            &self.remote,
            &self.settings,
            role,
            items,
            &mut passphrases(),
            |_| {},
        )
        .await?;
        Ok(reports.len())
    }

    async fn get(&self, image: &ImageRef, ty: &str) -> Result<Vec<u8>, Error> {
        let ty = MetadataType::parse(ty).unwrap();
        let req = GetRequest {
            image,
            metadata_type: &ty,
            signed_by: None,
            max_age: None,
            requirements: Vec::new(),
        };
        let fetched = get_via(&self.remote, &self.settings, req, self.dir.path()).await?;
        Ok(std::fs::read(fetched.content.path()).unwrap())
    }

    fn signed(&self, role: &str) -> serde_json::Value {
        serde_json::from_slice(&self.remote.notary.file(role)).unwrap()
    }
}

#[tokio::test]
async fn a_batch_over_three_labels_is_one_publish_of_three_bins_and_every_entry_reads_back() {
    let sc = scene_with(|_, _, _| {});
    let images: Vec<_> = (1..=3).map(image).collect();
    let items = images
        .iter()
        .enumerate()
        .map(|(i, (img, _))| sc.item(img, "approvals", format!("{{\"n\":{i}}}").as_bytes(), i + 1))
        .collect();
    assert_eq!(sc.put_all(&sc.qa, items).await.unwrap(), 3);
    assert_eq!(
        sc.remote.notary.publishes(),
        1,
        "one signed update for the batch"
    );
    let qa = sc.signed("targets/qa");
    assert!(
        qa["signed"]["targets"].as_object().unwrap().is_empty(),
        "the role's own file holds no targets: {qa}"
    );
    let bins = qa["signed"]["delegations"]["roles"].as_array().unwrap();
    assert_eq!(bins.len(), 3, "{qa}");
    for (i, (img, digest)) in images.iter().enumerate() {
        let bin = shard::bin_for(&sc.qa, digest);
        let entry = bins.iter().find(|b| b["name"] == bin.as_str()).unwrap();
        let label = shard::label(digest);
        assert_eq!(
            entry["paths"],
            serde_json::json!([
                format!("_manifesto/sha256:{label}"),
                format!("approvals/sha256:{label}")
            ])
        );
        assert_eq!(entry["keyids"], serde_json::json!([sc.qa_key.id.as_str()]));
        let held = sc.signed(bin.as_str());
        let names = held["signed"]["targets"].as_object().unwrap();
        assert!(names.contains_key(&layout::metadata_target(
            &MetadataType::parse("approvals").unwrap(),
            digest
        )));
        assert!(names.contains_key(&layout::manifesto_target(digest)));
        assert_eq!(
            sc.get(img, "approvals").await.unwrap(),
            format!("{{\"n\":{i}}}").as_bytes()
        );
    }
    // Listing one image names the signing role, never the bin.
    let rows = list_image_via(&sc.remote, &sc.settings, &images[0].0)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].role, "targets/qa");
}

#[tokio::test]
async fn an_unsharded_delegate_is_read_as_before_and_its_first_put_moves_everything_into_bins() {
    let (old_image, old_digest) = image(1);
    let old_content = b"{\"status\":\"old\"}";
    let old_meta = FileMeta::of(old_content);
    let scene = scene_with(|repo, qa_key, qa| {
        let mut t = ts::targets_meta(1, ts::far(), &[]);
        let mut meta = old_meta.clone();
        meta.custom = Some(serde_json::json!({
            "mediaType": "application/json", "createdAt": "2026-11-01T00:00:00Z"
        }));
        t.targets.insert(format!("approvals/{old_digest}"), meta);
        repo.set(qa.as_str(), ts::sign(&t, &[qa_key]));
    });
    // The registry has the old blob, as an earlier put left it.
    scene.remote.registry.with(|c| {
        c.blobs
            .insert(sha256_digest(old_content).to_string(), old_content.to_vec());
    });
    assert_eq!(
        scene.get(&old_image, "approvals").await.unwrap(),
        old_content
    );

    let (new_image, _) = image(2);
    let item = scene.item(&new_image, "approvals", b"{\"status\":\"new\"}", 1);
    scene.put_all(&scene.qa, vec![item]).await.unwrap();
    let qa = scene.signed("targets/qa");
    assert!(
        qa["signed"]["targets"].as_object().unwrap().is_empty(),
        "moved out of the role's own file: {qa}"
    );
    let old_bin = scene.signed(shard::bin_for(&scene.qa, &old_digest).as_str());
    assert!(
        old_bin["signed"]["targets"]
            .as_object()
            .unwrap()
            .contains_key(&format!("approvals/{old_digest}")),
        "{old_bin}"
    );
    assert_eq!(
        scene.get(&old_image, "approvals").await.unwrap(),
        old_content
    );
    assert_eq!(
        scene.get(&new_image, "approvals").await.unwrap(),
        b"{\"status\":\"new\"}"
    );
}

#[tokio::test]
async fn an_owner_put_keeps_other_clients_tags_in_targets_and_delegates_its_shard_root_first() {
    let sc = scene_with(|_, _, _| {});
    let (img, digest) = image(3);
    let item = sc.item(&img, "scan", b"{\"critical\":0}", 1);
    sc.put_all(&RoleName::targets(), vec![item]).await.unwrap();
    let targets = sc.signed("targets");
    let own = targets["signed"]["targets"].as_object().unwrap();
    assert_eq!(own.keys().collect::<Vec<_>>(), vec!["app/v1"], "{targets}");
    let roles = targets["signed"]["delegations"]["roles"]
        .as_array()
        .unwrap();
    assert_eq!(roles[0]["name"], shard::OWNER_SHARD_ROOT, "{targets}");
    assert_eq!(roles[0]["paths"], serde_json::json!([""]));
    assert_eq!(roles[1]["name"], "targets/qa", "the delegation is kept");
    assert_eq!(
        sc.signed(shard::OWNER_SHARD_ROOT)["signed"]["delegations"]["roles"][0]["name"],
        shard::bin_for(&RoleName::targets(), &digest).as_str()
    );
    assert_eq!(sc.get(&img, "scan").await.unwrap(), b"{\"critical\":0}");
}

#[tokio::test]
async fn a_batch_line_the_role_may_not_sign_is_refused_before_any_upload() {
    let sc = scene_with(|_, _, _| {});
    let (a, _) = image(4);
    let (b, _) = image(5);
    let items = vec![
        sc.item(&a, "approvals", b"{}", 1),
        sc.item(&b, "scan", b"{\"x\":1}", 2),
    ];
    let err = sc.put_all(&sc.qa, items).await.unwrap_err();
    let Error::BatchLine { line: 2, source } = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(**source, Error::PathNotDelegated { .. }),
        "{source:?}"
    );
    assert_eq!(err.failure().exit_code(), 3);
    assert_eq!(sc.remote.notary.publishes(), 0);
    assert!(
        sc.remote.registry.with(|c| c.blobs.is_empty()),
        "nothing uploaded"
    );
}

#[tokio::test]
async fn a_bin_claiming_paths_beyond_its_role_signs_nothing_there() {
    // targets/qa may sign approvals only; its own file delegates a bin that claims `scan/` and
    // signs a scan there, all with qa's key. Readers must ignore it: a role cannot widen itself.
    let (img, digest) = image(6);
    let label = shard::label(&digest).to_owned();
    let sc = scene_with(|repo, qa_key, qa| {
        let bin = shard::bin_labelled(qa, &label);
        let mut own = ts::targets_meta(1, ts::far(), &[]);
        own.delegations
            .keys
            .insert(qa_key.id.clone(), qa_key.public.clone());
        own.delegations.roles.push(DelegatedRole {
            keyids: vec![qa_key.id.clone()],
            name: bin.clone(),
            paths: vec![format!("scan/sha256:{label}")],
            threshold: 1,
        });
        repo.set(qa.as_str(), ts::sign(&own, &[qa_key]));
        let mut held = ts::targets_meta(1, ts::far(), &[]);
        let mut meta = FileMeta::of(b"{\"critical\":0}");
        meta.custom = Some(serde_json::json!({
            "mediaType": "application/json", "createdAt": "2026-11-01T00:00:00Z"
        }));
        held.targets.insert(format!("scan/{digest}"), meta);
        repo.set(bin.as_str(), ts::sign(&held, &[qa_key]));
    });
    sc.remote.registry.with(|c| {
        c.blobs.insert(
            sha256_digest(b"{\"critical\":0}").to_string(),
            b"{\"critical\":0}".to_vec(),
        );
    });
    let err = sc.get(&img, "scan").await.unwrap_err();
    assert_eq!(err.failure().exit_code(), 9, "{err}");
}

#[tokio::test]
async fn a_new_type_in_an_existing_bin_grows_its_paths_and_rewrites_only_its_own_shard() {
    let sc = scene_with(|_, _, _| {});
    let (img, digest) = image(7);
    let (other, _) = image(8);
    let owner = RoleName::targets();
    sc.put_all(&owner, vec![sc.item(&img, "scan", b"{\"critical\":0}", 1)])
        .await
        .unwrap();
    sc.put_all(
        &owner,
        vec![sc.item(&other, "scan", b"{\"critical\":1}", 1)],
    )
    .await
    .unwrap();
    let rest = async || {
        let mut trusted = super::remote::trust_now(&sc.remote, &sc.settings, &img.repository_ref())
            .await
            .unwrap();
        super::index::rest_fingerprint(&mut trusted.updater)
            .await
            .unwrap()
    };
    let rest_before = rest().await;
    let puts_before = sc.remote.registry.with(|c| c.manifest_puts.len());
    sc.put_all(&owner, vec![sc.item(&img, "sbom", b"{\"packages\":[]}", 1)])
        .await
        .unwrap();
    assert_eq!(
        rest().await,
        rest_before,
        "a bin's new paths move no other shard"
    );
    let root = sc.signed(shard::OWNER_SHARD_ROOT);
    let bin = shard::bin_for(&owner, &digest);
    let entry = root["signed"]["delegations"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == bin.as_str())
        .unwrap()
        .clone();
    assert!(
        entry["paths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().starts_with("sbom/")),
        "{entry}"
    );
    // The image's manifesto manifest, its label's shard and the top index: the parent's new
    // paths change no other shard, so the index is not rebuilt whole.
    let puts = sc.remote.registry.with(|c| c.manifest_puts.len()) - puts_before;
    assert_eq!(puts, 3);
    assert_eq!(sc.get(&img, "sbom").await.unwrap(), b"{\"packages\":[]}");
}
