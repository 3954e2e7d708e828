//! The command line itself: help, completions, exit codes for bad input, JSON errors.

use crate::harness::{TestEnv, code, stderr, stdout};

#[test]
fn help_lists_every_documented_command() {
    let out = TestEnv::new().cmd().arg("--help").output().unwrap();
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    for command in [
        "put",
        "get",
        "list",
        "delete",
        "verify",
        "init",
        "trust",
        "repair",
        "delegate",
        "key",
        "completions",
    ] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} missing from --help:\n{help}"
        );
    }
    assert!(
        help.contains("Exit codes"),
        "exit codes are documented in --help"
    );
}

#[test]
fn subcommand_help_shows_the_documented_arguments() {
    let env = TestEnv::new();
    for (args, needles) in [
        (
            vec!["put", "--help"],
            vec![
                "[IMAGE]",
                "[TYPE]",
                "--batch <FILE>",
                "[FILE]",
                "--role",
                "--media-type",
                "--annotation",
            ],
        ),
        (
            vec!["get", "--help"],
            vec!["--max-age", "--signed-by", "--output-file"],
        ),
        (vec!["verify", "--help"], vec!["--require", "--policy"]),
        (
            vec!["delegate", "add", "--help"],
            vec!["--key", "--type", "--threshold"],
        ),
        (vec!["key", "import", "--help"], vec!["--docker-trust"]),
        (vec!["list", "--help"], vec!["--all"]),
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        assert_eq!(code(&out), 0, "{args:?}");
        let help = stdout(&out);
        for n in needles {
            assert!(help.contains(n), "{args:?} help lacks {n}:\n{help}");
        }
    }
}

#[test]
fn completions_are_generated_for_bash_and_zsh() {
    for shell in ["bash", "zsh", "fish"] {
        let out = TestEnv::new()
            .cmd()
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(code(&out), 0);
        assert!(
            stdout(&out).contains("manifesto"),
            "{shell} completions mention the binary"
        );
    }
}

#[test]
fn invalid_image_references_exit_2_with_a_reason() {
    let env = TestEnv::new();
    for bad in [
        "Alpine",
        "docker.io/Library/alpine",
        "app:",
        "../x",
        "a//b",
        "app@sha256:1234",
        "ünicode",
    ] {
        let out = env.cmd().args(["resolve", bad]).output().unwrap();
        assert_eq!(code(&out), 2, "{bad}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "nothing on stdout for {bad}");
        assert!(
            !stderr(&out).trim().is_empty(),
            "a reason on stderr for {bad}"
        );
    }
}

#[test]
fn invalid_metadata_type_exits_2_before_any_network_access() {
    let out = TestEnv::new()
        .cmd()
        .args(["get", "127.0.0.1:1/x/y:v1", "Approvals"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("invalid metadata type"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_policy_file_that_is_not_a_policy_is_exit_2_without_output() {
    let env = TestEnv::new();
    let path = env.home.path().join("policy.yaml");
    std::fs::write(&path, "- just\n- a list\n").unwrap();
    let args = [
        "verify",
        "127.0.0.1:1/x/y:v1",
        "--policy",
        path.to_str().unwrap(),
    ];
    let out = env.cmd().args(args).output().unwrap();
    assert_eq!(code(&out), 2, "{args:?}");
    assert!(stdout(&out).is_empty(), "{args:?} printed {}", stdout(&out));
    assert!(
        stderr(&out).contains("not a valid policy file"),
        "{args:?}: {}",
        stderr(&out)
    );
}

#[test]
fn plain_http_notary_server_on_a_non_loopback_host_is_refused() {
    let out = TestEnv::new()
        .cmd()
        .args([
            "--server",
            "http://notary.example.com:4443",
            "resolve",
            "127.0.0.1:1/x/y:v1",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing plain HTTP"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn plain_http_is_allowed_for_a_host_the_config_lists_as_insecure() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.trust_dir()).unwrap();
    std::fs::write(
        env.trust_dir().join("config.json"),
        r#"{"insecure_registries": ["notary.example.com:4443"]}"#,
    )
    .unwrap();
    // The server flag passes validation; the command then fails on its own bad input (exit 2
    // for the reference), proving the scheme check did not refuse it.
    let out = env
        .cmd()
        .args([
            "--server",
            "http://notary.example.com:4443",
            "resolve",
            "Bad",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(
        !stderr(&out).contains("refusing plain HTTP"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_errors_carry_the_exit_code_and_a_reason() {
    let out = TestEnv::new()
        .cmd()
        .args(["-o", "json", "resolve", "UPPER/case"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2);
    assert!(stdout(&out).is_empty());
    let err: serde_json::Value =
        serde_json::from_str(stderr(&out).trim()).expect("one JSON object on stderr");
    assert_eq!(err["error"]["code"], 2);
    assert_eq!(err["error"]["kind"], "usage");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lowercase")
    );
}

#[test]
fn unreachable_registry_exits_6() {
    // Port 1 on loopback: nothing listens there.
    let out = TestEnv::new()
        .cmd()
        .args(["resolve", "127.0.0.1:1/x/y:v1"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 6, "{}", stderr(&out));
}

#[test]
fn a_broken_config_file_is_local_state_exit_8() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.trust_dir()).unwrap();
    std::fs::write(env.trust_dir().join("config.json"), "{not json").unwrap();
    let out = env
        .cmd()
        .args(["resolve", "127.0.0.1:1/x/y:v1"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stderr(&out).contains("config.json"));
}
