//! How many requests the common paths make, read from the real servers' own access logs (the
//! registry and notary-server log every request with its URI), so a change that adds a round
//! trip fails a test here rather than showing up later in a benchmark. Each test works on a
//! repository of its own, so the shared stack's other traffic is filtered out by name.

use std::path::Path;
use std::time::Duration;

use crate::harness::{Stack, ok};
use crate::scene::{APPROVAL, Published, published};

/// The requests manifesto made for `repository` that `log` records, as `METHOD PATH` without
/// the query, in order. `needle` is how the path names the repository.
fn logged(log: &Path, needle: &str, parse: fn(&str) -> Option<(String, String)>) -> Vec<String> {
    // A missing log would make "no request" pass vacuously.
    let text = std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("the server's log {}: {e}", log.display()));
    assert!(
        text.contains("manifesto/"),
        "{} records no manifesto request",
        log.display()
    );
    logged_lines(log, needle, parse)
}

/// [`logged`] without its check that the log records some manifesto request (for a caller that
/// compares the log before and after a command).
pub(crate) fn logged_lines(
    log: &Path,
    needle: &str,
    parse: fn(&str) -> Option<(String, String)>,
) -> Vec<String> {
    let text = std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("the server's log {}: {e}", log.display()));
    text.lines()
        .filter(|l| l.contains("manifesto/"))
        .filter_map(parse)
        .filter(|(_, path)| path.contains(needle))
        .map(|(method, path)| {
            let path = path.split('?').next().unwrap_or_default().to_owned();
            format!("{method} {path}")
        })
        .collect()
}

/// The registry's access log: `… "GET /v2/<repo>/blobs/sha256:… HTTP/1.1" 200 …`.
pub(crate) fn registry_line(line: &str) -> Option<(String, String)> {
    let request = line.split('"').nth(1)?;
    let mut parts = request.split(' ');
    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
}

/// notary-server's JSON log: `"http.request.method":"GET"` … `"http.request.uri":"/v2/…"`.
pub(crate) fn notary_line(line: &str) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["msg"] != "response completed" {
        return None;
    }
    Some((
        v["http.request.method"].as_str()?.to_owned(),
        v["http.request.uri"].as_str()?.to_owned(),
    ))
}

/// Both servers' requests for `p`'s repository made while `run` ran.
fn requests_during(p: &Published, run: impl FnOnce()) -> (Vec<String>, Vec<String>) {
    let s: &Stack = p.stack;
    let repo = p.gun.split_once('/').expect("a GUN has a host").1;
    let registry_needle = format!("/v2/{repo}/");
    let notary_needle = format!("/v2/{}/_trust/", p.gun);
    let count = || {
        (
            logged(&s.dir.join("registry.log"), &registry_needle, registry_line),
            logged(
                &s.dir.join("notary-server.log"),
                &notary_needle,
                notary_line,
            ),
        )
    };
    let (registry_before, notary_before) = count();
    run();
    // The servers log a request after answering it: let the last lines land.
    std::thread::sleep(Duration::from_millis(300));
    let (registry_after, notary_after) = count();
    (
        registry_after[registry_before.len()..].to_vec(),
        notary_after[notary_before.len()..].to_vec(),
    )
}

fn pinned_image(p: &Published) -> String {
    let out = ok(
        p.reader
            .cmd()
            .args(["-o", "json", "resolve", &p.image])
            .output()
            .unwrap(),
        "resolve",
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = v["image_digest"]
        .as_str()
        .expect("resolve prints the digest");
    format!("{}@{digest}", p.gun)
}

#[test]
fn a_warm_get_by_digest_asks_notary_for_the_timestamp_and_the_registry_for_the_blob_only() {
    let p = published("count-get-digest");
    let pinned = pinned_image(&p);
    let (registry, notary) = requests_during(&p, || {
        let out = ok(
            p.reader
                .cmd()
                .args(["--server", &p.stack.notary_url, "get", &pinned, "approvals"])
                .output()
                .unwrap(),
            "warm get by digest",
        );
        assert_eq!(out.stdout, APPROVAL);
    });
    assert_eq!(
        notary,
        vec![format!("GET /v2/{}/_trust/tuf/timestamp.json", p.gun)]
    );
    assert_eq!(registry.len(), 1, "{registry:#?}");
    assert!(
        registry[0].starts_with("GET ") && registry[0].contains("/blobs/sha256:"),
        "{registry:#?}"
    );
}

#[test]
fn a_warm_get_by_tag_adds_one_manifest_request() {
    let p = published("count-get-tag");
    let (registry, notary) = requests_during(&p, || {
        let out = ok(p.get(&p.reader, &[]), "warm get by tag");
        assert_eq!(out.stdout, APPROVAL);
    });
    assert_eq!(notary.len(), 1, "{notary:#?}");
    let repo = p.gun.split_once('/').unwrap().1;
    assert_eq!(registry.len(), 2, "{registry:#?}");
    assert_eq!(registry[0], format!("GET /v2/{repo}/manifests/v1"));
    assert!(registry[1].contains("/blobs/sha256:"), "{registry:#?}");
}

#[test]
fn a_put_uploads_each_blob_in_one_request_and_writes_three_manifests() {
    let p = published("count-put");
    let repo = p.gun.split_once('/').unwrap().1;
    let (registry, notary) = requests_during(&p, || {
        ok(p.put(b"{\"status\":\"re-approved\"}"), "second put");
    });
    // Notary: one update for the authority check, which the publish builds on (no second
    // one), the POST, then the index's update (the new snapshot and the changed bin; the shard
    // root did not change) and its check that no writer came in between.
    let notary_count = |method: &str, part: &str| {
        notary
            .iter()
            .filter(|r| r.starts_with(method) && r.contains(part))
            .count()
    };
    assert_eq!(notary_count("POST", ""), 1, "{notary:#?}");
    assert_eq!(notary_count("GET", "timestamp.json"), 3, "{notary:#?}");
    assert_eq!(notary_count("GET", "snapshot."), 1, "{notary:#?}");
    assert_eq!(notary.len(), 6, "{notary:#?}");
    let count = |prefix: &str| registry.iter().filter(|r| r.starts_with(prefix)).count();
    // The content and the manifesto config: each a POST opening the upload and one PUT with
    // the whole blob; no chunks, no probes, and no HEAD first for a blob this small (the
    // upload costs two requests whether the registry has it or not).
    assert_eq!(
        count(&format!("POST /v2/{repo}/blobs/uploads/")),
        2,
        "{registry:#?}"
    );
    assert_eq!(
        count(&format!("PUT /v2/{repo}/blobs/uploads/")),
        2,
        "{registry:#?}"
    );
    assert_eq!(count("PATCH "), 0, "{registry:#?}");
    assert_eq!(count("HEAD "), 0, "{registry:#?}");
    // The image's manifesto manifest and its label's shard index by digest, and the
    // `_manifesto` index tag.
    assert_eq!(
        count(&format!("PUT /v2/{repo}/manifests/")),
        3,
        "{registry:#?}"
    );
    assert_eq!(
        count(&format!("PUT /v2/{repo}/manifests/_manifesto")),
        1,
        "{registry:#?}"
    );
    // The `_manifesto` tag, read before it is rebuilt and once after to check it stayed.
    assert_eq!(
        count(&format!("GET /v2/{repo}/manifests/_manifesto")),
        2,
        "{registry:#?}"
    );
    // Resolving the tag.
    assert_eq!(
        count(&format!("GET /v2/{repo}/manifests/v1")),
        1,
        "{registry:#?}"
    );
    assert_eq!(registry.len(), 10, "{registry:#?}");
}

#[test]
fn verify_by_digest_asks_the_registry_nothing_and_notary_for_the_timestamp_only() {
    let p = published("count-verify-digest");
    let pinned = pinned_image(&p);
    let (registry, notary) = requests_during(&p, || {
        ok(
            p.reader
                .cmd()
                .args([
                    "--server",
                    &p.stack.notary_url,
                    "verify",
                    &pinned,
                    "--require",
                    "approvals",
                ])
                .output()
                .unwrap(),
            "warm verify by digest",
        );
    });
    assert!(registry.is_empty(), "{registry:#?}");
    assert_eq!(
        notary,
        vec![format!("GET /v2/{}/_trust/tuf/timestamp.json", p.gun)]
    );
}

#[test]
fn verify_by_tag_asks_the_registry_for_the_tags_manifest_only() {
    let p = published("count-verify-tag");
    let repo = p.gun.split_once('/').unwrap().1.to_owned();
    let (registry, notary) = requests_during(&p, || {
        ok(
            p.reader
                .cmd()
                .args([
                    "--server",
                    &p.stack.notary_url,
                    "verify",
                    &p.image,
                    "--require",
                    "approvals",
                ])
                .output()
                .unwrap(),
            "warm verify by tag",
        );
    });
    assert_eq!(registry, vec![format!("GET /v2/{repo}/manifests/v1")]);
    assert_eq!(
        notary,
        vec![format!("GET /v2/{}/_trust/tuf/timestamp.json", p.gun)]
    );
}
