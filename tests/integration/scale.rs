//! Large repositories on the real servers (issue 11): one repository of 10,000 images built with
//! ONE `put --batch`, shared by the tests here and built once per test binary (the first test
//! to need it builds it, the others wait), then read back by digest, listed per image, and
//! listed and verified by the Go `notary` client. Also the `put --batch` error cases and a batch
//! racing single puts, each on a small repository of its own.
//!
//! The images are pushed by `examples/populate/bulk.rs` (the populator the scale benchmark uses):
//! distinct OCI image manifests by digest, sharing one config and one layer.

#[path = "../../examples/populate/bulk.rs"]
mod bulk;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use crate::go_notary::{GoNotary, sha256_hex};
use crate::harness::{Stack, StackKind, TestEnv, code, ok, stack, stderr, stdout, unique_repo};
use crate::request_counts::{logged_lines, notary_line, registry_line};
use crate::scene::{snapshot_existing_dir, trust_copies};

/// Images in the shared large repository.
const IMAGES: usize = 10_000;

/// A repository on the plain stack whose images were pushed by the populator and which the
/// owner initialised (no tag: the images are pushed by digest only).
struct Repo {
    s: &'static Stack,
    repo: String,
    gun: String,
    owner: TestEnv,
    digests: Vec<String>,
}

impl Repo {
    fn new(label: &str, images: usize) -> Repo {
        let s = stack(StackKind::Plain);
        let repo = unique_repo(label);
        let host = bulk::plain_http_host(&s.registry_url).expect("the plain stack is plain HTTP");
        let digests = bulk::push_images(host, &repo, label, 0, images, 4)
            .unwrap_or_else(|e| panic!("pushing {images} images to {repo}: {e}"));
        let gun = format!("{}/{repo}", s.registry);
        let owner = TestEnv::new();
        owner.init_repo_without_image(&s.notary_url, &gun);
        Repo {
            s,
            repo,
            gun,
            owner,
            digests,
        }
    }

    fn image(&self, i: usize) -> String {
        format!("{}@{}", self.gun, self.digests[i])
    }

    /// The content the batches here store for image `i` under `ty`: distinct per image.
    fn content(ty: &str, i: usize) -> Vec<u8> {
        format!("{{\"{ty}\":\"ok\",\"image\":{i}}}").into_bytes()
    }

    /// A batch file in `env`'s home with one line per image of `range` storing `ty`, each
    /// entry's content in a file of its own.
    fn batch_file(
        &self,
        env: &TestEnv,
        name: &str,
        ty: &str,
        range: std::ops::Range<usize>,
    ) -> PathBuf {
        let dir = env.home.path().join(format!("{name}.d"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut lines = String::new();
        for i in range {
            let file = dir.join(format!("{i}.json"));
            std::fs::write(&file, Self::content(ty, i)).unwrap();
            lines.push_str(&batch_line(&self.image(i), ty, &file));
        }
        let path = env.home.path().join(name);
        std::fs::write(&path, lines).unwrap();
        path
    }

    /// `manifesto ARGS` as `env` (passphrases set), against the stack's notary-server.
    fn run(&self, env: &TestEnv, args: &[&str]) -> Output {
        env.signer_cmd()
            .args(["--server", &self.s.notary_url])
            .args(args)
            .output()
            .unwrap()
    }

    /// The metadata `env` caches for this repository.
    fn cache_dir(&self, env: &TestEnv) -> PathBuf {
        env.trust_dir().join("tuf").join(&self.gun)
    }

    /// Both servers' requests for this repository while `run` ran: (registry, notary), each as
    /// `METHOD PATH`, from the servers' own access logs.
    fn requests_during<T>(&self, run: impl FnOnce() -> T) -> (T, Vec<String>, Vec<String>) {
        let registry_log = self.s.dir.join("registry.log");
        let notary_log = self.s.dir.join("notary-server.log");
        let registry_needle = format!("/v2/{}/", self.repo);
        let notary_needle = format!("/v2/{}/_trust/", self.gun);
        let count = || {
            (
                logged_lines(&registry_log, &registry_needle, registry_line),
                logged_lines(&notary_log, &notary_needle, notary_line),
            )
        };
        let (registry_before, notary_before) = count();
        let value = run();
        // The servers log a request just after answering it.
        std::thread::sleep(Duration::from_millis(300));
        let (registry_after, notary_after) = count();
        (
            value,
            registry_after[registry_before.len()..].to_vec(),
            notary_after[notary_before.len()..].to_vec(),
        )
    }
}

/// One `put --batch` line.
fn batch_line(image: &str, ty: &str, file: &Path) -> String {
    format!(
        "{}\n",
        serde_json::json!({"image": image, "type": ty, "file": file.to_str().unwrap()})
    )
}

fn publishes(notary: &[String]) -> usize {
    notary.iter().filter(|r| r.starts_with("POST ")).count()
}

/// The shared repository of [`IMAGES`] images, each with its `approvals` stored by one batch.
struct Large {
    r: Repo,
    /// `put --batch -o json`'s output, one object per entry.
    reports: Vec<serde_json::Value>,
    /// The Notary publishes (update POSTs) the batch made.
    publishes: usize,
}

fn large() -> &'static Large {
    static LARGE: OnceLock<Large> = OnceLock::new();
    LARGE.get_or_init(|| {
        let r = Repo::new("scale-10k", IMAGES);
        let batch = r.batch_file(&r.owner, "approvals.jsonl", "approvals", 0..IMAGES);
        let (out, _, notary) = r.requests_during(|| {
            r.run(
                &r.owner,
                &["-o", "json", "put", "--batch", batch.to_str().unwrap()],
            )
        });
        let out = ok(out, "put --batch of 10,000 entries");
        let reports = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect();
        Large {
            publishes: publishes(&notary),
            r,
            reports,
        }
    })
}

#[test]
fn one_put_batch_of_10000_entries_reports_every_entry_and_publishes_once() {
    let l = large();
    assert_eq!(l.reports.len(), IMAGES, "one object per entry");
    for (i, report) in l.reports.iter().enumerate() {
        assert_eq!(report["line"], i + 1, "{report}");
        assert_eq!(report["image_digest"], l.r.digests[i].as_str(), "{report}");
        assert_eq!(report["type"], "approvals", "{report}");
        assert_eq!(
            report["role"], "targets",
            "the signing role, never a bin: {report}"
        );
        assert_eq!(report["index_updated"], true, "{report}");
    }
    // Nobody else writes to this repository: the whole change is one signed update.
    assert_eq!(l.publishes, 1, "Notary publishes of the batch");
}

#[test]
fn a_sample_of_the_10000_images_reads_back_by_digest() {
    let l = large();
    let reader = TestEnv::new();
    for i in (0..IMAGES).step_by(487).chain([IMAGES - 1]) {
        let out = ok(
            l.r.run(&reader, &["get", &l.r.image(i), "approvals"]),
            &format!("get of image {i}"),
        );
        assert_eq!(out.stdout, Repo::content("approvals", i), "image {i}");
    }
}

#[test]
fn list_image_in_the_10000_image_repository_shows_that_image_s_entry_only() {
    let l = large();
    let reader = TestEnv::new();
    let i = 7_321;
    let out = ok(
        l.r.run(&reader, &["-o", "json", "list", &l.r.image(i)]),
        "list IMAGE",
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = v["items"].as_array().expect("a list of items");
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["image_digest"], l.r.digests[i].as_str());
    assert_eq!(items[0]["type"], "approvals");
    assert_eq!(items[0]["role"], "targets", "the signing role, never a bin");
    assert_eq!(items[0]["size"], Repo::content("approvals", i).len(), "{v}");
}

#[test]
fn the_go_notary_client_lists_and_verifies_every_target_of_the_10000_image_repository() {
    let l = large();
    let go = GoNotary::new(l.r.s);
    let listed: BTreeMap<String, String> = go
        .list(&l.r.gun)
        .into_iter()
        .map(|t| (t.name, t.sha256_hex))
        .collect();
    for (i, digest) in l.r.digests.iter().enumerate() {
        let name = format!("approvals/{digest}");
        assert_eq!(
            listed.get(&name).map(String::as_str),
            Some(sha256_hex(&Repo::content("approvals", i)).as_str()),
            "the Go client lists {name} with its hash"
        );
        assert!(
            listed.contains_key(&format!("_manifesto/{digest}")),
            "the Go client lists the manifesto of {digest}"
        );
    }
    assert_eq!(listed.len(), 2 * IMAGES, "nothing else is signed");
    for i in [0, 5_000, IMAGES - 1] {
        let name = format!("approvals/{}", l.r.digests[i]);
        assert!(
            go.verify(&l.r.gun, &name, &Repo::content("approvals", i)),
            "notary verify {name}"
        );
        assert!(
            !go.verify(&l.r.gun, &name, b"{\"approvals\":\"forged\"}"),
            "notary verify refuses other bytes as {name}"
        );
    }
}

#[test]
fn a_batch_with_a_bad_line_exits_2_naming_the_line_and_publishes_nothing() {
    let r = Repo::new("batch-bad-line", 3);
    let good = r.batch_file(&r.owner, "good.jsonl", "approvals", 0..3);
    let lines: Vec<String> = std::fs::read_to_string(&good)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let missing = batch_line(
        &r.image(2),
        "approvals",
        Path::new("/nonexistent/approval.json"),
    );
    let missing = missing.trim_end();
    let cache = snapshot_existing_dir(&r.cache_dir(&r.owner));
    for (bad, why) in [
        ("{\"image\": \"unterminated", "not JSON"),
        ("{\"image\": \"x\", \"file\": \"/dev/null\"}", "no type"),
        (
            "{\"image\": \"UPPER/Case@sha256:00\", \"type\": \"approvals\", \"file\": \"/dev/null\"}",
            "a bad reference",
        ),
        (
            "{\"image\": \"a/b:v1\", \"type\": \"no spaces allowed\", \"file\": \"/dev/null\"}",
            "a bad type",
        ),
        (missing, "a missing file"),
    ] {
        let batch = r.owner.home.path().join("bad.jsonl");
        std::fs::write(&batch, format!("{}\n{}\n{bad}\n", lines[0], lines[1])).unwrap();
        let (out, registry, notary) =
            r.requests_during(|| r.run(&r.owner, &["put", "--batch", batch.to_str().unwrap()]));
        assert_eq!(code(&out), 2, "{why}: {}", stderr(&out));
        assert_eq!(stdout(&out), "", "{why}");
        assert!(stderr(&out).contains("line 3"), "{why}: {}", stderr(&out));
        assert!(registry.is_empty(), "{why}: {registry:#?}");
        assert!(notary.is_empty(), "{why}: {notary:#?}");
        assert_eq!(
            snapshot_existing_dir(&r.cache_dir(&r.owner)),
            cache,
            "{why}"
        );
    }
    // The same batch without the bad line goes through.
    ok(
        r.run(&r.owner, &["put", "--batch", good.to_str().unwrap()]),
        "the good lines",
    );
}

#[test]
fn a_batch_entry_the_role_may_not_sign_is_refused_before_any_upload() {
    let r = Repo::new("batch-unauthorised", 3);
    // A qa delegation that may sign approvals only, its key with a second user.
    let qa = TestEnv::new();
    let pem = qa.home.path().join("qa.pem");
    ok(
        r.run(
            &qa,
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
        r.run(
            &r.owner,
            &[
                "delegate",
                "add",
                &r.gun,
                "qa",
                "--key",
                pem.to_str().unwrap(),
                "--type",
                "approvals",
            ],
        ),
        "delegate add",
    );
    let approvals = r.batch_file(&qa, "approvals.jsonl", "approvals", 0..3);
    let scan = r.batch_file(&qa, "scan.jsonl", "scan", 2..3);
    let batch = qa.home.path().join("mixed.jsonl");
    let mut mixed = std::fs::read_to_string(&approvals).unwrap();
    mixed.push_str(&std::fs::read_to_string(&scan).unwrap());
    std::fs::write(&batch, mixed).unwrap();
    // The qa user learns the repository first, so its cache can be compared afterwards.
    ok(r.run(&qa, &["trust", "inspect", &r.gun]), "trust inspect");
    let cache = snapshot_existing_dir(&r.cache_dir(&qa));

    let (out, registry, notary) = r.requests_during(|| {
        r.run(
            &qa,
            &["put", "--batch", batch.to_str().unwrap(), "--role", "qa"],
        )
    });
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("scan"), "{err}");
    let uploads: Vec<&String> = registry
        .iter()
        .filter(|r| !r.starts_with("GET ") && !r.starts_with("HEAD "))
        .collect();
    assert!(uploads.is_empty(), "nothing uploaded: {uploads:#?}");
    assert_eq!(publishes(&notary), 0, "{notary:#?}");
    assert_eq!(snapshot_existing_dir(&r.cache_dir(&qa)), cache);

    // What the role may sign goes through.
    ok(
        r.run(
            &qa,
            &[
                "put",
                "--batch",
                approvals.to_str().unwrap(),
                "--role",
                "qa",
            ],
        ),
        "the approvals alone",
    );
}

#[test]
fn a_batch_racing_single_puts_of_other_writers_loses_no_entry() {
    const BATCH: usize = 200;
    const SINGLES: usize = 12;
    let r = Repo::new("batch-race", BATCH + SINGLES);
    let batch = r.batch_file(&r.owner, "batch.jsonl", "approvals", 0..BATCH);
    let writers = trust_copies(&r.owner, 3);
    let files: Vec<PathBuf> = (BATCH..BATCH + SINGLES)
        .map(|i| {
            let f = r.owner.home.path().join(format!("single-{i}.json"));
            std::fs::write(&f, Repo::content("approvals", i)).unwrap();
            f
        })
        .collect();
    std::thread::scope(|scope| {
        let batch_run =
            scope.spawn(|| r.run(&r.owner, &["put", "--batch", batch.to_str().unwrap()]));
        let singles: Vec<_> = writers
            .iter()
            .enumerate()
            .map(|(w, env)| {
                let (r, files, n) = (&r, &files, writers.len());
                scope.spawn(move || {
                    (0..SINGLES)
                        .filter(|k| k % n == w)
                        .map(|k| {
                            let i = BATCH + k;
                            r.run(
                                env,
                                &["put", &r.image(i), "approvals", files[k].to_str().unwrap()],
                            )
                        })
                        .collect::<Vec<Output>>()
                })
            })
            .collect();
        ok(batch_run.join().unwrap(), "the batch");
        for s in singles {
            for out in s.join().unwrap() {
                ok(out, "a single put racing the batch");
            }
        }
    });

    let go = GoNotary::new(r.s);
    let listed: BTreeSet<(String, String)> = go
        .list(&r.gun)
        .into_iter()
        .map(|t| (t.name, t.sha256_hex))
        .collect();
    for i in 0..BATCH + SINGLES {
        let want = (
            format!("approvals/{}", r.digests[i]),
            sha256_hex(&Repo::content("approvals", i)),
        );
        assert!(listed.contains(&want), "image {i} is signed: {want:?}");
    }
    let reader = TestEnv::new();
    for i in [0, BATCH - 1, BATCH, BATCH + SINGLES - 1] {
        let out = ok(r.run(&reader, &["get", &r.image(i), "approvals"]), "get");
        assert_eq!(out.stdout, Repo::content("approvals", i), "image {i}");
    }
}
