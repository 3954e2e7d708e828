//! The flows end to end over an in-memory notary-server and registry ([`MemoryRemote`]): what
//! each flow signs, uploads and asks for, without servers. The same flows run against the real
//! servers in `tests/integration/`.

use std::collections::BTreeMap;

use chrono::Utc;

use super::MetadataType;
use super::delete::delete_via;
use super::get::{GetRequest, get_via};
use super::layout;
use super::list::{list_image_via, listing_via};
use super::put::{PutRequest, put_via};
use super::remote::memory::MemoryRemote;
use super::repair::repair_via;
use super::requirement::Requirement;
use super::verify::driver::{ImageInput, verify_via};
use super::verify::verdict::Status;
use crate::config::Settings;
use crate::error::Error;
use crate::keys::passphrase::Passphrases;
use crate::keys::passphrase::testing::env_only;
use crate::keys::public::KeyAlgorithm;
use crate::keys::signer::SigningKey;
use crate::keys::store::KeyStore;
use crate::notary::memory::MemoryNotary;
use crate::registry::MemoryRegistry;
use crate::registry::client::sha256_digest;
use crate::registry::reference::RepositoryRef;
use crate::registry::{Digest, ImageRef};
use crate::tuf::metadata::DelegatedRole;
use crate::tuf::names::RoleName;
use crate::tuf::test_support::{self as ts, GUN, Repo};

const PASS: &str = "flow-test-passphrase";
const APPROVAL: &[u8] = b"{\"status\":\"approved\"}";

fn passphrases() -> Passphrases {
    env_only(&[("MANIFESTO_DELEGATION_PASSPHRASE", PASS)])
}

/// A repository whose `targets` delegates `approvals/` and `_manifesto/` to `targets/qa`, whose
/// key sits in the trust dir's key store; an image in the registry.
struct Scene {
    remote: MemoryRemote,
    settings: Settings,
    image: ImageRef,
    digest: Digest,
    approvals: MetadataType,
    qa: RoleName,
    dir: tempfile::TempDir,
}

fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::for_tests(&dir.path().join("trust"));
    let qa = RoleName::parse("targets/qa").unwrap();
    let key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
    let mut p = passphrases();
    let pass = p.for_new_key(&qa, "qa").unwrap();
    KeyStore::new(&settings.trust_dir)
        .add(&key, &qa, Some(GUN), &pass)
        .unwrap();

    let mut repo = Repo::new();
    let mut targets = ts::targets_meta(2, ts::far(), &[]);
    targets
        .delegations
        .keys
        .insert(key.key_id().clone(), key.public_key().clone());
    targets.delegations.roles.push(DelegatedRole {
        keyids: vec![key.key_id().clone()],
        name: qa.clone(),
        paths: vec!["approvals/".into(), "_manifesto/".into()],
        threshold: 1,
    });
    repo.set("targets", ts::sign(&targets, &[&repo.tg_key]));
    repo.publish(2, 2);

    let digest = sha256_digest(b"an image manifest");
    Scene {
        remote: MemoryRemote {
            notary: MemoryNotary::serving(repo),
            registry: MemoryRegistry::default(),
        },
        settings,
        image: ImageRef::parse(&format!("{GUN}@{digest}")).unwrap(),
        digest,
        approvals: MetadataType::parse("approvals").unwrap(),
        qa,
        dir,
    }
}

impl Scene {
    async fn put(&self, ty: &MetadataType, content: &[u8]) -> Result<super::put::PutReport, Error> {
        self.put_as(&self.image, ty, content).await
    }

    /// `content` as `ty` of `image`, signed by `targets/qa`.
    async fn put_as(
        &self,
        image: &ImageRef,
        ty: &MetadataType,
        content: &[u8],
    ) -> Result<super::put::PutReport, Error> {
        let file = self.dir.path().join("content");
        std::fs::write(&file, content).unwrap();
        let req = PutRequest {
            image,
            metadata_type: ty,
            file: &file,
            role: self.qa.clone(),
            media_type: None,
            annotations: BTreeMap::new(),
        };
        put_via(
            &self.remote,
            &self.settings,
            req,
            &mut passphrases(),
            |_| {},
        )
        .await
    }

    async fn get(&self, ty: &MetadataType) -> Result<Vec<u8>, Error> {
        let req = GetRequest {
            image: &self.image,
            metadata_type: ty,
            signed_by: None,
            max_age: None,
            requirements: Vec::new(),
        };
        let fetched = get_via(&self.remote, &self.settings, req, self.dir.path()).await?;
        Ok(std::fs::read(fetched.content.path()).unwrap())
    }

    async fn delete(&self) -> Result<super::delete::DeleteReport, Error> {
        delete_via(
            &self.remote,
            &self.settings,
            &self.image,
            &self.approvals,
            self.qa.clone(),
            &mut passphrases(),
        )
        .await
    }

    fn repo(&self) -> RepositoryRef {
        self.image.repository_ref()
    }

    fn index_entries(&self) -> usize {
        self.index().len()
    }

    /// Every entry the `_manifesto` tag lists, through its shard indexes (either format).
    fn index(&self) -> Vec<layout::IndexEntry> {
        let repository = self.repo().repository().to_owned();
        self.remote.registry.with(|c| {
            let Some(top) = c
                .manifests
                .get(&format!("{repository}:{}", layout::INDEX_TAG))
            else {
                return Vec::new();
            };
            match layout::parse_top_index(&top.bytes).expect("the tag parses") {
                layout::TopIndex::Flat(entries) => entries,
                layout::TopIndex::Sharded { shards, .. } => shards
                    .values()
                    .flat_map(|s| {
                        let shard = &c.manifests[&format!("{repository}:{}", s.manifest)];
                        layout::parse_index(&shard.bytes)
                    })
                    .collect(),
            }
        })
    }

    /// The `_manifesto` tag as stored, parsed.
    fn top(&self) -> layout::TopIndex {
        let key = format!("{}:{}", self.repo().repository(), layout::INDEX_TAG);
        self.remote
            .registry
            .with(|c| layout::parse_top_index(&c.manifests[&key].bytes).expect("the tag parses"))
    }

    /// `put` of `content` as `ty` about another image, `image`.
    async fn put_about(
        &self,
        image: &Digest,
        content: &[u8],
    ) -> Result<super::put::PutReport, Error> {
        let image = ImageRef::parse(&format!("{GUN}@{image}")).unwrap();
        self.put_as(&image, &self.approvals, content).await
    }

    /// The manifests stored since `from` (an index into `manifest_puts`).
    fn manifest_puts_since(&self, from: usize) -> Vec<String> {
        self.remote
            .registry
            .with(|c| c.manifest_puts[from..].to_vec())
    }

    fn manifest_put_count(&self) -> usize {
        self.remote.registry.with(|c| c.manifest_puts.len())
    }
}

/// An image digest whose label differs from every one of `others`.
fn image_in_another_label(others: &[&Digest]) -> Digest {
    (0u32..)
        .map(|i| sha256_digest(format!("another image {i}").as_bytes()))
        .find(|d| {
            others
                .iter()
                .all(|o| super::shard::label(o) != super::shard::label(d))
        })
        .unwrap()
}

#[tokio::test]
async fn put_signs_one_publish_uploads_the_blob_and_manifest_and_get_reads_it_back() {
    let sc = scene();
    let report = sc.put(&sc.approvals, APPROVAL).await.unwrap();
    assert_eq!(report.role, "targets/qa");
    assert_eq!(report.attempts, 1);
    assert!(report.index_updated);
    assert_eq!(sc.remote.notary.publishes(), 1);
    // The blob and the manifesto manifest are in the registry, the index lists the image.
    let blob = sha256_digest(APPROVAL);
    assert!(
        sc.remote
            .registry
            .with(|c| c.blobs.contains_key(&blob.to_string()))
    );
    assert_eq!(report.blob_digest, blob.to_string());
    assert_eq!(sc.index_entries(), 1);
    // targets/qa now signs both targets of the image, in its bin for the image's label.
    let qa_role = RoleName::parse("targets/qa").unwrap();
    let bin = crate::manifesto::shard::bin_for(&qa_role, &sc.digest);
    let qa: serde_json::Value =
        serde_json::from_slice(&sc.remote.notary.file(bin.as_str())).unwrap();
    let signed = qa["signed"]["targets"].as_object().unwrap();
    assert!(signed.contains_key(&layout::metadata_target(&sc.approvals, &sc.digest)));
    assert!(signed.contains_key(&layout::manifesto_target(&sc.digest)));
    assert_eq!(sc.get(&sc.approvals).await.unwrap(), APPROVAL);
}

#[tokio::test]
async fn put_outside_the_delegated_paths_is_refused_before_any_upload_or_publish() {
    let sc = scene();
    let scans = MetadataType::parse("scans").unwrap();
    let err = sc.put(&scans, b"{}").await.err().unwrap();
    assert!(matches!(err, Error::PathNotDelegated { .. }), "{err:?}");
    assert_eq!(err.failure().exit_code(), 3);
    assert_eq!(sc.remote.notary.publishes(), 0);
    assert!(
        sc.remote
            .registry
            .with(|c| c.blobs.is_empty() && c.manifest_puts.is_empty())
    );
}

#[tokio::test]
async fn put_over_a_writer_that_changed_the_repository_keeps_both_changes() {
    let sc = scene();
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    // Another writer of targets adds a target of its own meanwhile.
    sc.remote.notary.change(|repo| {
        let mut targets: crate::tuf::metadata::Targets = serde_json::from_value(
            serde_json::from_slice::<serde_json::Value>(repo.file("targets")).unwrap()["signed"]
                .clone(),
        )
        .unwrap();
        targets.version = ts::v(3);
        targets
            .targets
            .insert("app/v2".into(), crate::tuf::metadata::FileMeta::of(b"v2"));
        let bytes = ts::sign(&targets, &[&repo.tg_key]);
        repo.set("targets", bytes);
    });
    let sboms = MetadataType::parse("approvals").unwrap();
    sc.put(&sboms, b"{\"status\":\"re-approved\"}")
        .await
        .unwrap();
    let listed = listing_via(&sc.remote, &sc.settings, &sc.repo(), None)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "one approval for the image, the newer one");
    assert_eq!(
        listed[0].blob_digest,
        sha256_digest(b"{\"status\":\"re-approved\"}").to_string()
    );
    let targets: serde_json::Value =
        serde_json::from_slice(&sc.remote.notary.file("targets")).unwrap();
    assert!(
        targets["signed"]["targets"].get("app/v2").is_some(),
        "the other writer's target stays"
    );
}

#[tokio::test]
async fn list_by_digest_asks_the_registry_nothing() {
    let sc = scene();
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    let resolves_before = sc.remote.registry.with(|c| c.resolves.len());
    let rows = list_image_via(&sc.remote, &sc.settings, &sc.image)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].role, "targets/qa");
    assert_eq!(rows[0].image_digest, sc.digest.to_string());
    assert_eq!(
        sc.remote.registry.with(|c| c.resolves.len()),
        resolves_before
    );
}

#[tokio::test]
async fn delete_publishes_the_removal_and_get_then_finds_nothing() {
    let sc = scene();
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    let report = sc.delete().await.unwrap();
    assert!(report.removed);
    assert_eq!(sc.remote.notary.publishes(), 2);
    let err = sc.get(&sc.approvals).await.err().unwrap();
    assert!(matches!(err, Error::NoMetadata { .. }), "{err:?}");
    assert_eq!(err.failure().exit_code(), 9);
    assert_eq!(sc.index_entries(), 0);
    // A second delete finds nothing to remove and publishes nothing.
    let again = sc.delete().await;
    assert!(
        matches!(again, Err(Error::NoMetadataSignedBy { .. })),
        "{again:?}"
    );
    assert_eq!(sc.remote.notary.publishes(), 2);
}

#[tokio::test]
async fn repair_restores_a_lost_manifesto_manifest_and_the_index() {
    let sc = scene();
    let report = sc.put(&sc.approvals, APPROVAL).await.unwrap();
    let repository = sc.repo().repository().to_owned();
    sc.remote.registry.with(|c| {
        c.manifests
            .remove(&format!("{repository}:{}", report.manifest_digest));
        c.manifests
            .remove(&format!("{repository}:{}", layout::INDEX_TAG));
    });
    let repaired = repair_via(&sc.remote, &sc.settings, &sc.repo())
        .await
        .unwrap();
    assert_eq!(repaired.manifests_checked, 1);
    assert_eq!(
        repaired.manifests_restored,
        vec![report.manifest_digest.clone()]
    );
    assert!(repaired.manifests_unrecoverable.is_empty());
    assert!(!repaired.index_was_current);
    assert_eq!(sc.index_entries(), 1);
    assert!(sc.remote.registry.with(|c| {
        c.manifests
            .contains_key(&format!("{repository}:{}", report.manifest_digest))
    }));
}

#[tokio::test]
async fn verify_meets_a_requirement_the_put_signed_and_misses_one_it_did_not() {
    let sc = scene();
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    let images = [ImageInput {
        given: sc.image.to_string(),
        image: sc.image.clone(),
    }];
    let resolves_before = sc.remote.registry.with(|c| c.resolves.len());
    let met = Requirement::parse("approvals").unwrap();
    let missing = Requirement::parse("scans").unwrap();
    let verdict = verify_via(
        &sc.remote,
        &sc.settings,
        &images,
        &[met, missing],
        None,
        Utc::now(),
    )
    .await;
    let statuses: Vec<Status> = verdict.images[0]
        .requirements
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![Status::Ok, Status::Missing]);
    assert!(!verdict.ok);
    assert_eq!(verdict.images[0].requirements[0].roles, vec!["targets/qa"]);
    // By digest, the signed targets answer: the registry is not asked.
    assert_eq!(
        sc.remote.registry.with(|c| c.resolves.len()),
        resolves_before
    );
}

#[tokio::test]
async fn a_warm_get_asks_the_notary_server_for_the_timestamp_only() {
    let sc = scene();
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    sc.get(&sc.approvals).await.unwrap();
    sc.remote.notary.source().forget_requests();
    assert_eq!(sc.get(&sc.approvals).await.unwrap(), APPROVAL);
    assert_eq!(
        sc.remote.notary.source().requested_files(),
        vec!["timestamp.json".to_string()]
    );
}

#[tokio::test]
async fn inspect_shows_the_delegation_its_version_and_what_it_signed() {
    let sc = scene();
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    let seen = super::inspect::inspect_via(&sc.remote, &sc.settings, &sc.repo())
        .await
        .unwrap();
    assert_eq!(seen.gun, GUN);
    let qa = seen
        .delegations
        .iter()
        .find(|d| d.role == "targets/qa")
        .expect("the delegation is shown");
    assert_eq!(qa.threshold, 1);
    assert_eq!(
        qa.version,
        Some(1),
        "the put published targets/qa version 1"
    );
    let names: Vec<(&str, &str)> = seen
        .targets
        .iter()
        .map(|t| (t.name.as_str(), t.role.as_str()))
        .collect();
    let approval = layout::metadata_target(&sc.approvals, &sc.digest);
    assert!(
        names.contains(&(approval.as_str(), "targets/qa")),
        "{names:?}"
    );
}

/// The owner of a generated repository: its targets key in the trust dir's key store.
fn owner_scene() -> (MemoryRemote, Settings, tempfile::TempDir, RepositoryRef) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::for_tests(&dir.path().join("trust"));
    let repo = Repo::new();
    let targets_key = SigningKey::from_pkcs8_for_tests(&repo.tg_key.pkcs8);
    assert_eq!(targets_key.key_id(), &repo.tg_key.id);
    let mut p = owner_passphrases();
    let pass = p.for_new_key(&RoleName::targets(), "targets").unwrap();
    KeyStore::new(&settings.trust_dir)
        .add(&targets_key, &RoleName::targets(), Some(GUN), &pass)
        .unwrap();
    let remote = MemoryRemote {
        notary: MemoryNotary::serving(repo),
        registry: MemoryRegistry::default(),
    };
    let gun = RepositoryRef::parse(GUN).unwrap();
    (remote, settings, dir, gun)
}

fn owner_passphrases() -> Passphrases {
    env_only(&[("MANIFESTO_TARGETS_PASSPHRASE", PASS)])
}

#[tokio::test]
async fn the_owner_adds_and_removes_a_delegation_in_one_publish_each() {
    use super::delegate::{add_via, list_via, remove_via};
    use super::remote::Owner;
    let (remote, settings, _dir, repo) = owner_scene();
    let qa = RoleName::parse("targets/qa").unwrap();
    let qa_key = SigningKey::generate(KeyAlgorithm::Ecdsa).unwrap();
    let approvals = MetadataType::parse("approvals").unwrap();
    let mut passphrases = owner_passphrases();
    let mut owner = Owner {
        remote: &remote,
        settings: &settings,
        passphrases: &mut passphrases,
    };
    let added = add_via(
        &mut owner,
        &repo,
        &qa,
        std::slice::from_ref(qa_key.public_key()),
        std::slice::from_ref(&approvals),
        None,
    )
    .await
    .unwrap();
    assert!(!added.extended);
    assert_eq!(remote.notary.publishes(), 1);
    let listed = list_via(&remote, &settings, &repo).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].role, "targets/qa");
    assert_eq!(listed[0].threshold, 1);
    assert_eq!(listed[0].types, vec!["approvals"]);
    assert_eq!(listed[0].key_ids, vec![qa_key.key_id().to_string()]);

    remove_via(&mut owner, &repo, &qa).await.unwrap();
    assert_eq!(remote.notary.publishes(), 2);
    assert!(
        list_via(&remote, &settings, &repo)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_put_into_one_label_rewrites_exactly_one_shard_and_the_top_index() {
    let sc = scene();
    let other = image_in_another_label(&[&sc.digest]);
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    sc.put_about(&other, b"{\"status\":\"other\"}")
        .await
        .unwrap();
    let layout::TopIndex::Sharded { shards, .. } = sc.top() else {
        panic!("the tag is an index of shard indexes");
    };
    let labels: Vec<&str> = shards.keys().map(String::as_str).collect();
    let mut expected = vec![super::shard::label(&sc.digest), super::shard::label(&other)];
    expected.sort_unstable();
    assert_eq!(labels, expected);
    assert_eq!(sc.index_entries(), 2);
    let other_shard = shards[super::shard::label(&other)].manifest.clone();

    let from = sc.manifest_put_count();
    let report = sc
        .put(&sc.approvals, b"{\"status\":\"re-approved\"}")
        .await
        .unwrap();
    assert!(report.index_updated);
    let repository = sc.repo().repository().to_owned();
    let puts = sc.manifest_puts_since(from);
    let layout::TopIndex::Sharded { shards, .. } = sc.top() else {
        panic!("the tag is an index of shard indexes");
    };
    let own_shard = &shards[super::shard::label(&sc.digest)].manifest;
    assert_eq!(
        puts,
        vec![
            format!("{repository}:{}", report.manifest_digest),
            format!("{repository}:{own_shard}"),
            format!("{repository}:{}", layout::INDEX_TAG),
        ],
        "the manifesto manifest, the image's shard and the top index: nothing else"
    );
    assert_eq!(
        shards[super::shard::label(&other)].manifest,
        other_shard,
        "the other label's shard is untouched"
    );
    assert_eq!(sc.index_entries(), 2);
}

/// The `_manifesto` tag with the shard of `label` replaced by `shard` (fingerprint `fingerprint`).
fn replace_shard(sc: &Scene, label: &str, shard: &[u8], fingerprint: &str) {
    let repository = sc.repo().repository().to_owned();
    let layout::TopIndex::Sharded { mut shards, rest } = sc.top() else {
        panic!("the tag is an index of shard indexes");
    };
    let digest = sha256_digest(shard);
    let entry = shards.get_mut(label).unwrap();
    entry.manifest = digest.clone();
    entry.size = shard.len() as u64;
    entry.fingerprint = fingerprint.to_owned();
    let top = layout::top_index_bytes(&shards.into_values().collect::<Vec<_>>(), &rest);
    sc.remote.registry.with(|c| {
        for (key, bytes) in [
            (format!("{repository}:{digest}"), shard.to_vec()),
            (format!("{repository}:{}", layout::INDEX_TAG), top),
        ] {
            c.manifests.insert(
                key,
                crate::registry::client::RawManifest {
                    digest: sha256_digest(&bytes),
                    bytes: bytes.into(),
                    media_type: crate::registry::client::media_types::OCI_INDEX.into(),
                },
            );
        }
    });
}

async fn reconcile(sc: &Scene, touched: &[&str]) -> super::index::IndexOutcome {
    let registry = sc.remote.registry.clone();
    let touched = touched.iter().map(|l| (*l).to_owned()).collect();
    super::index::reconcile_index(&sc.settings, &sc.remote, &registry, &sc.repo(), &touched)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_shard_whose_fingerprint_differs_from_the_snapshot_is_rebuilt_and_no_other() {
    let sc = scene();
    let other = image_in_another_label(&[&sc.digest]);
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    sc.put_about(&other, b"{\"status\":\"other\"}")
        .await
        .unwrap();
    let good = sc.index();
    let label = super::shard::label(&sc.digest).to_owned();
    let empty_shard = layout::index_bytes(&[]);
    let current = {
        let trusted = super::remote::trust_now(&sc.remote, &sc.settings, &sc.repo())
            .await
            .unwrap();
        super::index::shard_fingerprint(
            trusted
                .updater
                .state()
                .snapshot()
                .map(crate::tuf::verify::Verified::get),
            &label,
        )
    };

    // A shard whose recorded fingerprint matches the snapshot is trusted as it is: nothing is
    // rebuilt for it (staleness is decided from the snapshot, without reading any shard).
    replace_shard(&sc, &label, &empty_shard, &current);
    let from = sc.manifest_put_count();
    let outcome = reconcile(&sc, &[]).await;
    assert!(!outcome.full);
    assert_eq!(outcome.shards_rebuilt, 0);
    assert_eq!(sc.manifest_puts_since(from), Vec::<String>::new());

    // One recorded with another fingerprint is rebuilt from the signed targets.
    replace_shard(&sc, &label, &empty_shard, &"0".repeat(64));
    let from = sc.manifest_put_count();
    let outcome = reconcile(&sc, &[]).await;
    assert!(!outcome.full);
    assert_eq!(outcome.shards_rebuilt, 1);
    assert_eq!(outcome.shards, 2);
    assert_eq!(
        sc.manifest_puts_since(from).len(),
        2,
        "the shard and the top index"
    );
    assert_eq!(sc.index(), good);
    let layout::TopIndex::Sharded { shards, .. } = sc.top() else {
        panic!("sharded");
    };
    assert_eq!(shards[&label].fingerprint, current);

    // A label the writer names as touched is rebuilt whatever its fingerprint says.
    replace_shard(&sc, &label, &empty_shard, &current);
    let outcome = reconcile(&sc, &[&label]).await;
    assert_eq!(outcome.shards_rebuilt, 1);
    assert_eq!(sc.index(), good);
}

#[tokio::test]
async fn an_old_format_index_is_read_and_replaced_by_an_index_of_shards() {
    let sc = scene();
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    let good = sc.index();
    let repository = sc.repo().repository().to_owned();
    let flat = layout::index_bytes(&good);
    sc.remote.registry.with(|c| {
        c.manifests.insert(
            format!("{repository}:{}", layout::INDEX_TAG),
            crate::registry::client::RawManifest {
                digest: sha256_digest(&flat),
                bytes: flat.clone().into(),
                media_type: crate::registry::client::media_types::OCI_INDEX.into(),
            },
        );
    });
    assert!(matches!(sc.top(), layout::TopIndex::Flat(_)));
    assert_eq!(sc.index(), good, "the old format reads as before");
    let outcome = reconcile(&sc, &[]).await;
    assert!(outcome.full, "an old-format index is rebuilt whole");
    assert_eq!(outcome.entries, Some(1));
    assert!(matches!(sc.top(), layout::TopIndex::Sharded { .. }));
    assert_eq!(sc.index(), good);
}

#[tokio::test]
async fn repair_rebuilds_every_shard_and_says_how_many() {
    let sc = scene();
    let other = image_in_another_label(&[&sc.digest]);
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    sc.put_about(&other, b"{\"status\":\"other\"}")
        .await
        .unwrap();
    let good = sc.index();
    // Lose one shard index the tag names.
    let layout::TopIndex::Sharded { shards, .. } = sc.top() else {
        panic!("sharded");
    };
    let lost = shards[super::shard::label(&other)].manifest.clone();
    let repository = sc.repo().repository().to_owned();
    sc.remote
        .registry
        .with(|c| c.manifests.remove(&format!("{repository}:{lost}")));
    let repaired = repair_via(&sc.remote, &sc.settings, &sc.repo())
        .await
        .unwrap();
    assert_eq!(repaired.index_shards, 2);
    assert_eq!(repaired.index_entries, 2);
    assert!(!repaired.index_was_current);
    assert_eq!(sc.index(), good);
    let again = repair_via(&sc.remote, &sc.settings, &sc.repo())
        .await
        .unwrap();
    assert!(again.index_was_current);
}

#[tokio::test]
async fn a_later_put_rebuilds_a_shard_another_writer_left_stale_found_by_its_bin_fingerprint() {
    let sc = scene();
    let other = image_in_another_label(&[&sc.digest]);
    sc.put(&sc.approvals, APPROVAL).await.unwrap();
    sc.put_about(&other, b"{\"status\":\"first\"}")
        .await
        .unwrap();
    let repository = sc.repo().repository().to_owned();
    let tag = format!("{repository}:{}", layout::INDEX_TAG);
    let before = sc.remote.registry.with(|c| c.manifests[&tag].clone());
    let restore = before.clone();
    // Another writer re-signs the other image's bin, and its index update is lost: the tag
    // still records the bin as it was.
    let newer = sc
        .put_about(&other, b"{\"status\":\"second\"}")
        .await
        .unwrap();
    sc.remote
        .registry
        .with(|c| c.manifests.insert(tag.clone(), restore));
    let stale = sc.index().into_iter().find(|e| e.image == other).unwrap();
    assert_ne!(stale.manifest.to_string(), newer.manifest_digest);

    // The snapshot alone shows which shard is stale: only that one is rebuilt, from its bins.
    let outcome = reconcile(&sc, &[]).await;
    assert!(!outcome.full, "no full walk: {outcome:?}");
    assert_eq!(outcome.shards_rebuilt, 1);
    let fresh = sc.index().into_iter().find(|e| e.image == other).unwrap();
    assert_eq!(fresh.manifest.to_string(), newer.manifest_digest);
    sc.remote
        .registry
        .with(|c| c.manifests.insert(tag.clone(), before));

    // A put about this image (another label) sees from the snapshot alone that the other bin
    // moved, and rebuilds that shard too: its own shard, the stale one and the tag.
    let from = sc.manifest_put_count();
    let report = sc
        .put(&sc.approvals, b"{\"status\":\"re-approved\"}")
        .await
        .unwrap();
    assert!(report.index_updated);
    let puts = sc.manifest_puts_since(from);
    assert_eq!(puts.len(), 4, "manifest, two shards, tag: {puts:?}");
    let fresh = sc.index().into_iter().find(|e| e.image == other).unwrap();
    assert_eq!(fresh.manifest.to_string(), newer.manifest_digest);
    assert_eq!(sc.index_entries(), 2);
}
