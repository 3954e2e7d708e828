//! The update client over an in-memory server: which files it asks for, in which order, with
//! which bounds, and how each refusal is typed (SECURITY-TESTS scenarios, exit codes per §6).

use std::collections::BTreeMap;

use super::limits::Limits;
use super::memory_source::{MemorySource, Request, block_on, consistent_name};
use super::metadata::{FileMeta, Metadata};
use super::names::RoleName;
use super::test_support::*;
use super::trusted::{Lookup, TrustError};
use super::update::{Bootstrap, Cached, UpdateError, Updater};
use crate::failure::Failure;

const TOFU: Bootstrap<'static> = Bootstrap {
    pinned_certs: None,
    allow_tofu: true,
};

fn refresh<'a>(
    source: &'a MemorySource,
    cached: Cached,
    bootstrap: Bootstrap<'_>,
    limits: &Limits,
) -> Result<Updater<&'a MemorySource>, UpdateError> {
    block_on(Updater::refresh(
        source,
        GUN,
        cached,
        bootstrap,
        limits,
        now(),
    ))
}

/// What a client keeps after a successful update: the fresh files over the old cache.
fn cache_after(mut before: Cached, updater: &Updater<&MemorySource>) -> Cached {
    let (fresh, floors) = updater.to_persist();
    before.files.extend(fresh.clone());
    before.floors = floors.clone();
    before
}

/// A client that trusts `repo` as it is now.
fn warm(repo: &Repo) -> Cached {
    let source = MemorySource::serving(repo);
    let updater = refresh(&source, Cached::default(), TOFU, &Limits::default()).unwrap();
    cache_after(Cached::default(), &updater)
}

fn snapshot_name(repo: &Repo) -> String {
    consistent_name("snapshot", &FileMeta::of(&repo.snapshot))
}

fn targets_name(repo: &Repo) -> String {
    consistent_name("targets", &FileMeta::of(repo.file("targets")))
}

fn trust_error(err: UpdateError) -> TrustError {
    match err {
        UpdateError::Trust(e) => e,
        other => panic!("expected a trust error, got {other:?}"),
    }
}

#[test]
fn a_cold_update_fetches_root_timestamp_snapshot_and_targets_once_each_within_their_bounds() {
    let repo = Repo::new();
    let source = MemorySource::serving(&repo);
    let limits = Limits::default();
    let updater = refresh(&source, Cached::default(), TOFU, &limits).unwrap();
    assert_eq!(
        source.requests(),
        vec![
            Request {
                file: "root.json".into(),
                max_len: limits.root_max_bytes
            },
            Request {
                file: "timestamp.json".into(),
                max_len: limits.timestamp_max_bytes
            },
            Request {
                file: snapshot_name(&repo),
                max_len: repo.snapshot.len() as u64
            },
            Request {
                file: targets_name(&repo),
                max_len: repo.file("targets").len() as u64
            },
        ]
    );
    assert_eq!(updater.fetches(), 4);
    assert_eq!(source.updates_begun(), 1, "the transport clock starts once");
    let (fresh, floors) = updater.to_persist();
    assert_eq!(
        fresh.keys().map(String::as_str).collect::<Vec<_>>(),
        ["root", "snapshot", "targets", "timestamp"]
    );
    assert_eq!((floors.root, floors.timestamp, floors.snapshot), (1, 1, 1));
}

#[test]
fn a_warm_update_whose_timestamp_is_unchanged_fetches_exactly_one_file_and_persists_nothing() {
    let repo = Repo::new();
    let cached = warm(&repo);
    let source = MemorySource::serving(&repo);
    let updater = refresh(&source, cached, TOFU, &Limits::default()).unwrap();
    assert_eq!(source.requested_files(), ["timestamp.json"]);
    assert_eq!(updater.fetches(), 1);
    assert!(updater.to_persist().0.is_empty(), "nothing new to write");
}

#[test]
fn a_new_timestamp_over_an_unchanged_targets_file_fetches_timestamp_and_snapshot_only() {
    let mut repo = Repo::new();
    let cached = warm(&repo);
    repo.publish(2, 2);
    let source = MemorySource::serving(&repo);
    refresh(&source, cached, TOFU, &Limits::default()).unwrap();
    assert_eq!(
        source.requested_files(),
        ["timestamp.json".to_string(), snapshot_name(&repo)]
    );
}

#[test]
fn a_root_rotation_named_by_the_snapshot_is_followed_then_the_update_restarts_once() {
    let mut repo = Repo::new();
    let cached = warm(&repo);
    let new_key = TestKey::root_cert(GUN);
    repo.root = repo.signed_root(2, far(), &new_key, &[&repo.root_key, &new_key]);
    repo.publish(2, 2);
    let source = MemorySource::serving(&repo);
    let updater = refresh(&source, cached, TOFU, &Limits::default()).unwrap();
    assert_eq!(updater.state().root().version.get(), 2);
    // The restart reuses the snapshot verified before it (re-checked under the new root).
    assert_eq!(
        source.requested_files(),
        [
            "timestamp.json".to_string(),
            snapshot_name(&repo),
            "2.root.json".into(),
            "3.root.json".into(),
            "timestamp.json".into(),
        ]
    );
    assert_eq!(updater.to_persist().1.root, 2);
}

#[test]
fn a_targets_key_rotation_refused_under_the_old_root_succeeds_after_walking_to_the_new_root() {
    let mut repo = Repo::new();
    let cached = warm(&repo);
    let new_tg = TestKey::ecdsa();
    repo.root = sign(
        &root_meta(
            2,
            far(),
            &[&repo.root_key],
            1,
            &repo.ts_key,
            &repo.sn_key,
            &new_tg,
        ),
        &[&repo.root_key],
    );
    repo.set(
        "targets",
        sign(&targets_meta(2, far(), &[("app/v2", b"two")]), &[&new_tg]),
    );
    repo.publish(2, 2);
    let source = MemorySource::serving(&repo);
    let mut updater = refresh(&source, cached, TOFU, &Limits::default()).unwrap();
    assert_eq!(updater.state().root().version.get(), 2);
    assert!(block_on(updater.lookup("app/v2")).unwrap().is_some());
    assert_eq!(
        source.requested_files(),
        [
            "timestamp.json".to_string(),
            snapshot_name(&repo),
            targets_name(&repo),
            "2.root.json".into(),
            "3.root.json".into(),
            "timestamp.json".into(),
            targets_name(&repo),
        ]
    );
}

#[test]
fn a_snapshot_naming_a_root_the_server_never_serves_stops_after_bounded_restarts_exit_3() {
    let mut repo = Repo::new();
    let cached = warm(&repo);
    // The snapshot lists a root file other than the trusted one; no newer root exists.
    let mut listed = repo.files.clone();
    listed.insert(RoleName::root(), b"some other root".to_vec());
    repo.snapshot = sign(&snapshot_meta(2, far(), &listed), &[&repo.sn_key]);
    repo.timestamp = sign(&timestamp_meta(2, far(), &repo.snapshot), &[&repo.ts_key]);
    let source = MemorySource::serving(&repo);
    let err = refresh(&source, cached, TOFU, &Limits::default())
        .err()
        .unwrap();
    assert!(
        matches!(err, UpdateError::RootUnreachable { .. }),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Untrusted);
    let root_requests = source
        .requested_files()
        .iter()
        .filter(|f| f.as_str() == "2.root.json")
        .count();
    assert_eq!(root_requests, 4, "one walk per attempt, then it gives up");
}

#[test]
fn a_pinned_root_certificate_that_the_root_lists_is_accepted_without_tofu() {
    let repo = Repo::new();
    let source = MemorySource::serving(&repo);
    let pinned = [repo.root_key.id.to_string()];
    let bootstrap = Bootstrap {
        pinned_certs: Some(&pinned),
        allow_tofu: false,
    };
    refresh(&source, Cached::default(), bootstrap, &Limits::default()).unwrap();
    assert_eq!(source.requests().len(), 4);
}

#[test]
fn a_root_not_listing_the_pinned_certificate_is_refused_after_fetching_only_the_root_exit_3() {
    let repo = Repo::new();
    let source = MemorySource::serving(&repo);
    let pinned = [TestKey::root_cert(GUN).id.to_string()];
    let bootstrap = Bootstrap {
        pinned_certs: Some(&pinned),
        allow_tofu: true,
    };
    let err = refresh(&source, Cached::default(), bootstrap, &Limits::default())
        .err()
        .unwrap();
    assert!(matches!(&err, UpdateError::PinMismatch { pinned: p, .. } if p == &pinned[0]));
    assert_eq!(err.failure(), Failure::Untrusted);
    assert_eq!(source.requested_files(), ["root.json"]);
}

#[test]
fn a_root_rotation_to_an_unpinned_certificate_is_refused_exit_3() {
    let mut repo = Repo::new();
    let pinned = [repo.root_key.id.to_string()];
    let bootstrap = Bootstrap {
        pinned_certs: Some(&pinned),
        allow_tofu: false,
    };
    let cached = warm(&repo);
    let new_key = TestKey::root_cert(GUN);
    repo.root = repo.signed_root(2, far(), &new_key, &[&repo.root_key, &new_key]);
    repo.publish(2, 2);
    let source = MemorySource::serving(&repo);
    let err = refresh(&source, cached, bootstrap, &Limits::default())
        .err()
        .unwrap();
    assert!(matches!(err, UpdateError::PinMismatch { .. }), "{err:?}");
    assert_eq!(err.failure(), Failure::Untrusted);
}

#[test]
fn with_nothing_cached_pinned_or_allowed_the_update_is_refused_before_any_request_exit_2() {
    let repo = Repo::new();
    let source = MemorySource::serving(&repo);
    let bootstrap = Bootstrap {
        pinned_certs: None,
        allow_tofu: false,
    };
    let err = refresh(&source, Cached::default(), bootstrap, &Limits::default())
        .err()
        .unwrap();
    assert!(matches!(err, UpdateError::TofuRefused { .. }), "{err:?}");
    assert_eq!(err.failure(), Failure::Usage);
    assert!(source.requests().is_empty());
}

/// A properly signed snapshot (the server holds the snapshot key) whose `targets` entry claims
/// `length` bytes, and a timestamp over it.
fn snapshot_claiming(repo: &mut Repo, role: &str, length: u64) {
    let mut listed = repo.files.clone();
    listed.insert(RoleName::root(), repo.root.clone());
    let mut meta = snapshot_meta(2, far(), &listed);
    meta.meta.get_mut(role).unwrap().length = length;
    repo.snapshot = sign(&meta, &[&repo.sn_key]);
    repo.timestamp = sign(&timestamp_meta(2, far(), &repo.snapshot), &[&repo.ts_key]);
}

#[test]
fn a_snapshot_claiming_600_mib_targets_is_refused_before_any_download_exit_3() {
    let mut repo = Repo::new();
    let cached = warm(&repo);
    const CLAIM: u64 = 600 << 20;
    snapshot_claiming(&mut repo, "targets", CLAIM);
    let source = MemorySource::serving(&repo);
    let claimed_name = {
        let snapshot = super::envelope::SignedEnvelope::parse(&repo.snapshot, 1 << 20).unwrap();
        let meta = super::metadata::Snapshot::from_signed(&snapshot.signed).unwrap();
        consistent_name("targets", meta.meta_for(&RoleName::targets()).unwrap())
    };
    // Were it asked for, the server would stream that file forever.
    source.endless(&claimed_name);
    let limits = Limits::default();
    let err = refresh(&source, cached, TOFU, &limits).err().unwrap();
    assert_eq!(err.failure(), Failure::Untrusted);
    let err = trust_error(err);
    assert!(
        matches!(&err, TrustError::TooLarge { role, claimed: CLAIM, cap, field: "targets_max_bytes" }
            if role == &RoleName::targets() && *cap == limits.targets_max_bytes),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(shown.contains("limits.targets_max_bytes") && shown.contains("config.json"));
    assert!(
        !source.requested_files().contains(&claimed_name),
        "the targets file was never requested: {:?}",
        source.requests()
    );
}

#[test]
fn a_timestamp_claiming_a_snapshot_above_its_cap_is_refused_before_the_snapshot_is_fetched() {
    let mut repo = Repo::new();
    let cached = warm(&repo);
    let limits = Limits {
        snapshot_max_bytes: 64,
        ..Limits::default()
    };
    repo.publish(2, 2);
    let source = MemorySource::serving(&repo);
    let err = trust_error(refresh(&source, cached, TOFU, &limits).err().unwrap());
    assert!(
        matches!(&err, TrustError::TooLarge { role, cap: 64, field: "snapshot_max_bytes", .. }
            if role == &RoleName::snapshot()),
        "{err:?}"
    );
    assert!(!source.requested_files().contains(&snapshot_name(&repo)));
}

#[test]
fn a_configured_targets_cap_below_the_real_file_refuses_it_unfetched_even_when_cached() {
    let repo = Repo::new();
    let limits = Limits {
        targets_max_bytes: 16,
        ..Limits::default()
    };
    // Cold: never fetched.
    let source = MemorySource::serving(&repo);
    let err = trust_error(
        refresh(&source, Cached::default(), TOFU, &limits)
            .err()
            .unwrap(),
    );
    assert!(
        matches!(err, TrustError::TooLarge { cap: 16, .. }),
        "{err:?}"
    );
    assert!(!source.requested_files().contains(&targets_name(&repo)));
    // Warm: a cached copy above the cap is not used either.
    let source = MemorySource::serving(&repo);
    let err = trust_error(refresh(&source, warm(&repo), TOFU, &limits).err().unwrap());
    assert!(
        matches!(err, TrustError::TooLarge { cap: 16, .. }),
        "{err:?}"
    );
}

#[test]
fn an_endless_root_chain_is_walked_at_most_max_root_rotations_plus_one_files_exit_3() {
    let mut repo = Repo::new();
    let cached = warm(&repo);
    let source = MemorySource::serving(&repo);
    for version in 2..=10 {
        let root = repo.signed_root(version, far(), &repo.root_key, &[&repo.root_key]);
        source.put(&format!("{version}.root.json"), root.clone());
        repo.root = root;
    }
    repo.publish(2, 2);
    source.serve_repo(&repo);
    let limits = Limits {
        max_root_rotations: 3,
        ..Limits::default()
    };
    let err = refresh(&source, cached, TOFU, &limits).err().unwrap();
    assert_eq!(err.failure(), Failure::Untrusted);
    assert!(matches!(
        trust_error(err),
        TrustError::TooManyRootRotations { limit: 3 }
    ),);
    let roots: Vec<_> = source
        .requested_files()
        .into_iter()
        .filter(|f| f.ends_with(".root.json"))
        .collect();
    assert_eq!(
        roots,
        ["2.root.json", "3.root.json", "4.root.json", "5.root.json"]
    );
}

/// A sharded layout: `targets` delegates to `count` bins, each signing one target.
fn sharded(count: usize) -> Repo {
    let mut repo = Repo::new();
    let bin_key = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    let mut files = BTreeMap::new();
    for i in 0..count {
        let (name, target) = (format!("targets/bin{i:04}"), format!("app/{i:04}"));
        delegate(&mut top, &name, &[target.as_str()], &[&bin_key], 1);
        let bin = targets_meta(1, far(), &[(target.as_str(), target.as_bytes())]);
        files.insert(name, sign(&bin, &[&bin_key]));
    }
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    for (name, bytes) in files {
        repo.set(&name, bytes);
    }
    repo.publish(2, 2);
    repo
}

#[test]
fn listing_a_sharded_repository_may_visit_every_listed_role_beyond_the_per_lookup_bound() {
    let limits = Limits {
        max_delegation_visits: 4,
        ..Limits::default()
    };
    let bins = 10;
    let repo = sharded(bins);
    let source = MemorySource::serving(&repo);
    let mut updater = refresh(&source, Cached::default(), TOFU, &limits).unwrap();
    source.forget_requests();
    let all = block_on(updater.list_targets()).unwrap();
    assert_eq!(all.len(), bins);
    let fetched = source.requested_files();
    assert_eq!(fetched.len(), bins, "each bin fetched once: {fetched:?}");
    // One lookup keeps its own bound: it descends only into the bin whose paths match.
    assert!(matches!(
        updater.state().lookup("app/0007").unwrap(),
        Lookup::Found(t) if t.role.as_str() == "targets/bin0007"
    ));
}

#[test]
fn a_lookup_that_must_visit_more_roles_than_allowed_is_refused_exit_3() {
    let limits = Limits {
        max_delegation_visits: 4,
        ..Limits::default()
    };
    // Every bin may sign everything under `app/`, so a miss walks them all.
    let mut repo = Repo::new();
    let bin_key = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    for i in 0..6 {
        let name = format!("targets/bin{i}");
        delegate(&mut top, &name, &["app/"], &[&bin_key], 1);
        repo.set(&name, sign(&targets_meta(1, far(), &[]), &[&bin_key]));
    }
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.publish(2, 2);
    let source = MemorySource::serving(&repo);
    let mut updater = refresh(&source, Cached::default(), TOFU, &limits).unwrap();
    let err = trust_error(block_on(updater.lookup("app/missing")).err().unwrap());
    assert!(
        matches!(err, TrustError::TooManyDelegations { limit: 4 }),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Untrusted);
    let bins_fetched = source
        .requested_files()
        .iter()
        .filter(|f| f.starts_with("targets/bin"))
        .count();
    assert_eq!(bins_fetched, 3, "targets plus three bins, then the bound");
}

#[test]
fn valid_until_is_the_earliest_expiry_relied_on_and_relied_on_names_those_files_warm_or_cold() {
    let mut repo = Repo::new();
    let soon = at("2027-03-01T00:00:00Z");
    let targets = targets_meta(2, super::metadata::Expires::new(soon), &[("app/v1", b"hi")]);
    repo.set("targets", sign(&targets, &[&repo.tg_key]));
    repo.publish(2, 2);
    let source = MemorySource::serving(&repo);
    let cold = refresh(&source, Cached::default(), TOFU, &Limits::default()).unwrap();
    assert_eq!(cold.valid_until(), soon);
    let relied = cold.relied_on().unwrap();
    let roles: Vec<&str> = relied.keys().map(String::as_str).collect();
    assert_eq!(roles, ["root", "snapshot", "targets", "timestamp"]);
    assert_eq!(relied["targets"], repo.file("targets"));
    assert_eq!(relied["timestamp"], &repo.timestamp[..]);
    // From a warm cache nothing new is fetched, and the same bytes are relied on.
    let cached = cache_after(Cached::default(), &cold);
    let again = MemorySource::serving(&repo);
    let warm = refresh(&again, cached, TOFU, &Limits::default()).unwrap();
    assert_eq!(warm.relied_on().unwrap(), relied);
    assert_eq!(warm.valid_until(), soon);
}
