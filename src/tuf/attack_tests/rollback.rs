//! Rollback and freeze: older versions than the trusted ones are refused, across restarts too, and a same version with other content is refused.

use super::*;

#[test]
fn rolled_back_timestamp_is_refused() {
    let mut repo = Repo::new();
    repo.publish(5, 5);
    let mut s = repo.state();
    let old = sign(&timestamp_meta(3, far(), &repo.snapshot), &[&repo.ts_key]);
    let err = s.update_timestamp(&old, now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                version: 3,
                floor: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.failure(), Failure::Rollback);
    assert_eq!(
        s.timestamp().unwrap().version.get(),
        5,
        "the trusted timestamp is kept"
    );
}

#[test]
fn rolled_back_timestamp_after_restart_is_refused() {
    let mut repo = Repo::new();
    repo.publish(5, 5);
    let floors = repo.state().floors().clone();
    let old = sign(&timestamp_meta(3, far(), &repo.snapshot), &[&repo.ts_key]);
    let mut fresh = TrustedState::new(GUN, &repo.root, &Limits::default())
        .unwrap()
        .with_floors(&floors);
    assert!(matches!(
        fresh.update_timestamp(&old, now()),
        Err(TrustError::Rollback { .. })
    ));
    // The same floor can be rebuilt from the cached timestamp file itself.
    let mut fresh = trusting_root(&repo);
    assert!(fresh.remember_cached(&RoleName::timestamp(), &repo.timestamp));
    assert!(matches!(
        fresh.update_timestamp(&old, now()),
        Err(TrustError::Rollback { .. })
    ));
}

#[test]
fn same_version_timestamp_with_other_content_is_refused() {
    let mut repo = Repo::new();
    let mut s = repo.state();
    repo.publish(2, 1);
    let err = s.update_timestamp(&repo.timestamp, now()).unwrap_err();
    assert!(
        matches!(err, TrustError::SameVersionDiffers { .. }),
        "{err:?}"
    );
}

#[test]
fn rolled_back_snapshot_is_refused() {
    let mut repo = Repo::new();
    repo.publish(5, 5);
    let mut s = repo.state();
    repo.publish(4, 6);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    let err = s.update_snapshot(&repo.snapshot, now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                version: 4,
                floor: 5,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rolled_back_targets_is_refused() {
    let mut repo = Repo::new();
    repo.set(
        "targets",
        sign(
            &targets_meta(3, far(), &[("app/v1", b"hello")]),
            &[&repo.tg_key],
        ),
    );
    repo.publish(2, 2);
    let mut s = repo.state();
    repo.set(
        "targets",
        sign(
            &targets_meta(2, far(), &[("app/v1", b"older")]),
            &[&repo.tg_key],
        ),
    );
    repo.publish(3, 3);
    s.update_timestamp(&repo.timestamp, now()).unwrap();
    s.update_snapshot(&repo.snapshot, now()).unwrap();
    let err = s.update_targets(repo.file("targets"), now()).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                version: 2,
                floor: 3,
                ..
            }
        ),
        "{err:?}"
    );
}
