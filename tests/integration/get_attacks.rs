//! More verify-first cases on the real servers: a lost publish answer, a target outside its
//! role's paths, an expired role.

use crate::clock::at_clock;
use crate::go_notary::GoNotary;
use crate::harness::{StackKind, TestEnv, code, ok, stack, stderr, stdout, unique_repo};
use crate::hostile::answer_losing_proxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_whose_answer_is_lost_is_detected_as_done() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("lost-answer");
    s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", s.registry);
    let image = format!("{gun}:v1");
    let env = TestEnv::new();
    env.init_repo(&s.notary_url, &gun);
    // The server stores the POST, but the client only ever sees a 502 for it.
    let proxy = answer_losing_proxy(&s.notary_url, |method, _| method == "POST").await;
    let (server, image2) = (proxy.url.clone(), image.clone());
    let put = tokio::task::spawn_blocking(move || {
        env.signer_cmd()
            .args([
                "--server",
                &server,
                "-o",
                "json",
                "put",
                &image2,
                "approvals",
                "-",
            ])
            .write_stdin("{\"status\":\"approved\"}")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(
        code(&put),
        0,
        "the re-verified state holds the change: {}",
        stderr(&put)
    );
    let report: serde_json::Value = serde_json::from_slice(&put.stdout).unwrap();
    assert_eq!(report["attempts"], 0, "no second publish was made");
    let go = GoNotary::new(s);
    assert!(
        go.list(&gun)
            .iter()
            .any(|t| t.name.starts_with("approvals/"))
    );
}

#[test]
fn a_target_outside_the_role_s_paths_is_not_served_by_get() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("outside-paths");
    let digest = s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", s.registry);
    let image = format!("{gun}:v1");
    let owner = TestEnv::new();
    owner.init_repo(&s.notary_url, &gun);
    // A Go delegate signs a scan while its delegation allows scans, then loses that path.
    let go = GoNotary::new(s);
    let qa = go.generate_delegate_key("targets/qa");
    ok(
        owner
            .signer_cmd()
            .args([
                "--server",
                &s.notary_url,
                "delegate",
                "add",
                &gun,
                "qa",
                "--key",
            ])
            .arg(&qa.cert_or_pub_pem)
            .args(["--type", "approvals", "--type", "scan"])
            .output()
            .unwrap(),
        "delegate add",
    );
    let name = format!("scan/{digest}");
    go.delegate_publish(&gun, &qa, "targets/qa", &name, b"{\"critical\":0}");
    let got = owner
        .cmd()
        .args(["--server", &s.notary_url, "get", &image, "scan"])
        .output()
        .unwrap();
    assert_eq!(code(&got), 9, "{}", stderr(&got));
    assert!(
        stderr(&got).contains("blob"),
        "inside its paths the scan is trusted; only its blob is missing from the registry: {}",
        stderr(&got)
    );

    // Narrow the delegation to approvals only: the signed scan must now be ignored.
    ok(
        owner
            .signer_cmd()
            .args(["--server", &s.notary_url, "delegate", "remove", &gun, "qa"])
            .output()
            .unwrap(),
        "remove",
    );
    ok(
        owner
            .signer_cmd()
            .args([
                "--server",
                &s.notary_url,
                "delegate",
                "add",
                &gun,
                "qa",
                "--key",
            ])
            .arg(&qa.cert_or_pub_pem)
            .args(["--type", "approvals"])
            .output()
            .unwrap(),
        "delegate add",
    );
    assert!(
        go.fetch_signed(&gun, "targets/qa")["targets"]
            .get(&name)
            .is_some(),
        "the delegate's file still signs the scan"
    );
    let got = owner
        .cmd()
        .args(["--server", &s.notary_url, "get", &image, "scan"])
        .output()
        .unwrap();
    assert_eq!(
        code(&got),
        9,
        "outside its paths, the scan does not exist for readers: {}",
        stderr(&got)
    );
    assert!(
        stderr(&got).contains("no scan metadata"),
        "{}",
        stderr(&got)
    );
    assert!(stdout(&got).is_empty());
}

#[test]
fn metadata_of_an_expired_role_is_stale_exit_4() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("expired-role");
    s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", s.registry);
    let image = format!("{gun}:v1");
    let env = TestEnv::new();
    env.init_repo(&s.notary_url, &gun);
    ok(
        env.signer_cmd()
            .args(["--server", &s.notary_url, "put", &image, "approvals", "-"])
            .write_stdin("{\"status\":\"approved\"}")
            .output()
            .unwrap(),
        "put",
    );
    // Re-sign targets with a lifetime of one hour, then read it two hours on (faked clock).
    ok(
        env.signer_cmd()
            .args([
                "--server",
                &s.notary_url,
                "key",
                "rotate",
                &gun,
                "targets",
                "--targets-expires",
                "1h",
            ])
            .output()
            .unwrap(),
        "rotate",
    );
    let reader = TestEnv::new();
    let get = || {
        let mut cmd = reader.cmd();
        cmd.args(["--server", &s.notary_url, "get", &image, "approvals"]);
        cmd
    };
    ok(get().output().unwrap(), "get within the lifetime");
    let got = at_clock(&mut get(), "+7200").output().unwrap();
    assert_eq!(code(&got), 4, "{}", stderr(&got));
    assert!(stdout(&got).is_empty());
    assert!(stderr(&got).contains("expired"), "{}", stderr(&got));
}
