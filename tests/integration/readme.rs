//! The README's "A typical flow" and "verify in CI" examples, run literally with bash against the
//! local stack: the fenced blocks are read from README.md when the test runs, and only the
//! variables those blocks document (`REPO`, `IMAGE`, `WORKER_IMAGE`, `MANIFESTO_SERVER`) are set
//! to local values. A README edit that breaks an example, or a change of the tool that breaks
//! the README, fails here.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{
    DELEGATION_PASS, ROOT_PASS, StackKind, TARGETS_PASS, TestEnv, code, ok, project_root, stack,
    stderr, stdout, unique_repo,
};
use crate::schema::assert_conforms;

/// The fenced code blocks (info string, body) of the README section whose heading line is
/// `heading`, up to the next heading of the same or a higher level.
fn fenced_blocks(heading: &str) -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = readme.lines().skip_while(|l| *l != heading);
    assert_eq!(lines.next(), Some(heading), "README.md has no {heading:?}");
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in lines {
        if let Some((info, body)) = open.as_mut() {
            if line.trim_start().starts_with("```") {
                blocks.push((std::mem::take(info), std::mem::take(body)));
                open = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
            continue;
        }
        if line.starts_with("```") {
            open = Some((
                line.trim_start_matches('`').trim().to_string(),
                String::new(),
            ));
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes > 0 && hashes <= level && line[hashes..].starts_with(' ') {
            break;
        }
    }
    blocks
}

/// The one block of `lang` in the section `heading`.
fn block(heading: &str, lang: &str) -> String {
    let found: Vec<String> = fenced_blocks(heading)
        .into_iter()
        .filter(|(info, _)| info == lang)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(found.len(), 1, "one ```{lang} block under {heading:?}");
    found.into_iter().next().unwrap()
}

/// The script of the `run: |` key of a GitHub Actions step, dedented.
fn run_script(yaml: &str) -> String {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "run: |");
    let key = lines.next().expect("the step has `run: |`");
    let key_indent = key.len() - key.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > key_indent)
        .collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    body.iter()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `bash [flags] -c script` in `dir`, as a user whose home is `env`'s, with `manifesto` (the
/// binary under test) first on PATH and only the given variables set besides.
fn bash(env: &TestEnv, dir: &Path, flags: &[&str], script: &str, vars: &[(&str, &str)]) -> Output {
    let bin = assert_cmd::cargo::cargo_bin("manifesto");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.env_clear()
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", env.home.path())
        .env("MANIFESTO_TRUST_DIR", env.trust_dir())
        .env("DOCKER_CONFIG", env.docker_config_dir())
        .env("TMPDIR", std::env::temp_dir())
        .env("MANIFESTO_ROOT_PASSPHRASE", ROOT_PASS)
        .env("MANIFESTO_TARGETS_PASSPHRASE", TARGETS_PASS)
        .env("MANIFESTO_DELEGATION_PASSPHRASE", DELEGATION_PASS)
        .args(flags)
        .arg("-c")
        .arg(script);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_readme_typical_flow_runs_literally_against_the_local_stack() {
    let script = block("### A typical flow", "sh");
    for documented in [
        "REPO=${REPO:-",
        "export MANIFESTO_SERVER=${MANIFESTO_SERVER:-",
    ] {
        assert!(
            script.contains(documented),
            "the flow documents {documented}"
        );
    }
    let s = stack(StackKind::Plain);
    let repo = unique_repo("readme-flow");
    let digest = s.push_image(&repo, "1.4.2");
    let gun = format!("{}/{repo}", s.registry);
    let env = TestEnv::new();
    let dir = tempfile::tempdir().unwrap();
    let out = bash(
        &env,
        dir.path(),
        &["-e"],
        &script,
        &[("REPO", &gun), ("MANIFESTO_SERVER", &s.notary_url)],
    );
    assert_eq!(
        code(&out),
        0,
        "the README flow failed:\n--- stdout\n{}\n--- stderr\n{}",
        stdout(&out),
        stderr(&out)
    );
    let printed = stdout(&out);
    assert!(printed.contains(&format!("initialised {gun}")), "{printed}");
    assert!(printed.contains("added delegation targets/qa"), "{printed}");
    assert!(
        printed.contains(&format!("stored approvals for {gun}:1.4.2 ({digest})")),
        "{printed}"
    );
    // `get` wrote the approval itself, then `list` shows it signed by the delegation.
    assert!(printed.contains("{\"status\":\"approved\"}\n"), "{printed}");
    let listing = printed.rsplit(&digest).next().unwrap();
    assert!(
        listing.contains("approvals") && listing.contains("targets/qa"),
        "{printed}"
    );
    assert!(
        !stderr(&out).contains("manifesto:"),
        "no error: {}",
        stderr(&out)
    );
    assert!(dir.path().join("qa.pem").is_file());
}

/// An image `tag` of `repo` with `scan` put by the owner and `approvals` by each of `approvers`.
fn gated_image(env: &TestEnv, server: &str, repo: &str, tag: &str, approvers: &[&str]) -> String {
    let s = stack(StackKind::Plain);
    let digest = s.push_image(repo, tag);
    let image = format!("{}/{repo}@{digest}", s.registry);
    let put = |args: &[&str], content: &str| {
        ok(
            env.signer_cmd()
                .args(["--server", server, "put", &image])
                .args(args)
                .write_stdin(content.to_string())
                .output()
                .unwrap(),
            "put",
        );
    };
    put(&["scan", "-"], r#"{"findings":[]}"#);
    for qa in approvers {
        put(
            &["approvals", "-", "--role", qa],
            r#"{"status":"approved"}"#,
        );
    }
    image
}

#[test]
fn the_readme_ci_gate_and_github_step_run_literally_fail_on_unmet_requirements_and_then_pass() {
    let gate = block("### verify in CI", "sh");
    let step = run_script(&block("### verify in CI", "yaml"));
    assert!(gate.contains("\"$IMAGE\"") && step.contains("\"$WORKER_IMAGE\""));

    let s = stack(StackKind::Plain);
    let repo = unique_repo("readme-ci");
    let worker_repo = unique_repo("readme-ci-worker");
    s.push_image(&repo, "base");
    s.push_image(&worker_repo, "base");
    let env = TestEnv::new();
    for r in [&repo, &worker_repo] {
        env.init_repo(&s.notary_url, &format!("{}/{r}", s.registry));
    }
    for qa in ["qa", "qa1", "qa2"] {
        let pem = env.home.path().join(format!("{qa}.pem"));
        ok(
            env.signer_cmd()
                .args([
                    "key",
                    "generate",
                    "--role",
                    &format!("targets/{qa}"),
                    "--public-out",
                ])
                .arg(&pem)
                .output()
                .unwrap(),
            "key generate",
        );
        for r in [&repo, &worker_repo] {
            ok(
                env.signer_cmd()
                    .args(["--server", &s.notary_url, "delegate", "add"])
                    .arg(format!("{}/{r}", s.registry))
                    .args([qa, "--type", "approvals", "--key"])
                    .arg(&pem)
                    .output()
                    .unwrap(),
                "delegate add",
            );
        }
    }
    let server = s.notary_url.as_str();
    let dir = tempfile::tempdir().unwrap();

    // The shell gate: qa1 alone is one signer short of min-signers=2.
    let image = gated_image(&env, server, &repo, "v1", &["qa", "qa1"]);
    let vars = [("IMAGE", image.as_str()), ("MANIFESTO_SERVER", server)];
    let failed = bash(&env, dir.path(), &[], &gate, &vars);
    assert_eq!(code(&failed), 10, "{}", stderr(&failed));
    assert_eq!(
        stdout(&failed),
        "",
        "the verdict went to the temporary file"
    );
    let reasons = stderr(&failed);
    assert!(
        reasons.contains(&format!(
            "{image}: approvals,role=qa1|qa2,min-signers=2,max-age=7d: insufficient-signers:"
        )),
        "the jq line names the unmet requirement: {reasons}"
    );
    assert!(
        !reasons.contains("scan,max-age=24h"),
        "scan is met: {reasons}"
    );

    let both = gated_image(&env, server, &repo, "v2", &["qa", "qa1", "qa2"]);
    let vars = [("IMAGE", both.as_str()), ("MANIFESTO_SERVER", server)];
    let passed = bash(&env, dir.path(), &[], &gate, &vars);
    assert_eq!(code(&passed), 0, "{}", stderr(&passed));
    assert_eq!(stdout(&passed), "gate passed\n");

    // The GitHub Actions step, as `run:` runs it (bash -e -o pipefail): the verdict is printed
    // and kept in verdict.json, and verify's exit code survives the pipe into tee.
    let worker = gated_image(&env, server, &worker_repo, "v1", &["qa"]);
    let vars = [
        ("IMAGE", both.as_str()),
        ("WORKER_IMAGE", worker.as_str()),
        ("MANIFESTO_SERVER", server),
    ];
    let flags = ["--noprofile", "--norc", "-e", "-o", "pipefail"];
    let green = bash(&env, dir.path(), &flags, &step, &vars);
    assert_eq!(code(&green), 0, "{}", stderr(&green));
    let kept = std::fs::read(dir.path().join("verdict.json")).unwrap();
    assert_eq!(kept, green.stdout, "tee kept what it printed");
    let verdict: Value = assert_conforms("verify", &kept);
    assert_eq!(verdict["ok"], true);
    assert_eq!(verdict["images"][1]["image"], worker);

    // Without a role=qa approval on the worker the step fails with 10, through the pipe.
    let unapproved = gated_image(&env, server, &worker_repo, "v2", &["qa1"]);
    let vars = [
        ("IMAGE", both.as_str()),
        ("WORKER_IMAGE", unapproved.as_str()),
        ("MANIFESTO_SERVER", server),
    ];
    let red = bash(&env, dir.path(), &flags, &step, &vars);
    assert_eq!(code(&red), 10, "{}", stderr(&red));
    let verdict = assert_conforms("verify", &red.stdout);
    assert_eq!(
        verdict["images"][1]["requirements"][0]["status"],
        "unauthorized-signer"
    );
}
