//! The sharded `_manifesto` index against the real servers: the tag is an index of shard
//! indexes, one per digest label, each listing its images; `repair` rebuilds it when it is
//! missing or garbled; a put whose index write the registry refuses says so in its JSON and
//! `repair` brings the index back.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::harness::{StackKind, TestEnv, code, ok, stack, stderr, stdout, unique_repo};
use crate::hostile::{Reply, intercepting_proxy};

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const ARTIFACT_TYPE: &str = "application/vnd.manifesto.v1+json";

/// A manifest of `repo_path` by tag or digest, as the registry serves it; `None` on an HTTP error.
fn fetch(registry_url: &str, repo_path: &str, reference: &str) -> Option<Vec<u8>> {
    let out = Command::new("curl")
        .args(["-fsS", "--noproxy", "*", "--max-time", "30", "-H"])
        .arg(format!("Accept: {OCI_INDEX}"))
        .arg(format!(
            "{}/v2/{repo_path}/manifests/{reference}",
            registry_url.trim_end_matches('/')
        ))
        .output()
        .expect("run curl");
    out.status.success().then_some(out.stdout)
}

/// The `_manifesto` tag as served, parsed; `None` when there is none.
pub fn top_index(registry_url: &str, repo_path: &str) -> Option<Value> {
    fetch(registry_url, repo_path, "_manifesto")
        .map(|b| serde_json::from_slice(&b).expect("the _manifesto tag is JSON"))
}

/// The `_manifesto` tag read through its shards, after checking it is an index of shard
/// indexes (each entry an OCI index annotated with its label and fingerprint, each shard
/// listing only images of its label): `{"mediaType", "manifests": [every shard's entries]}`.
/// `Value::Null` when there is no tag.
pub fn flattened_index(registry_url: &str, repo_path: &str) -> Value {
    let Some(top) = top_index(registry_url, repo_path) else {
        return Value::Null;
    };
    assert_eq!(top["mediaType"], OCI_INDEX, "{top}");
    assert_eq!(top["artifactType"], ARTIFACT_TYPE, "{top}");
    assert!(
        top["annotations"]["vnd.manifesto.rest.fingerprint"].is_string(),
        "the tag records the rest fingerprint: {top}"
    );
    let mut all = Vec::new();
    let mut labels = Vec::new();
    for shard in top["manifests"].as_array().expect("a manifests array") {
        assert_eq!(shard["mediaType"], OCI_INDEX, "a shard index: {top}");
        let label = shard["annotations"]["vnd.manifesto.shard"]
            .as_str()
            .unwrap_or_else(|| panic!("a shard entry names its label: {top}"));
        let fingerprint = shard["annotations"]["vnd.manifesto.shard.fingerprint"]
            .as_str()
            .unwrap_or_else(|| panic!("a shard entry has a fingerprint: {top}"));
        assert_eq!(fingerprint.len(), 64, "a sha256 hex: {top}");
        labels.push(label.to_string());
        let digest = shard["digest"].as_str().unwrap();
        let bytes = fetch(registry_url, repo_path, digest)
            .unwrap_or_else(|| panic!("the shard {digest} is in the registry"));
        assert_eq!(shard["size"], bytes.len() as u64);
        let shard_index: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(shard_index["mediaType"], OCI_INDEX);
        let entries = shard_index["manifests"].as_array().unwrap();
        assert!(!entries.is_empty(), "only non-empty shards are listed");
        for e in entries {
            let image = e["annotations"]["vnd.manifesto.image.digest"]
                .as_str()
                .unwrap();
            assert_eq!(
                &image["sha256:".len()..][..2],
                label,
                "shard {label} lists only its label's images: {shard_index}"
            );
            all.push(e.clone());
        }
    }
    let mut sorted = labels.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(labels, sorted, "one shard per label, sorted: {top}");
    json!({"mediaType": top["mediaType"], "manifests": all})
}

/// The image digests a (flattened) index lists, with the number of entries per image.
fn indexed_images(index: &Value) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for m in index["manifests"].as_array().into_iter().flatten() {
        let image = m["annotations"]["vnd.manifesto.image.digest"]
            .as_str()
            .unwrap()
            .to_string();
        *seen.entry(image).or_insert(0) += 1;
    }
    seen
}

fn label_of(digest: &str) -> String {
    digest["sha256:".len()..][..2].to_string()
}

/// A repository with `n` images, each with one approval put by the owner; returns the env,
/// the GUN, the repository path and the image digests.
fn repository_of(label: &str, n: usize) -> (TestEnv, String, String, BTreeSet<String>) {
    let s = stack(StackKind::Plain);
    let repo = unique_repo(label);
    let gun = format!("{}/{repo}", s.registry);
    let env = TestEnv::new();
    let mut digests = BTreeSet::new();
    for i in 0..n {
        digests.insert(s.push_image(&repo, &format!("t{i}")));
    }
    env.init_repo(&s.notary_url, &gun);
    for i in 0..n {
        ok(
            env.signer_cmd()
                .args([
                    "--server",
                    &s.notary_url,
                    "put",
                    &format!("{gun}:t{i}"),
                    "approvals",
                    "-",
                ])
                .write_stdin(format!("{{\"repo\":\"{repo}\",\"i\":{i}}}"))
                .output()
                .unwrap(),
            "put",
        );
    }
    (env, gun, repo, digests)
}

fn repair_json(env: &TestEnv, gun: &str) -> Value {
    let s = stack(StackKind::Plain);
    let out = ok(
        env.cmd()
            .args(["--server", &s.notary_url, "-o", "json", "repair", gun])
            .output()
            .unwrap(),
        "repair",
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn images_in_several_labels_give_an_index_of_shard_indexes_listing_every_image() {
    let s = stack(StackKind::Plain);
    let (_env, _gun, repo, digests) = repository_of("idx-labels", 6);
    let labels: BTreeSet<String> = digests.iter().map(|d| label_of(d)).collect();
    assert!(
        labels.len() > 1,
        "six images spread over labels: {digests:?}"
    );
    let top = top_index(&s.registry_url, &repo).expect("the tag exists");
    let listed: BTreeSet<String> = top["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["vnd.manifesto.shard"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(listed, labels, "one shard per label in use: {top}");
    let index = flattened_index(&s.registry_url, &repo);
    let images = indexed_images(&index);
    assert_eq!(
        images.keys().cloned().collect::<BTreeSet<_>>(),
        digests,
        "{index}"
    );
    assert!(images.values().all(|n| *n == 1), "one role each: {index}");
}

#[test]
fn repair_rebuilds_a_deleted_and_then_a_garbled_index_tag() {
    let s = stack(StackKind::Plain);
    let (env, gun, repo, digests) = repository_of("idx-repair", 3);
    let good = flattened_index(&s.registry_url, &repo);
    let shards = top_index(&s.registry_url, &repo).unwrap()["manifests"]
        .as_array()
        .unwrap()
        .len();

    // Deleted: the registry forgets the tag (deleting the manifest it names).
    let top_digest = {
        let out = Command::new("curl")
            .args(["-fsSI", "--noproxy", "*", "-H"])
            .arg(format!("Accept: {OCI_INDEX}"))
            .arg(format!("{}/v2/{repo}/manifests/_manifesto", s.registry_url))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("docker-content-digest:")
                    .map(|d| d.trim().to_string())
            })
            .expect("the registry names the tag's digest")
    };
    let del = Command::new("curl")
        .args(["-fsS", "--noproxy", "*", "-X", "DELETE"])
        .arg(format!(
            "{}/v2/{repo}/manifests/{top_digest}",
            s.registry_url
        ))
        .output()
        .unwrap();
    assert!(
        del.status.success(),
        "{}",
        String::from_utf8_lossy(&del.stderr)
    );
    assert!(
        top_index(&s.registry_url, &repo).is_none(),
        "the tag is gone"
    );
    let report = repair_json(&env, &gun);
    assert_eq!(report["index_was_current"], false, "{report}");
    assert_eq!(report["index_entries"], digests.len(), "{report}");
    assert_eq!(report["index_shards"], shards, "{report}");
    assert_eq!(flattened_index(&s.registry_url, &repo), good);

    // Garbled: an index in the sharded format that lists no shard at all.
    let garbled = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [],
        "annotations": {"vnd.manifesto.rest.fingerprint": "garbage"},
    })
    .to_string();
    let put = Command::new("curl")
        .args(["-fsS", "--noproxy", "*", "-X", "PUT", "-H"])
        .arg(format!("Content-Type: {OCI_INDEX}"))
        .args(["--data-binary", &garbled])
        .arg(format!("{}/v2/{repo}/manifests/_manifesto", s.registry_url))
        .output()
        .unwrap();
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    assert_eq!(
        top_index(&s.registry_url, &repo).unwrap()["manifests"],
        json!([]),
        "the tag lists nothing"
    );
    let report = repair_json(&env, &gun);
    assert_eq!(report["index_was_current"], false, "{report}");
    assert_eq!(report["index_shards"], shards, "{report}");
    assert_eq!(flattened_index(&s.registry_url, &repo), good);

    // Nothing left to do.
    let report = repair_json(&env, &gun);
    assert_eq!(report["index_was_current"], true, "{report}");
    assert_eq!(report["manifests_restored"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_whose_index_write_is_refused_exits_0_with_index_updated_false_and_repair_restores_it()
 {
    let s = stack(StackKind::Plain);
    // The registry, behind a proxy that refuses every write of the `_manifesto` tag while
    // `refuse` holds; the repository is named by the proxy's host, so every registry request
    // of the flows goes through it.
    let refuse = Arc::new(AtomicBool::new(true));
    let refusing = refuse.clone();
    let proxy = intercepting_proxy(&s.registry_url, move |method, path| {
        (refusing.load(Ordering::SeqCst)
            && method == "PUT"
            && path.ends_with("/manifests/_manifesto"))
        .then(|| {
            Reply::Full(
                503,
                vec![],
                b"{\"errors\":[{\"code\":\"UNAVAILABLE\"}]}".to_vec(),
            )
        })
    })
    .await;
    let proxy_host = proxy.url.trim_start_matches("http://").to_string();
    let seen = proxy.seen.clone();
    tokio::task::spawn_blocking(move || {
        let repo = unique_repo("idx-refused");
        let digest = s.push_image(&repo, "v1");
        let gun = format!("{proxy_host}/{repo}");
        let env = TestEnv::new();
        env.init_repo(&s.notary_url, &gun);
        let out = env
            .signer_cmd()
            .args([
                "--server",
                &s.notary_url,
                "-o",
                "json",
                "put",
                &format!("{gun}:v1"),
                "approvals",
                "-",
            ])
            .write_stdin(format!("{{\"repo\":\"{repo}\"}}"))
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "the metadata is signed: {}", stderr(&out));
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("put -o json is JSON ({e}): {}", stdout(&out)));
        assert_eq!(report["index_updated"], false, "{report}");
        assert!(
            stderr(&out).contains("manifesto repair"),
            "the warning names the way back: {}",
            stderr(&out)
        );
        assert!(
            seen.lock()
                .unwrap()
                .iter()
                .any(|(r, status)| r.method == "PUT"
                    && r.path.ends_with("/manifests/_manifesto")
                    && *status == 503),
            "the tag write reached the refusing proxy"
        );
        assert!(
            top_index(&s.registry_url, &repo).is_none(),
            "no index was written"
        );
        // Readers never depend on the index: the signed metadata is there.
        let got = ok(
            env.cmd()
                .args([
                    "--server",
                    &s.notary_url,
                    "get",
                    &format!("{gun}:v1"),
                    "approvals",
                ])
                .output()
                .unwrap(),
            "get",
        );
        assert_eq!(stdout(&got), format!("{{\"repo\":\"{repo}\"}}"));

        refuse.store(false, Ordering::SeqCst);
        let report = repair_json(&env, &gun);
        assert_eq!(report["index_was_current"], false, "{report}");
        assert_eq!(report["index_entries"], 1, "{report}");
        assert_eq!(report["index_shards"], 1, "{report}");
        let images = indexed_images(&flattened_index(&s.registry_url, &repo));
        assert_eq!(images.keys().cloned().collect::<Vec<_>>(), vec![digest]);
    })
    .await
    .unwrap();
}
