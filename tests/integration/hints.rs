//! Mistakes whose meaning can be guessed are answered with what was probably meant: the closest
//! type signed for the image, the closest role, the `--role` whose key is in the store, and
//! `init` of a repository the registry does not have. Exit codes stay those of the mistake.

use std::path::PathBuf;
use std::process::Output;

use crate::harness::{StackKind, TestEnv, code, ok, stack, stderr, stdout, unique_repo};
use crate::scene::{Owner, Scene, content_file, snapshot_dir};

/// A repository whose owner signed `approvals` and `scan` for `v1`, and delegated `approvals`
/// to `qa`, whose key only [`Qa::env`] holds.
struct Qa {
    sc: Scene,
    env: TestEnv,
    approval: PathBuf,
}

fn run(sc: &Scene, env: &TestEnv, args: &[&str]) -> Output {
    env.signer_cmd()
        .args(["--server", &sc.notary_url])
        .args(args)
        .output()
        .unwrap()
}

fn qa_scene(label: &str) -> Qa {
    let sc = Scene::new(label, Owner::Manifesto, false);
    let approval = content_file(&sc.owner, br#"{"status":"approved"}"#);
    for ty in ["approvals", "scan"] {
        ok(
            run(
                &sc,
                &sc.owner,
                &["put", &sc.image, ty, approval.to_str().unwrap()],
            ),
            "owner put",
        );
    }
    let env = TestEnv::new();
    let pem = env.home.path().join("qa.pem");
    ok(
        run(
            &sc,
            &env,
            &[
                "key",
                "generate",
                "--role",
                "targets/qa",
                "--public-out",
                pem.to_str().unwrap(),
            ],
        ),
        "qa key generate",
    );
    ok(
        run(
            &sc,
            &sc.owner,
            &[
                "delegate",
                "add",
                &sc.gun,
                "qa",
                "--key",
                pem.to_str().unwrap(),
                "--type",
                "approvals",
            ],
        ),
        "delegate add",
    );
    let approval = content_file(&env, br#"{"status":"approved","by":"qa"}"#);
    Qa { sc, env, approval }
}

#[test]
fn a_mistyped_type_in_get_names_the_closest_type_signed_for_the_image_and_exits_9() {
    let q = qa_scene("hint-type");
    let sc = &q.sc;
    let out = run(sc, &sc.reader, &["get", &sc.image, "aprovals"]);
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(err.contains("no aprovals metadata for"), "{err}");
    assert!(err.contains("did you mean 'approvals'?"), "{err}");
    assert!(
        err.contains(&format!("manifesto get {} approvals", sc.image)),
        "{err}"
    );

    // A swap of two letters is one edit too; a type far from every signed one gets no guess.
    let swapped = run(sc, &sc.reader, &["get", &sc.image, "sacn"]);
    assert_eq!(code(&swapped), 9);
    assert!(
        stderr(&swapped).contains("did you mean 'scan'?"),
        "{}",
        stderr(&swapped)
    );
    let far = run(sc, &sc.reader, &["get", &sc.image, "sbom"]);
    assert_eq!(code(&far), 9);
    assert!(!stderr(&far).contains("did you mean"), "{}", stderr(&far));
    assert!(
        stderr(&far).contains("store it with 'manifesto put"),
        "{}",
        stderr(&far)
    );

    // Under -o json the hint is the error object's message.
    let json = run(
        sc,
        &sc.reader,
        &["-o", "json", "get", &sc.image, "aprovals"],
    );
    assert_eq!(code(&json), 9);
    assert_eq!(stdout(&json), "");
    let v: serde_json::Value = serde_json::from_str(stderr(&json).trim()).unwrap();
    assert_eq!(v["error"]["kind"], "not-found");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean 'approvals'?"),
        "{v}"
    );
}

#[test]
fn put_and_delete_without_role_on_a_qa_machine_name_the_role_whose_key_is_in_the_store() {
    let q = qa_scene("hint-role");
    let sc = &q.sc;
    let file = q.approval.to_str().unwrap();
    let out = run(sc, &q.env, &["put", &sc.image, "approvals", file]);
    assert_eq!(code(&out), 8, "still a missing key: {}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains("no private key for targets of") && err.contains("pass --role qa"),
        "{err}"
    );
    assert!(err.contains("targets/qa"), "{err}");
    // The original error stays as the cause.
    assert!(
        err.contains("caused by: no private key for targets"),
        "{err}"
    );

    // What the hint says works.
    ok(
        run(
            sc,
            &q.env,
            &["put", &sc.image, "approvals", file, "--role", "qa"],
        ),
        "put --role qa",
    );
    let del = run(sc, &q.env, &["delete", &sc.image, "approvals"]);
    assert_eq!(code(&del), 8, "{}", stderr(&del));
    assert_eq!(stdout(&del), "");
    assert!(stderr(&del).contains("pass --role qa"), "{}", stderr(&del));

    // A type the delegation may not sign gets no such hint.
    let scan = run(sc, &q.env, &["put", &sc.image, "scan", file]);
    assert_eq!(code(&scan), 8, "{}", stderr(&scan));
    assert!(!stderr(&scan).contains("--role qa"), "{}", stderr(&scan));
}

#[test]
fn a_mistyped_role_names_the_closest_delegation_and_exits_9() {
    let q = qa_scene("hint-mistyped-role");
    let sc = &q.sc;
    let file = q.approval.to_str().unwrap();
    let out = run(
        sc,
        &q.env,
        &["put", &sc.image, "approvals", file, "--role", "qaa"],
    );
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains("targets/qaa is not a role of") && err.contains("did you mean --role qa?"),
        "{err}"
    );
    // Nothing close: the message as before.
    let far = run(
        sc,
        &q.env,
        &["put", &sc.image, "approvals", file, "--role", "security"],
    );
    assert_eq!(code(&far), 9);
    assert!(!stderr(&far).contains("did you mean"), "{}", stderr(&far));
    assert!(
        stderr(&far).contains("use --role targets, or a delegation"),
        "{}",
        stderr(&far)
    );
}

#[test]
fn init_of_a_repository_the_registry_does_not_have_is_refused_with_exit_9_and_writes_nothing() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("hint-init");
    s.push_image(&repo, "v1");
    // One letter too many: the registry has `…/hint-init-…-N`, not `…-Nx`.
    let typo = format!("{}/{repo}x", s.registry);
    let env = TestEnv::new();
    let init = |extra: &[&str]| {
        env.signer_cmd()
            .args(["--server", &s.notary_url])
            .args(extra)
            .arg(&typo)
            .output()
            .unwrap()
    };
    let out = init(&["init"]);
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{typo} does not exist in the registry"))
            && err.contains("--allow-new-repository"),
        "{err}"
    );
    assert!(!err.contains("generated root key"), "{err}");
    // Nothing written: no key made, no trust data on the server.
    assert_eq!(
        snapshot_dir(&env.trust_dir()),
        Default::default(),
        "the trust dir is untouched"
    );
    let inspect = env
        .cmd()
        .args(["--server", &s.notary_url, "trust", "inspect", &typo])
        .output()
        .unwrap();
    assert_eq!(
        code(&inspect),
        9,
        "no repository on the server: {}",
        stderr(&inspect)
    );

    let json = init(&["-o", "json", "init"]);
    assert_eq!(code(&json), 9);
    assert_eq!(stdout(&json), "");
    let v: serde_json::Value = serde_json::from_str(stderr(&json).trim()).unwrap();
    assert_eq!(v["error"]["kind"], "not-found");

    // The flag says "yes, a new one": initialised as before.
    let forced = ok(
        init(&["init", "--allow-new-repository"]),
        "init --allow-new-repository",
    );
    assert!(
        stdout(&forced).contains(&format!("initialised {typo}")),
        "{}",
        stdout(&forced)
    );
}
