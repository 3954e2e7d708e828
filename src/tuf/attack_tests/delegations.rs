//! Delegations: paths bound what a role may sign, order decides between roles, and only declared roles with their own keys count; the search is bounded.

use super::*;

/// A repo whose targets delegates as given; `files` are (role, targets, signer) to publish.
fn delegated_repo(top: Targets, files: Vec<(&str, Targets, &TestKey)>) -> Repo {
    let mut repo = Repo::new();
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    for (name, meta, key) in files {
        repo.set(name, sign(&meta, &[key]));
    }
    repo.publish(2, 2);
    repo
}

fn load_all(repo: &Repo) -> TrustedState {
    let mut s = repo.state();
    while let Err(needed) = s.list_targets().unwrap() {
        s.update_targets_role(&needed, &repo.files[&needed], now())
            .unwrap();
    }
    s
}

#[test]
fn target_outside_generated_delegation_paths_is_ignored() {
    let k = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/qa", &["qa/"], &[&k], 1);
    let qa = targets_meta(1, far(), &[("qa/ok", b"ok"), ("prod/evil", b"evil")]);
    let s = load_all(&delegated_repo(top, vec![("targets/qa", qa, &k)]));
    assert_eq!(found_in(s.lookup("qa/ok").unwrap()), "targets/qa");
    assert_eq!(s.lookup("prod/evil").unwrap(), Lookup::NotFound);
    let names: Vec<String> = s
        .list_targets()
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["qa/ok"]);
}

#[test]
fn child_paths_are_kept_within_parent_paths() {
    let (ka, kb) = (TestKey::ecdsa(), TestKey::ecdsa());
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/a", &["a/"], &[&ka], 1);
    let mut a = targets_meta(1, far(), &[]);
    // The child claims everything; only `a/x` lies within its parent's `a/`.
    delegate(&mut a, "targets/a/b", &["", "a/x", "b/"], &[&kb], 1);
    let b = targets_meta(1, far(), &[("a/x1", b"1"), ("a/y", b"2"), ("b/z", b"3")]);
    let s = load_all(&delegated_repo(
        top,
        vec![("targets/a", a, &ka), ("targets/a/b", b, &kb)],
    ));
    assert_eq!(found_in(s.lookup("a/x1").unwrap()), "targets/a/b");
    assert_eq!(s.lookup("a/y").unwrap(), Lookup::NotFound);
    assert_eq!(s.lookup("b/z").unwrap(), Lookup::NotFound);
}

#[test]
fn delegation_order_decides_which_role_wins() {
    let (k1, k2) = (TestKey::ecdsa(), TestKey::ecdsa());
    let mut top = targets_meta(2, far(), &[("top", b"from targets")]);
    delegate(&mut top, "targets/one", &[""], &[&k1], 1);
    delegate(&mut top, "targets/two", &[""], &[&k2], 1);
    let one = targets_meta(1, far(), &[("shared", b"one"), ("top", b"shadow")]);
    let two = targets_meta(1, far(), &[("shared", b"two"), ("only-two", b"2")]);
    let s = load_all(&delegated_repo(
        top,
        vec![("targets/one", one, &k1), ("targets/two", two, &k2)],
    ));
    assert_eq!(found_in(s.lookup("shared").unwrap()), "targets/one");
    assert_eq!(found_in(s.lookup("top").unwrap()), "targets");
    assert_eq!(found_in(s.lookup("only-two").unwrap()), "targets/two");
    let Lookup::Found(t) = s.lookup("shared").unwrap() else {
        unreachable!()
    };
    assert_eq!(t.meta, crate::tuf::metadata::FileMeta::of(b"one"));
}

#[test]
fn delegation_not_declared_by_its_parent_is_refused() {
    let k = TestKey::ecdsa();
    let top = targets_meta(2, far(), &[]);
    let ghost = targets_meta(1, far(), &[("x", b"x")]);
    let repo = delegated_repo(top, vec![("targets/ghost", ghost, &k)]);
    let mut s = repo.state();
    let err = s
        .update_targets_role(&role("targets/ghost"), repo.file("targets/ghost"), now())
        .unwrap_err();
    assert!(matches!(err, TrustError::NotDelegated { .. }), "{err:?}");
}

#[test]
fn delegation_to_a_grandchild_name_is_refused() {
    let k = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/a/b", &[""], &[&k], 1);
    let mut repo = Repo::new();
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.publish(2, 2);
    let mut s = up_to_snapshot(&repo);
    assert!(matches!(
        s.update_targets(repo.file("targets"), now()),
        Err(TrustError::Delegation { .. })
    ));
}

#[test]
fn delegation_signed_by_parent_key_instead_of_delegated_key_is_refused() {
    let k = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/qa", &[""], &[&k], 1);
    let mut repo = Repo::new();
    let qa = sign(&targets_meta(1, far(), &[("x", b"x")]), &[&repo.tg_key]);
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.set("targets/qa", qa);
    repo.publish(2, 2);
    let mut s = repo.state();
    assert!(matches!(
        s.update_targets_role(&role("targets/qa"), repo.file("targets/qa"), now()),
        Err(TrustError::Verify(VerifyError::Threshold { valid: 0, .. }))
    ));
}

#[test]
fn wide_delegation_search_is_bounded() {
    let mut top = targets_meta(2, far(), &[]);
    let keys: Vec<TestKey> = (0..40).map(|_| TestKey::ed25519()).collect();
    let names: Vec<String> = (0..40).map(|i| format!("targets/d{i}")).collect();
    for (name, k) in names.iter().zip(&keys) {
        delegate(&mut top, name, &[""], &[k], 1);
    }
    let files = names
        .iter()
        .zip(&keys)
        .map(|(n, k)| (n.as_str(), targets_meta(1, far(), &[]), k))
        .collect();
    let repo = delegated_repo(top, files);
    let mut s = repo.state();
    // targets + 30 loaded roles + the one still needed = 32 visits: still answered.
    for n in &names[..30] {
        s.update_targets_role(&role(n), repo.file(n), now())
            .unwrap();
    }
    assert_eq!(
        s.lookup("missing").unwrap(),
        Lookup::NeedRole(role(&names[30]))
    );
    s.update_targets_role(&role(&names[30]), repo.file(&names[30]), now())
        .unwrap();
    assert!(matches!(
        s.lookup("missing"),
        Err(TrustError::TooManyDelegations { .. })
    ));
}

#[test]
fn reloading_a_parent_forgets_its_children() {
    let k = TestKey::ecdsa();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/qa", &[""], &[&k], 1);
    let repo = delegated_repo(
        top,
        vec![("targets/qa", targets_meta(1, far(), &[("x", b"x")]), &k)],
    );
    let mut s = load_all(&repo);
    assert!(s.targets_role(&role("targets/qa")).is_some());
    s.update_targets(repo.file("targets"), now()).unwrap();
    assert!(s.targets_role(&role("targets/qa")).is_none());
}
