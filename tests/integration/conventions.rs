//! The conventions of a command-line tool of this ecosystem (issue 16): -q, -v, -vv, colour,
//! each error once, `version`, usage errors as JSON, stdout failures, `-O -`, the defaulted
//! Docker trust directory and Notary server, LICENSE, man pages, install and release scripts.
//! Everything through the real binary: stdout, stderr and exit code checked each time.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::go_notary::{
    DELEGATION_PASSPHRASE, GoNotary, ROOT_PASSPHRASE, SNAPSHOT_PASSPHRASE, TARGETS_PASSPHRASE,
    unique_gun,
};
use crate::harness::{
    StackKind, TestEnv, code, ok, project_root, stack, stderr, stdout, unique_repo,
};
use crate::scene::{APPROVAL, copy_dir, published, snapshot_dir};

/// `cmd` as a `std::process::Command` (for stdout handles assert_cmd does not take).
fn to_std(cmd: &assert_cmd::Command) -> std::process::Command {
    let mut std_cmd = std::process::Command::new(cmd.get_program());
    std_cmd.args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => std_cmd.env(key, v),
            None => std_cmd.env_remove(key),
        };
    }
    std_cmd
}

fn binary() -> PathBuf {
    PathBuf::from(TestEnv::new().cmd().get_program())
}

/// The JSON object of a one-line stderr.
fn json_error(out: &std::process::Output) -> serde_json::Value {
    let text = stderr(out);
    assert_eq!(text.lines().count(), 1, "one line on stderr: {text}");
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

// --- 1. Logging -------------------------------------------------------------------------------

#[test]
fn quiet_init_put_list_resolve_key_generate_and_delegate_add_print_nothing() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("conv-quiet");
    s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", s.registry);
    let image = format!("{gun}:v1");
    let env = TestEnv::new();
    let public = env.home.path().join("qa.pem");
    let silent = |args: &[&str], stdin: Option<&[u8]>| {
        let mut cmd = env.signer_cmd();
        cmd.args(["-q", "--server", &s.notary_url]).args(args);
        if let Some(input) = stdin {
            cmd.write_stdin(input.to_vec());
        }
        let out = cmd.output().unwrap();
        assert_eq!(code(&out), 0, "-q {args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "-q {args:?} prints nothing on stdout");
        assert_eq!(stderr(&out), "", "-q {args:?} prints nothing on stderr");
    };
    silent(&["init", &gun], None);
    silent(&["put", &image, "approvals", "-"], Some(APPROVAL));
    silent(&["list", &image], None);
    silent(&["resolve", &image], None);
    silent(
        &[
            "key",
            "generate",
            "--role",
            "targets/qa",
            "--public-out",
            public.to_str().unwrap(),
        ],
        None,
    );
    silent(
        &[
            "delegate",
            "add",
            &gun,
            "qa",
            "--key",
            public.to_str().unwrap(),
            "--type",
            "scan",
        ],
        None,
    );

    // Without -q the same commands do print: the silence above is -q's doing.
    let listed = ok(
        env.cmd()
            .args(["--server", &s.notary_url, "list", &image])
            .output()
            .unwrap(),
        "list",
    );
    assert!(stdout(&listed).contains("approvals"), "{}", stdout(&listed));
    // What was asked for is still printed: the bytes of get.
    let got = ok(
        env.cmd()
            .args(["-q", "--server", &s.notary_url, "get", &image, "approvals"])
            .output()
            .unwrap(),
        "get -q",
    );
    assert_eq!(got.stdout, APPROVAL);
    assert_eq!(stderr(&got), "");
    // And errors are printed, once.
    let missing = env
        .cmd()
        .args(["-q", "--server", &s.notary_url, "get", &image, "seccomp"])
        .output()
        .unwrap();
    assert_eq!(code(&missing), 9, "{}", stderr(&missing));
    assert_eq!(stdout(&missing), "");
    assert_eq!(
        stderr(&missing).matches("manifesto: ").count(),
        1,
        "{}",
        stderr(&missing)
    );
}

#[test]
fn verbose_get_put_and_verify_log_each_network_step_and_decision() {
    let p = published("conv-verbose");
    let server = &p.stack.notary_url;

    let got = ok(p.get(&p.reader, &["-v"]), "get -v");
    assert_eq!(got.stdout, APPROVAL, "-v changes nothing on stdout");
    let log = stderr(&got);
    for line in [
        "resolved ".to_owned(),
        format!("GET {server}/v2/{}/_trust/tuf/timestamp.json: 200", p.gun),
        format!("trusted {}: root v1, timestamp v", p.gun),
        "Notary requests: ".to_owned(),
        "signed by targets".to_owned(),
    ] {
        assert!(log.contains(&line), "-v get logs {line:?}:\n{log}");
    }
    assert!(!log.contains("DEBUG"), "-v is info, not debug:\n{log}");

    let put = p
        .owner
        .signer_cmd()
        .args(["-v", "--server", server, "put", &p.image, "scan", "-"])
        .write_stdin(b"{\"cves\":0}".to_vec())
        .output()
        .unwrap();
    assert_eq!(code(&put), 0, "{}", stderr(&put));
    assert!(stdout(&put).contains("stored scan"), "{}", stdout(&put));
    let log = stderr(&put);
    for line in [
        "targets may sign scan/sha256:",
        "pushed the blob sha256:",
        "pushed the manifesto manifest sha256:",
        // the owner's shard root and the bin of the image, in one POST (docs/layout.md)
        "(targets/_manifesto, targets/_manifesto/",
        "published targets to the Notary server (attempts: 1)",
        "updated the _manifesto index",
    ] {
        assert!(log.contains(line), "-v put logs {line:?}:\n{log}");
    }

    let verify = p
        .reader
        .cmd()
        .args(["-v", "--server", server, "verify", &p.image])
        .args(["--require", "approvals"])
        .output()
        .unwrap();
    assert_eq!(code(&verify), 0, "{}", stderr(&verify));
    assert!(stdout(&verify).contains("PASS"), "{}", stdout(&verify));
    let log = stderr(&verify);
    assert!(
        log.contains("approvals/sha256:") && log.contains("signed by [targets]"),
        "-v verify logs who signed:\n{log}"
    );

    // Without -v, a successful get says nothing on stderr.
    let quiet = ok(p.get(&p.reader, &[]), "get");
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn very_verbose_shows_manifesto_debug_lines_but_not_the_http_clients_internals() {
    let p = published("conv-vv");
    let got = ok(p.get(&p.reader, &["-vv"]), "get -vv");
    assert_eq!(got.stdout, APPROVAL);
    let log = stderr(&got);
    assert!(
        log.contains("DEBUG") && log.contains("manifesto::"),
        "-vv shows manifesto's debug lines with their module:\n{log}"
    );
    for internal in ["oci_client", "hyper", "reqwest", "rustls", "h2::"] {
        assert!(!log.contains(internal), "-vv hides {internal}:\n{log}");
    }
}

/// A WARN line without any network: importing from a Docker trust directory without keys.
fn warn_line_command(env: &TestEnv) -> assert_cmd::Command {
    let dir = env.home.path().join("empty-trust");
    std::fs::create_dir_all(dir.join("private")).unwrap();
    let mut cmd = env.cmd();
    cmd.args(["key", "import", "--docker-trust"]).arg(&dir);
    cmd
}

#[test]
fn warnings_on_a_pipe_carry_no_ansi_colour() {
    let env = TestEnv::new();
    let out = warn_line_command(&env).output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "no keys found\n");
    let log = stderr(&out);
    assert!(
        log.contains("WARN") && log.contains("no key files under"),
        "{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "no escape codes on a pipe: {log:?}"
    );
}

/// `cmd` run under a pseudo-terminal (util-linux `script`); what the terminal showed.
fn on_a_terminal(cmd: &assert_cmd::Command) -> String {
    let line = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_str().unwrap()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = std::process::Command::new("script");
    script.args(["-q", "-e", "-c", &line, "/dev/null"]);
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => script.env(key, v),
            None => script.env_remove(key),
        };
    }
    let out = script
        .output()
        .expect("util-linux script (a pseudo-terminal)");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn warnings_on_a_terminal_are_coloured_unless_no_color_is_set() {
    let env = TestEnv::new();
    let mut cmd = warn_line_command(&env);
    cmd.env_remove("NO_COLOR");
    let shown = on_a_terminal(&cmd);
    assert!(shown.contains("no key files under"), "{shown:?}");
    assert!(shown.contains("\u{1b}["), "colour on a terminal: {shown:?}");

    cmd.env("NO_COLOR", "1");
    let shown = on_a_terminal(&cmd);
    assert!(shown.contains("no key files under"), "{shown:?}");
    assert!(!shown.contains('\u{1b}'), "NO_COLOR is honoured: {shown:?}");
}

#[test]
fn a_tls_failure_is_reported_once_by_default_with_q_and_under_json() {
    let s = stack(StackKind::Tls);
    let gun = unique_gun(s, "conv-tls");
    let env = TestEnv::new();
    let run = |extra: &[&str]| {
        // No --tls-ca: the stack's certificate does not verify.
        env.cmd()
            .args(extra)
            .args(["--server", &s.notary_url, "trust", "inspect", &gun])
            .output()
            .unwrap()
    };
    for extra in [&[][..], &["-q"][..]] {
        let out = run(extra);
        assert_eq!(code(&out), 3, "{extra:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "");
        let log = stderr(&out);
        assert_eq!(
            log.matches("could not be verified").count(),
            1,
            "{extra:?}: once\n{log}"
        );
        assert_eq!(log.matches("UnknownIssuer").count(), 1, "{extra:?}\n{log}");
        assert!(
            log.starts_with("manifesto: "),
            "{extra:?}: only the error\n{log}"
        );
    }
    // The registry's certificate too: one error, whatever the mode.
    for extra in [&[][..], &["-q"][..], &["-o", "json"][..]] {
        let out = env
            .cmd()
            .args(extra)
            .args(["--server", &s.notary_url, "get"])
            .arg(s.image(&unique_repo("conv-tls"), "v1"))
            .arg("approvals")
            .output()
            .unwrap();
        assert_eq!(code(&out), 3, "{extra:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "");
        let log = stderr(&out);
        assert_eq!(
            log.lines().filter(|l| l.contains("UnknownIssuer")).count(),
            1,
            "{extra:?}\n{log}"
        );
        assert_eq!(
            log.matches("could not be verified").count(),
            1,
            "{extra:?}\n{log}"
        );
    }
    let out = run(&["-o", "json"]);
    assert_eq!(code(&out), 3);
    assert_eq!(stdout(&out), "");
    let err = json_error(&out);
    assert_eq!(err["error"]["code"], 3);
    assert_eq!(stderr(&out).matches("could not be verified").count(), 1);
    assert_eq!(trust_files(&env), Vec::<String>::new(), "nothing trusted");
}

/// The trust cache's files, without the lock files a run leaves (empty: nothing was trusted).
fn trust_files(env: &TestEnv) -> Vec<String> {
    files_under(&env.trust_dir().join("tuf"))
        .into_iter()
        .filter(|f| !f.ends_with("/.lock"))
        .collect()
}

// --- 2. version -------------------------------------------------------------------------------

#[test]
fn version_reports_version_commit_build_date_tls_backend_and_features() {
    let env = TestEnv::new();
    let text = ok(env.cmd().arg("version").output().unwrap(), "version");
    assert_eq!(stderr(&text), "");
    let shown = stdout(&text);
    assert!(
        shown.starts_with(&format!("manifesto {}\n", env!("CARGO_PKG_VERSION"))),
        "{shown}"
    );
    for label in [
        "commit:",
        "build date:",
        "target:",
        "TLS backend: rustls (ring)",
        "features:",
    ] {
        assert!(shown.contains(label), "{label} in {shown}");
    }

    let json = ok(
        env.cmd().args(["-o", "json", "version"]).output().unwrap(),
        "-o json version",
    );
    assert_eq!(stderr(&json), "");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["tls_backend"], "rustls (ring)");
    let features: Vec<&str> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(features.contains(&"policy"), cfg!(feature = "policy"));
    // The build date is RFC 3339 UTC, e.g. 2026-12-01T10:55:15Z.
    let date = v["build_date"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(date).is_ok() && date.ends_with('Z'),
        "{date}"
    );
    // The commit is the one checked out when the binary was built (build.rs reruns on a new
    // commit), or "unknown" without git.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(project_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    assert_eq!(v["commit"], head.as_deref().unwrap_or("unknown"));
    assert!(shown.contains(v["commit"].as_str().unwrap()));

    let flag = ok(env.cmd().arg("--version").output().unwrap(), "--version");
    assert_eq!(
        stdout(&flag),
        format!("manifesto {}\n", env!("CARGO_PKG_VERSION"))
    );
}

// --- 3. Usage errors under -o json ------------------------------------------------------------

#[test]
fn argument_parser_errors_under_json_are_one_json_object_with_exit_2() {
    let env = TestEnv::new();
    for args in [
        &["-o", "json", "get"][..],
        &["--output=json", "frobnicate"][..],
        &["get", "x", "approvals", "--bogus", "-ojson"][..],
        &["-qo", "json", "get", "x", "approvals", "--max-age"][..],
        &["-o", "json", "key", "generate", "--type", "rsa"][..],
        &["-o", "json", "key"][..],
    ] {
        let out = env.cmd().args(args).output().unwrap();
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?}");
        let err = json_error(&out);
        assert_eq!(err["error"]["code"], 2, "{args:?}");
        assert_eq!(err["error"]["kind"], "usage", "{args:?}");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(
            !message.is_empty() && !message.starts_with("error:"),
            "{args:?}: {message}"
        );
        assert!(err["error"]["causes"].is_array(), "{args:?}");
    }
    let err = json_error(&env.cmd().args(["-o", "json", "get"]).output().unwrap());
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("<IMAGE> <TYPE>"),
        "{err}"
    );
    let sub = json_error(&env.cmd().args(["-o", "json", "delegate"]).output().unwrap());
    // One line naming what is missing (clap would print the whole help here).
    let message = sub["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("'manifesto delegate' ") && message.contains("subcommand"),
        "{message}"
    );
    // (clap's usage line also names the options the environment set, e.g. --trust-dir.)
    let usage = err["error"]["usage"].as_str().unwrap();
    assert!(
        usage.starts_with("manifesto get ") && usage.ends_with("<IMAGE> <TYPE>"),
        "{usage}"
    );

    // Text mode keeps clap's message; help is still help.
    let text = env.cmd().arg("get").output().unwrap();
    assert_eq!(code(&text), 2);
    assert!(stderr(&text).starts_with("error: "), "{}", stderr(&text));
    let help = ok(
        env.cmd()
            .args(["-o", "json", "get", "--help"])
            .output()
            .unwrap(),
        "help",
    );
    assert!(stdout(&help).contains("Usage: manifesto get"));
    assert_eq!(stderr(&help), "");
}

// --- 4. stdout --------------------------------------------------------------------------------

/// Run `cmd` with stdout on a pipe whose reading end is already closed (`| head -c0`).
fn into_closed_pipe(cmd: &assert_cmd::Command) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    to_std(cmd)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_broken_pipe_is_quiet_and_exits_0_as_in_ripgrep() {
    let p = published("conv-pipe");
    let mut get = p.reader.cmd();
    get.args(p.get_args());
    let out = into_closed_pipe(&get);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");

    let mut list = p.reader.cmd();
    list.args([
        "--server",
        &p.stack.notary_url,
        "-o",
        "json",
        "list",
        &p.image,
    ]);
    let out = into_closed_pipe(&list);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");

    let mut completions = TestEnv::new().cmd();
    completions.args(["completions", "bash"]);
    let out = into_closed_pipe(&completions);
    assert_eq!(code(&out), 0, "no panic on a closed pipe: {}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_failing_stdout_exits_8_and_says_so() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let env = TestEnv::new();
    for args in [
        &["version"][..],
        &["-o", "json", "version"][..],
        &["completions", "zsh"][..],
    ] {
        let mut cmd = env.cmd();
        cmd.args(args);
        let out = to_std(&cmd)
            .stdout(full())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(code(&out), 8, "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot write to standard output")
                && stderr(&out).contains("No space left on device"),
            "{args:?}: {}",
            stderr(&out)
        );
    }

    let p = published("conv-full");
    let cache = p.reader.trust_dir().join("tuf");
    let before = snapshot_dir(&cache);
    let mut get = p.reader.cmd();
    get.args(p.get_args()).args(["-o", "json"]);
    let out = to_std(&get)
        .stdout(full())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    let err = json_error(&out);
    assert_eq!(err["error"]["kind"], "local-state");
    // The cache holds only what was verified: the same trust data as before.
    assert_eq!(
        snapshot_dir(&cache).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
}

#[test]
fn get_dash_capital_o_dash_writes_to_stdout_not_a_file_named_dash() {
    let p = published("conv-dash");
    let dir = tempfile::tempdir().unwrap();
    let out = ok(
        p.reader
            .cmd()
            .current_dir(dir.path())
            .args(p.get_args())
            .args(["-O", "-"])
            .output()
            .unwrap(),
        "get -O -",
    );
    assert_eq!(out.stdout, APPROVAL);
    assert_eq!(stderr(&out), "");
    assert!(!dir.path().join("-").exists(), "no file named '-'");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

// --- 5. key import --docker-trust without DIR -------------------------------------------------

#[test]
fn key_import_docker_trust_without_dir_reads_the_home_docker_trust_directory() {
    let s = stack(StackKind::Plain);
    let go = GoNotary::new(s);
    let gun = unique_gun(s, "conv-docker-trust");
    go.init_with_targets(&gun, &[("app/v1", b"hello")]);
    let env = TestEnv::new();
    copy_dir(go.trust_dir.path(), &env.home.path().join(".docker/trust"));

    let out = env
        .signer_cmd()
        .env("NOTARY_ROOT_PASSPHRASE", ROOT_PASSPHRASE)
        .env("NOTARY_TARGETS_PASSPHRASE", TARGETS_PASSPHRASE)
        .env("NOTARY_SNAPSHOT_PASSPHRASE", SNAPSHOT_PASSPHRASE)
        .env("NOTARY_DELEGATION_PASSPHRASE", DELEGATION_PASSPHRASE)
        .args(["key", "import", "--docker-trust"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let shown = stdout(&out);
    assert_eq!(
        shown.matches("imported ").count(),
        3,
        "root, targets, snapshot: {shown}"
    );
    assert!(shown.contains(".docker/trust/private"), "{shown}");

    // Without such a directory the error names the path it looked at.
    let empty = TestEnv::new();
    let out = empty
        .cmd()
        .args(["key", "import", "--docker-trust"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        stderr(&out).contains(&format!("{}/.docker/trust", empty.home.path().display())),
        "{}",
        stderr(&out)
    );
}

// --- 6. The defaulted Notary server -----------------------------------------------------------

#[test]
fn with_no_server_configured_the_error_names_the_defaulted_server_and_how_to_set_one() {
    let s = stack(StackKind::Plain);
    let repo = unique_repo("conv-default-server");
    s.push_image(&repo, "v1");
    let image = s.image(&repo, "v1");
    let env = TestEnv::new();
    // The registry is plain HTTP on loopback; its https:// twin, Docker's default Notary server
    // for it, answers no TLS.
    let defaulted = format!("https://{}", s.registry);
    let out = env
        .cmd()
        .args(["get", &image, "approvals"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let said = stderr(&out);
    assert!(
        said.starts_with("manifesto: no Notary server is configured"),
        "{said}"
    );
    for needle in [
        defaulted.as_str(),
        "--server",
        "MANIFESTO_SERVER",
        "DOCKER_CONTENT_TRUST_SERVER",
        "is unreachable",
    ] {
        assert!(said.contains(needle), "{needle} in\n{said}");
    }
    assert_eq!(trust_files(&env), Vec::<String>::new(), "nothing trusted");
    // -v says so before trying.
    let out = env
        .cmd()
        .args(["-v", "get", &image, "approvals"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "no Notary server configured: using {defaulted}, Docker's default for {}",
            s.registry
        )),
        "{}",
        stderr(&out)
    );

    let out = env
        .cmd()
        .args([
            "-o",
            "json",
            "trust",
            "inspect",
            &format!("{}/{repo}", s.registry),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = json_error(&out);
    let message = err["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&defaulted) && message.contains("--server"),
        "{message}"
    );

    // A server the user named is not called a default.
    let out = env
        .cmd()
        .args(["--server", "http://127.0.0.1:1", "get", &image, "approvals"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("no Notary server is configured"),
        "{}",
        stderr(&out)
    );
    let out = env
        .cmd()
        .env("MANIFESTO_SERVER", "http://127.0.0.1:1")
        .args(["get", &image, "approvals"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("no Notary server is configured"),
        "{}",
        stderr(&out)
    );
}

// --- 7. LICENSE, man pages, install, release --------------------------------------------------

#[test]
fn the_license_is_the_apache_2_0_text_that_cargo_toml_names() {
    let root = project_root();
    let license = std::fs::read_to_string(root.join("LICENSE")).unwrap();
    assert!(license.contains("Apache License") && license.contains("Version 2.0, January 2004"));
    assert!(
        license.contains("END OF TERMS AND CONDITIONS"),
        "the full text"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("license = \"Apache-2.0\""));
}

const PAGES: [&str; 8] = [
    "manifesto.1",
    "manifesto-put.1",
    "manifesto-get.1",
    "manifesto-verify.1",
    "manifesto-key-import.1",
    "manifesto-delegate-add.1",
    "manifesto-trust-inspect.1",
    "manifesto-version.1",
];

#[test]
fn man_writes_a_page_per_command_from_the_cli_definition() {
    let env = TestEnv::new();
    let dir = env.home.path().join("man");
    let out = ok(env.cmd().arg("man").arg(&dir).output().unwrap(), "man DIR");
    assert_eq!(stdout(&out), "");
    assert!(stderr(&out).starts_with("wrote "), "{}", stderr(&out));
    for page in PAGES {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is roff"
        );
    }
    let put = std::fs::read_to_string(dir.join("manifesto-put.1")).unwrap();
    assert!(put.contains("annotation") && put.contains("media"), "{put}");
    // The hidden command documents nothing about itself.
    assert!(!dir.join("manifesto-man.1").exists());
    // Still a usage error without DIR.
    let out = env.cmd().arg("man").output().unwrap();
    assert_eq!(code(&out), 2);
}

/// The files under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    let mut names: Vec<String> = snapshot_dir(dir)
        .into_keys()
        .map(|k| k.strip_prefix(&prefix).unwrap_or(&k).to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn install_puts_the_binary_man_pages_and_completions_under_the_prefix() {
    let prefix = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(project_root().join("scripts/install"))
        .arg("--binary")
        .arg(binary())
        .arg(prefix.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let files = files_under(prefix.path());
    for expected in [
        "bin/manifesto",
        "share/bash-completion/completions/manifesto",
        "share/zsh/site-functions/_manifesto",
        "share/fish/vendor_completions.d/manifesto.fish",
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} in {files:?}"
        );
    }
    for page in PAGES {
        let path = format!("share/man/man1/{page}");
        assert!(files.contains(&path), "{path} in {files:?}");
    }
    let installed = std::process::Command::new(prefix.path().join("bin/manifesto"))
        .arg("version")
        .output()
        .unwrap();
    assert_eq!(code(&installed), 0);
    assert!(stdout(&installed).starts_with("manifesto "));

    let bad = std::process::Command::new(project_root().join("scripts/install"))
        .args(["--binary", "/nonexistent/manifesto"])
        .arg(prefix.path())
        .output()
        .unwrap();
    assert_ne!(code(&bad), 0);
}

#[test]
fn release_builds_a_tarball_with_a_checksum_that_installs_without_rust() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(project_root().join("scripts/release"))
        .arg("--binary")
        .arg(binary())
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let version: serde_json::Value = serde_json::from_slice(
        &ok(
            TestEnv::new()
                .cmd()
                .args(["-o", "json", "version"])
                .output()
                .unwrap(),
            "version",
        )
        .stdout,
    )
    .unwrap();
    let name = format!(
        "manifesto-{}-{}",
        env!("CARGO_PKG_VERSION"),
        version["target"].as_str().unwrap()
    );
    let tarball = out_dir.path().join(format!("{name}.tar.gz"));
    assert_eq!(
        stdout(&out),
        format!("{}\n{}.sha256\n", tarball.display(), tarball.display())
    );
    let check = std::process::Command::new("sha256sum")
        .args(["-c", &format!("{name}.tar.gz.sha256")])
        .current_dir(out_dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&check), 0, "{}", stdout(&check));

    let unpacked = tempfile::tempdir().unwrap();
    let tar = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(unpacked.path())
        .output()
        .unwrap();
    assert_eq!(code(&tar), 0, "{}", stderr(&tar));
    let files = files_under(&unpacked.path().join(&name));
    for expected in [
        "manifesto",
        "LICENSE",
        "README.md",
        "install.sh",
        "man/manifesto.1",
        "man/manifesto-get.1",
        "completions/manifesto.bash",
        "completions/_manifesto",
        "completions/manifesto.fish",
    ] {
        assert!(
            files.iter().any(|f| f == expected),
            "{expected} in {files:?}"
        );
    }
    // The no-Rust path: the tarball's install.sh installs its own binary.
    let prefix = tempfile::tempdir().unwrap();
    let install = std::process::Command::new(unpacked.path().join(&name).join("install.sh"))
        .arg(prefix.path())
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(code(&install), 0, "{}", stderr(&install));
    assert!(prefix.path().join("bin/manifesto").is_file());
    assert!(prefix.path().join("share/man/man1/manifesto.1").is_file());
}

#[test]
fn the_readme_opens_with_the_two_commands_and_an_install_without_rust() {
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    let top: String = readme.lines().take(40).collect::<Vec<_>>().join("\n");
    for needle in ["scripts/install", "sha256sum -c", ".tar.gz", "install.sh"] {
        assert!(
            top.contains(needle),
            "{needle} in the README's first lines:\n{top}"
        );
    }
}
