//! Every `-o json` output of the real binary, checked against its schema in `docs/schemas/`
//! (docs/json.md): one vocabulary, list results as `{"items": [...]}`, annotations readable
//! wherever a signed target is shown, errors as one `{"error": {...}}` object on stderr.

use std::process::Output;

use serde_json::{Value, json};

use crate::airgap::{AirGap, offline};
use crate::copy::Promotion;
use crate::harness::{TestEnv, code, ok, stderr, stdout};
use crate::scene::{Owner, Scene, content_file};
use crate::schema::{assert_conforms, load, violations};

/// `manifesto --server URL -o json ARGS` as `env` (with the test passphrases).
fn json_run(sc: &Scene, env: &TestEnv, args: &[&str]) -> Output {
    env.signer_cmd()
        .args(["--server", &sc.notary_url, "-o", "json"])
        .args(args)
        .output()
        .unwrap()
}

/// Run, expect exit 0 and an empty stderr, and check stdout against the schema `name`.
fn conforming(sc: &Scene, env: &TestEnv, name: &str, args: &[&str]) -> Value {
    let out = ok(json_run(sc, env, args), &format!("{args:?}"));
    assert_eq!(
        stderr(&out),
        "",
        "{args:?}: nothing on stderr under -o json"
    );
    assert_conforms(name, &out.stdout)
}

#[test]
fn the_schema_validator_reports_missing_extra_and_mistyped_fields_and_bad_enum_values() {
    let schema = load("delete");
    let good = json!({"image": "r/a:v1", "image_digest": "sha256:00", "type": "scan",
                      "role": "targets", "removed": true});
    assert_eq!(violations(&schema, &good), Vec::<String>::new());
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("removed");
    let mut extra = good.clone();
    extra["digest"] = json!("sha256:00");
    let mut mistyped = good.clone();
    mistyped["removed"] = json!("yes");
    for (bad, expected) in [
        (missing, "required field \"removed\" is missing"),
        (extra, "field \"digest\" is not in the schema"),
        (mistyped, "$.removed: expected boolean"),
    ] {
        let errors = violations(&schema, &bad);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected}: {errors:?}"
        );
    }
    let verdict = load("verify");
    let bad_status = json!({"ok": false, "exit_code": 10, "images": [{
        "image": "r/a:v1", "image_digest": null, "ok": false, "exit_code": 10,
        "requirements": [{"requirement": "scan", "type": "scan", "status": "nope",
            "exit_code": 10, "reason": "-", "roles": [], "created_at": null,
            "blob_digest": null, "signers": []}]}]});
    let errors = violations(&verdict, &bad_status);
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("$.images[0].requirements[0].status")),
        "{errors:?}"
    );
}

#[test]
fn every_schema_file_loads_uses_only_the_checked_keywords_and_is_listed_in_docs_json_md() {
    let dir = crate::harness::project_root().join("docs/schemas");
    let index = std::fs::read_to_string(crate::harness::project_root().join("docs/json.md"))
        .expect("docs/json.md");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        let name = file
            .strip_suffix(".schema.json")
            .unwrap_or_else(|| panic!("{file}: docs/schemas holds *.schema.json only"));
        let schema = load(name);
        crate::schema::assert_supported(&schema, "");
        // Every schema requires something: an empty object must not pass.
        assert!(
            !violations(&schema, &json!({})).is_empty(),
            "{name}: an empty object passes"
        );
        assert!(
            index.contains(&format!("schemas/{file}")),
            "docs/json.md does not link {file}"
        );
        names.push(name.to_string());
    }
    for expected in [
        "get",
        "list",
        "put",
        "delete",
        "resolve",
        "init",
        "trust-inspect",
        "verify",
        "key-list",
        "key-generate",
        "delegate-list",
        "version",
        "copy",
        "bundle-create",
        "bundle-verify",
        "error",
    ] {
        assert!(names.iter().any(|n| n == expected), "no {expected} schema");
    }
}

#[test]
fn annotations_given_to_put_are_read_back_by_get_list_and_trust_inspect() {
    let sc = Scene::new("json-ann", Owner::Manifesto, false);
    let file = content_file(&sc.owner, br#"{"status":"approved"}"#);
    let put = conforming(
        &sc,
        &sc.owner,
        "put",
        &[
            "put",
            &sc.image,
            "approvals",
            file.to_str().unwrap(),
            "--annotation",
            "ticket=QA-1234",
            "--annotation",
            "reviewer=alice=lead",
        ],
    );
    let expected = json!({"reviewer": "alice=lead", "ticket": "QA-1234"});
    assert_eq!(put["annotations"], expected);

    let got = conforming(&sc, &sc.reader, "get", &["get", &sc.image, "approvals"]);
    assert_eq!(got["annotations"], expected, "get -o json");
    assert_eq!(got["created_at"], put["created_at"]);

    let listed = conforming(&sc, &sc.reader, "list", &["list", &sc.image]);
    assert_eq!(listed["items"][0]["annotations"], expected, "list -o json");

    let inspected = conforming(
        &sc,
        &sc.reader,
        "trust-inspect",
        &["trust", "inspect", &sc.gun],
    );
    let target = inspected["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == put["target"])
        .unwrap_or_else(|| panic!("no {} in {inspected:#}", put["target"]));
    assert_eq!(target["annotations"], expected, "trust inspect -o json");
    assert_eq!(target["media_type"], "application/json");
    assert_eq!(target["created_at"], put["created_at"]);
    assert_eq!(target["size"], put["size"]);
    assert_eq!(
        target["sha512"].as_str().map(str::len),
        Some(128),
        "{target}"
    );

    // The text listing shows them under the entry.
    let text = ok(
        sc.reader
            .cmd()
            .args(["--server", &sc.notary_url, "list", &sc.image])
            .output()
            .unwrap(),
        "list",
    );
    assert!(
        stdout(&text).contains("annotations: reviewer=alice=lead, ticket=QA-1234"),
        "{}",
        stdout(&text)
    );
    assert_eq!(stderr(&text), "");
}

#[test]
fn metadata_commands_print_json_that_conforms_to_their_schemas_in_one_vocabulary() {
    let sc = Scene::new("json-all", Owner::Manifesto, false);
    let file = content_file(&sc.owner, br#"{"status":"approved"}"#);
    let put = conforming(
        &sc,
        &sc.owner,
        "put",
        &["put", &sc.image, "approvals", file.to_str().unwrap()],
    );
    assert_eq!(put["image_digest"], sc.digest);
    assert_eq!(put["annotations"], json!({}));

    let resolved = conforming(&sc, &sc.reader, "resolve", &["resolve", &sc.image]);
    assert_eq!(
        resolved["image_digest"], sc.digest,
        "the same name as in put"
    );

    let got = conforming(&sc, &sc.reader, "get", &["get", &sc.pinned, "approvals"]);
    assert_eq!(got["image_digest"], sc.digest);
    assert_eq!(got["blob_digest"], put["blob_digest"]);
    let out_file = sc.reader.home.path().join("approval.json");
    let written = conforming(
        &sc,
        &sc.reader,
        "get",
        &[
            "get",
            &sc.image,
            "approvals",
            "-O",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        written["blob_digest"], got["blob_digest"],
        "-O prints the same description"
    );
    assert_eq!(
        std::fs::read(&out_file).unwrap(),
        br#"{"status":"approved"}"#
    );

    let one = conforming(&sc, &sc.reader, "list", &["list", &sc.image]);
    let all = conforming(&sc, &sc.reader, "list", &["list", &sc.gun, "--all"]);
    assert_eq!(one["items"], all["items"]);
    assert_eq!(one["items"][0]["image_digest"], sc.digest);

    let pass = conforming(
        &sc,
        &sc.reader,
        "verify",
        &["verify", &sc.image, "--require", "approvals"],
    );
    assert_eq!(pass["images"][0]["image_digest"], sc.digest, "not `digest`");
    let fail = json_run(&sc, &sc.reader, &["verify", &sc.image, "--require", "scan"]);
    assert_eq!(code(&fail), 10, "{}", stderr(&fail));
    let verdict = assert_conforms("verify", &fail.stdout);
    assert_eq!(verdict["images"][0]["requirements"][0]["status"], "missing");
    assert_conforms("error", stderr(&fail).trim_end().as_bytes());

    conforming(
        &sc,
        &sc.reader,
        "trust-inspect",
        &["trust", "inspect", &sc.gun],
    );
    conforming(&sc, &sc.owner, "repair", &["repair", &sc.gun]);
    let deleted = conforming(
        &sc,
        &sc.owner,
        "delete",
        &["delete", &sc.image, "approvals"],
    );
    assert_eq!(deleted["removed"], true);
    assert_eq!(deleted["image_digest"], sc.digest);

    let repo = crate::harness::unique_repo("json-init");
    sc.s.push_image(&repo, "v1");
    let gun = format!("{}/{repo}", sc.s.registry);
    let init = conforming(&sc, &TestEnv::new(), "init", &["init", &gun]);
    assert_eq!(init["gun"], gun);
}

#[test]
fn key_import_rotate_and_delegation_commands_print_json_conforming_to_their_schemas() {
    let sc = Scene::new("json-keys", Owner::Manifesto, false);
    let qa = TestEnv::new();
    let pem = qa.home.path().join("qa.pem");
    let generated = conforming(
        &sc,
        &qa,
        "key-generate",
        &[
            "key",
            "generate",
            "--role",
            "targets/qa",
            "--public-out",
            pem.to_str().unwrap(),
        ],
    );
    assert_eq!(generated["algorithm"], "ecdsa", "not `type`");
    let listed = conforming(&sc, &qa, "key-list", &["key", "list"]);
    assert_eq!(listed["items"][0]["key_id"], generated["key_id"]);
    assert_eq!(listed["items"][0]["algorithm"], "ecdsa");
    let key_id = generated["key_id"].as_str().unwrap();
    conforming(
        &sc,
        &qa,
        "key-export-public",
        &["key", "export-public", key_id],
    );

    let added = conforming(
        &sc,
        &sc.owner,
        "delegate-change",
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
    );
    assert_eq!(added["change"], "added");
    let delegations = conforming(
        &sc,
        &sc.reader,
        "delegate-list",
        &["delegate", "list", &sc.gun],
    );
    assert_eq!(delegations["items"][0]["role"], "targets/qa");
    assert_eq!(delegations["items"][0]["key_ids"], json!([key_id]));
    let removed = conforming(
        &sc,
        &sc.owner,
        "delegate-change",
        &["delegate", "remove", &sc.gun, "qa"],
    );
    assert_eq!(removed["change"], "removed");

    // The key file QA made, imported into another store.
    let other = TestEnv::new();
    let key_file = generated["path"].as_str().unwrap();
    let imported = conforming(&sc, &other, "key-import", &["key", "import", key_file]);
    assert_eq!(imported["imported"][0]["key_id"], generated["key_id"]);
    assert_eq!(imported["imported"][0]["algorithm"], "ecdsa");

    let rotated = conforming(
        &sc,
        &sc.owner,
        "key-rotate",
        &["key", "rotate", &sc.gun, "targets"],
    );
    assert_eq!(rotated["gun"], sc.gun);
    assert_eq!(rotated["published"], true);
}

#[test]
fn failures_under_json_print_one_error_object_conforming_to_the_schema_and_nothing_on_stdout() {
    let sc = Scene::new("json-err", Owner::Manifesto, false);
    for (args, rc, kind) in [
        (vec!["get", sc.image.as_str(), "Bad/Type"], 2, "usage"),
        (vec!["get", sc.image.as_str(), "approvals"], 9, "not-found"),
    ] {
        let out = json_run(&sc, &sc.reader, &args);
        assert_eq!(code(&out), rc, "{args:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{args:?}: nothing on stdout");
        let err = assert_conforms("error", stderr(&out).trim_end().as_bytes());
        assert_eq!(err["error"]["code"], rc);
        assert_eq!(err["error"]["kind"], kind);
    }
}

/// Exit 0, nothing on stderr, and stdout conforming to the schema `name`.
fn conforms_quietly(name: &str, out: Output, what: &str) -> Value {
    let out = ok(out, what);
    assert_eq!(stderr(&out), "", "{what}: nothing on stderr under -o json");
    assert_conforms(name, &out.stdout)
}

#[test]
fn version_prints_json_conforming_to_its_schema() {
    let env = TestEnv::new();
    let version = conforms_quietly(
        "version",
        env.cmd().args(["-o", "json", "version"]).output().unwrap(),
        "version -o json",
    );
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    // -q silences reports, not the data asked for.
    let quiet = conforms_quietly(
        "version",
        env.cmd()
            .args(["-q", "-o", "json", "version"])
            .output()
            .unwrap(),
        "version -q -o json",
    );
    assert_eq!(quiet, version);
}

#[test]
fn copy_prints_json_conforming_to_its_schema_with_and_without_the_image() {
    let p = Promotion::new("json-copy", false);
    let source = p.get_json(&p.owner, &p.src());
    let with_image = conforms_quietly(
        "copy",
        p.copy(&["--with-image", "-o", "json"]),
        "copy --with-image -o json",
    );
    assert_eq!(with_image["source"], p.src());
    assert_eq!(with_image["destination"], p.dst());
    assert_eq!(with_image["image_digest"], p.digest, "not `digest`");
    let image = &with_image["image_copied"];
    assert!(
        image["manifests"].as_u64() >= Some(1) && image["blobs_copied"].as_u64() >= Some(1),
        "{with_image:#}"
    );
    let copied = &with_image["copied"][0];
    assert_eq!(copied["type"], "approvals");
    assert_eq!(copied["blob_digest"], source["blob_digest"]);
    assert_eq!(copied["source_role"], "targets");
    assert_eq!(copied["source_created_at"], source["created_at"]);
    assert_eq!(copied["target"], format!("approvals/{}", p.digest));

    // The image is there now: without --with-image, no `image_copied`.
    let again = conforms_quietly("copy", p.copy(&["-o", "json"]), "copy -o json");
    assert!(again.get("image_copied").is_none(), "{again:#}");
    assert_eq!(again["copied"][0]["blob_digest"], source["blob_digest"]);
    let copy_read = conforms_quietly(
        "get",
        p.owner
            .cmd()
            .args(["--server", &p.s.notary_url, "-o", "json", "get", &p.dst()])
            .arg("approvals")
            .output()
            .unwrap(),
        "get -o json of the copy",
    );
    assert_eq!(copy_read["created_at"], again["copied"][0]["created_at"]);

    // A refused copy: one error object on stderr, nothing on stdout.
    let tag = format!("{}:v1", p.src_gun);
    let refused = p
        .owner
        .signer_cmd()
        .args([
            "--server",
            &p.s.notary_url,
            "-o",
            "json",
            "copy",
            &tag,
            &p.dst(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&refused), 2, "{}", stderr(&refused));
    assert_eq!(stdout(&refused), "");
    assert_conforms("error", stderr(&refused).trim_end().as_bytes());
}

#[test]
fn bundle_create_and_verify_and_offline_get_and_verify_print_json_conforming_to_their_schemas() {
    let a = AirGap::new("json-bundle");
    let file = a.p.owner.home.path().join("json.bundle");
    let created = conforms_quietly(
        "bundle-create",
        a.p.owner
            .cmd()
            .args([
                "--server",
                &a.p.s.notary_url,
                "-o",
                "json",
                "bundle",
                "create",
            ])
            .arg(a.p.src())
            .arg("-O")
            .arg(&file)
            .output()
            .unwrap(),
        "bundle create -o json",
    );
    assert_eq!(created["path"], file.to_str().unwrap(), "not `file`");
    let repo = &created["repositories"][0];
    assert_eq!(repo["gun"], a.p.src_gun);
    assert_eq!(
        repo["images"][0]["image_digest"], a.p.digest,
        "not `digest`"
    );
    let mut types: Vec<&str> = repo["images"][0]["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    types.sort_unstable();
    assert_eq!(types, ["approvals", "scan"]);

    let verified = conforms_quietly(
        "bundle-verify",
        offline(&a.reader)
            .args(["-o", "json", "bundle", "verify"])
            .arg(&file)
            .output()
            .unwrap(),
        "bundle verify -o json offline",
    );
    assert_eq!(verified["path"], created["path"]);
    assert_eq!(verified["repositories"], created["repositories"]);

    let got = conforms_quietly(
        "get",
        offline(&a.reader)
            .args(["-o", "json", "get", &a.p.src(), "approvals", "--bundle"])
            .arg(&file)
            .output()
            .unwrap(),
        "get -o json --bundle offline",
    );
    assert_eq!(got["image_digest"], a.p.digest);
    let approvals = repo["images"][0]["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["type"] == "approvals")
        .unwrap();
    assert_eq!(got["blob_digest"], approvals["blob_digest"]);
    assert_eq!(got["created_at"], approvals["created_at"]);

    let verify = |require: &str| {
        offline(&a.reader)
            .args(["-o", "json", "verify", &a.p.src(), "--require", require])
            .arg("--bundle")
            .arg(&file)
            .output()
            .unwrap()
    };
    let pass = conforms_quietly("verify", verify("approvals"), "verify -o json --bundle");
    assert_eq!(pass["ok"], true);
    assert!(pass["valid_until"].is_string(), "{pass:#}");
    let fail = verify("sbom");
    assert_eq!(code(&fail), 10, "{}", stderr(&fail));
    let verdict = assert_conforms("verify", &fail.stdout);
    assert_eq!(verdict["images"][0]["requirements"][0]["status"], "missing");
    assert_conforms("error", stderr(&fail).trim_end().as_bytes());

    // An offline failure: one error object on stderr, nothing on stdout.
    let missing = offline(&a.reader)
        .args(["-o", "json", "get", &a.p.src(), "sbom", "--bundle"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(code(&missing), 9, "{}", stderr(&missing));
    assert_eq!(stdout(&missing), "");
    let err = assert_conforms("error", stderr(&missing).trim_end().as_bytes());
    assert_eq!(err["error"]["kind"], "not-found");
}
