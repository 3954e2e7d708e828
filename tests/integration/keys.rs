//! `manifesto key …` against keys the real Go notary client made: delegation keys from
//! `notary key generate`, and the root/targets/snapshot keys `notary init` leaves in its trust
//! dir. Imported keys keep their ids and sign bytes that verify with the public keys Notary
//! lists; key files are private, wrong passphrases change nothing, and logs hold no secrets.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use manifesto::keys::{KeyStore, Passphrases};
use manifesto::tuf::key::{KeyMaterial, KeyType, PublicKey};
use manifesto::tuf::names::KeyId;
use ring::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
use zeroize::Zeroizing;

use crate::go_notary::{
    DELEGATION_PASSPHRASE, GoNotary, ROOT_PASSPHRASE, SNAPSHOT_PASSPHRASE, TARGETS_PASSPHRASE,
    unique_gun,
};
use crate::harness::{NoTerminal, StackKind, TestEnv, code, stack, stderr, stdout};

/// Passphrases manifesto re-encrypts with (distinct from the Go ones, so mix-ups show).
const OUR_ROOT: &str = "our-root-passphrase";
const OUR_TARGETS: &str = "our-targets-passphrase";
const OUR_DELEGATION: &str = "our-delegation-passphrase";

const PASSPHRASE_VARIABLES: [&str; 12] = [
    "MANIFESTO_ROOT_PASSPHRASE",
    "MANIFESTO_TARGETS_PASSPHRASE",
    "MANIFESTO_DELEGATION_PASSPHRASE",
    "NOTARY_ROOT_PASSPHRASE",
    "NOTARY_TARGETS_PASSPHRASE",
    "NOTARY_SNAPSHOT_PASSPHRASE",
    "NOTARY_DELEGATION_PASSPHRASE",
    "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE",
    "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE",
    "MANIFESTO_SERVER",
    "DOCKER_CONTENT_TRUST_SERVER",
    "MANIFESTO_LOG",
];

/// `manifesto` in `env`, with exactly the passphrase variables given.
fn manifesto(env: &TestEnv, vars: &[(&str, &str)]) -> assert_cmd::Command {
    let mut cmd = env.cmd();
    for v in PASSPHRASE_VARIABLES {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// Our passphrases, plus the Go client's for reading its files.
fn import_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("MANIFESTO_ROOT_PASSPHRASE", OUR_ROOT),
        ("MANIFESTO_TARGETS_PASSPHRASE", OUR_TARGETS),
        ("MANIFESTO_DELEGATION_PASSPHRASE", OUR_DELEGATION),
        ("NOTARY_ROOT_PASSPHRASE", ROOT_PASSPHRASE),
        ("NOTARY_TARGETS_PASSPHRASE", TARGETS_PASSPHRASE),
        ("NOTARY_SNAPSHOT_PASSPHRASE", SNAPSHOT_PASSPHRASE),
        ("NOTARY_DELEGATION_PASSPHRASE", DELEGATION_PASSPHRASE),
    ]
}

/// The library's view of the store, with our passphrases.
fn our_passphrases() -> Passphrases {
    Passphrases::new(
        |name| {
            let v = match name {
                "MANIFESTO_ROOT_PASSPHRASE" => OUR_ROOT,
                "MANIFESTO_TARGETS_PASSPHRASE" => OUR_TARGETS,
                "MANIFESTO_DELEGATION_PASSPHRASE" => OUR_DELEGATION,
                _ => return None,
            };
            Some(Zeroizing::new(v.to_string()))
        },
        NoTerminal,
    )
}

/// Signs `message` with the stored key `id` and checks the signature with `listed`, the way the
/// verifier does (by the listed key's material).
fn stored_key_signs_for(env: &TestEnv, id: &str, listed: &PublicKey) {
    let store = KeyStore::new(env.trust_dir());
    let key = store
        .load(&KeyId::parse(id).unwrap(), &mut our_passphrases())
        .unwrap();
    let message = b"{\"signed\":\"bytes\"}";
    let (method, sig) = key.sign(message).unwrap();
    let ok = match (listed.material().unwrap(), method) {
        (KeyMaterial::EcdsaP256(point), "ecdsa") => {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, &sig)
        }
        (KeyMaterial::Ed25519(raw), "eddsa") => {
            UnparsedPublicKey::new(&ED25519, raw).verify(message, &sig)
        }
        other => panic!("unexpected key/method {other:?}"),
    };
    assert!(ok.is_ok(), "signature of {id} does not verify");
}

/// The DER of a `PUBLIC KEY` PEM (headers skipped).
fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----") && !l.contains(':'))
        .collect();
    STANDARD.decode(body).unwrap()
}

/// The Notary key of a P-256 or Ed25519 `PUBLIC KEY` PEM: `ecdsa` over the SPKI, or `ed25519`
/// over the raw 32 bytes (an Ed25519 SPKI is a 12-byte header and the key).
fn public_key_of(pem: &str) -> PublicKey {
    let spki = pem_body(pem);
    if spki.len() == 44 {
        PublicKey::new(KeyType::Ed25519, spki[12..].to_vec())
    } else {
        PublicKey::new(KeyType::Ecdsa, spki)
    }
}

fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_str().unwrap().to_string()
}

#[test]
fn go_delegation_key_from_notary_key_generate_imports_with_its_id_and_signs() {
    let go = GoNotary::new(stack(StackKind::Plain));
    let delegate = go.generate_delegate_key("targets/qa");
    let env = TestEnv::new();
    let out = manifesto(&env, &import_vars())
        .args(["-o", "json", "key", "import"])
        .arg(&delegate.private_pem)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let imported = &report["imported"][0];
    assert_eq!(imported["key_id"], delegate.key_id.as_str());
    assert_eq!(imported["role"], "targets/qa");
    assert_eq!(imported["algorithm"], "ecdsa");

    // Stored in our format: scrypt, with the role header, and the Go passphrase no longer opens it.
    let stored = env
        .trust_dir()
        .join("private")
        .join(format!("{}.key", delegate.key_id));
    let text = std::fs::read_to_string(&stored).unwrap();
    assert!(text.contains("role: targets/qa"), "{text}");
    assert!(openssl_pkcs8(&stored, DELEGATION_PASSPHRASE).is_none());
    assert!(openssl_pkcs8(&stored, OUR_DELEGATION).is_some());

    // The public key we export is the one the Go client wrote, and it verifies our signatures.
    let exported = manifesto(&env, &[])
        .args(["key", "export-public", &delegate.key_id])
        .output()
        .unwrap();
    assert_eq!(code(&exported), 0, "{}", stderr(&exported));
    let go_public = std::fs::read_to_string(&delegate.cert_or_pub_pem).unwrap();
    assert_eq!(pem_body(&stdout(&exported)), pem_body(&go_public));
    let listed = public_key_of(&go_public);
    assert_eq!(listed.key_id().as_str(), delegate.key_id);
    stored_key_signs_for(&env, &delegate.key_id, &listed);

    // Importing again changes nothing.
    let again = manifesto(&env, &import_vars())
        .args(["key", "import"])
        .arg(&delegate.private_pem)
        .output()
        .unwrap();
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        stdout(&again).contains("already present"),
        "{}",
        stdout(&again)
    );
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), text);
}

#[test]
fn go_trust_dir_after_notary_init_imports_root_targets_and_snapshot_keys_with_their_ids() {
    let s = stack(StackKind::Plain);
    let go = GoNotary::new(s);
    let gun = unique_gun(s, "keys-import");
    go.init_with_targets(&gun, &[("app/v1", b"hello")]);
    let go_files = key_files(&go.trust_dir.path().join("private"));
    assert_eq!(
        go_files.len(),
        3,
        "root, targets and snapshot keys: {go_files:?}"
    );

    let env = TestEnv::new();
    let out = manifesto(&env, &import_vars())
        .args(["key", "import", "--docker-trust"])
        .arg(go.trust_dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // Same ids (the Go file names), roles and GUNs.
    let list = manifesto(&env, &[])
        .args(["-o", "json", "key", "list"])
        .output()
        .unwrap();
    assert_eq!(code(&list), 0, "{}", stderr(&list));
    let listed: Vec<serde_json::Value> = serde_json::from_slice::<serde_json::Value>(&list.stdout)
        .unwrap()["items"]
        .as_array()
        .cloned()
        .unwrap();
    let mut ids: Vec<String> = listed
        .iter()
        .map(|k| k["key_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut go_ids: Vec<String> = go_files.iter().map(|p| stem(p)).collect();
    go_ids.sort();
    assert_eq!(ids, go_ids);
    let role_of = |role: &str| {
        listed
            .iter()
            .find(|k| k["role"] == role)
            .unwrap_or_else(|| panic!("no {role} key in {listed:?}"))
    };
    assert_eq!(role_of("targets")["gun"], gun.as_str());
    assert_eq!(role_of("snapshot")["gun"], gun.as_str());
    assert!(role_of("root").get("gun").is_none());
    for k in &listed {
        assert_eq!(k["algorithm"], "ecdsa");
    }

    // Each key signs bytes that verify with the key the served root.json lists for its role.
    let root = go.fetch_signed(&gun, "root");
    let listed_key =
        |id: &str| -> PublicKey { serde_json::from_value(root["keys"][id].clone()).unwrap() };
    for role in ["targets", "snapshot"] {
        let id = role_of(role)["key_id"].as_str().unwrap().to_string();
        assert_eq!(go.root_role_key_ids(&gun, role), vec![id.clone()]);
        stored_key_signs_for(&env, &id, &listed_key(&id));
    }
    // The root role lists a certificate; its public-key id is our key's id.
    let cert_id = go.root_role_key_ids(&gun, "root").remove(0);
    let cert_key = listed_key(&cert_id);
    let root_id = role_of("root")["key_id"].as_str().unwrap().to_string();
    assert_eq!(cert_key.public_key_id().unwrap().as_str(), root_id);
    stored_key_signs_for(&env, &root_id, &cert_key);
    let store = KeyStore::new(env.trust_dir());
    let root_key = store.load_for(&cert_key, &mut our_passphrases()).unwrap();
    assert_eq!(root_key.key_id().as_str(), root_id);

    // The Go files are untouched, and every file we wrote is private.
    assert_eq!(key_files(&go.trust_dir.path().join("private")), go_files);
    for f in key_files(&env.trust_dir().join("private")) {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
}

#[test]
fn key_file_readable_by_others_is_refused_with_exit_8() {
    let env = TestEnv::new();
    let vars = [("MANIFESTO_DELEGATION_PASSPHRASE", OUR_DELEGATION)];
    let id = generate(&env, &vars, &["--role", "targets/qa"]);
    let private = env.trust_dir().join("private").join(format!("{id}.key"));
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    // Without the public half on file, exporting it needs the private key.
    std::fs::remove_file(env.trust_dir().join("public").join(format!("{id}.pem"))).unwrap();
    let out = manifesto(&env, &vars)
        .args(["key", "export-public", &id])
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("chmod 600 {}", private.display())),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    // The same for a Go trust dir with a world-readable key.
    let go = GoNotary::new(stack(StackKind::Plain));
    let delegate = go.generate_delegate_key("targets/qa");
    let go_key = delegate
        .trust_dir
        .path()
        .join("private")
        .join(format!("{}.key", delegate.key_id));
    std::fs::set_permissions(&go_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = manifesto(&env, &import_vars())
        .args(["key", "import", "--docker-trust"])
        .arg(delegate.trust_dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
}

#[test]
fn wrong_passphrase_three_times_leaves_the_key_file_byte_identical() {
    let env = TestEnv::new();
    let id = generate(
        &env,
        &[("MANIFESTO_TARGETS_PASSPHRASE", OUR_TARGETS)],
        &["--role", "targets", "--gun", "example.com/team/app"],
    );
    let private = env.trust_dir().join("private").join(format!("{id}.key"));
    std::fs::remove_file(env.trust_dir().join("public").join(format!("{id}.pem"))).unwrap();
    let before = std::fs::read(&private).unwrap();
    for attempt in 0..3 {
        let out = manifesto(
            &env,
            &[("MANIFESTO_TARGETS_PASSPHRASE", "not-the-passphrase")],
        )
        .args(["key", "export-public", &id])
        .output()
        .unwrap();
        assert_eq!(code(&out), 8, "attempt {attempt}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("wrong passphrase"),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("MANIFESTO_TARGETS_PASSPHRASE"));
        assert!(!stderr(&out).contains("not-the-passphrase"));
    }
    assert_eq!(std::fs::read(&private).unwrap(), before);
    // The right passphrase still opens it.
    let out = manifesto(&env, &[("MANIFESTO_TARGETS_PASSPHRASE", OUR_TARGETS)])
        .args(["key", "export-public", &id])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // A Go key imported with the wrong notary passphrase: refused, source untouched, nothing stored.
    let go = GoNotary::new(stack(StackKind::Plain));
    let delegate = go.generate_delegate_key("targets/qa");
    let source = std::fs::read(&delegate.private_pem).unwrap();
    let out = manifesto(
        &env,
        &[
            ("NOTARY_DELEGATION_PASSPHRASE", "wrong-go-passphrase"),
            ("MANIFESTO_DELEGATION_PASSPHRASE", OUR_DELEGATION),
        ],
    )
    .args(["key", "import"])
    .arg(&delegate.private_pem)
    .output()
    .unwrap();
    assert_eq!(code(&out), 8, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("NOTARY_DELEGATION_PASSPHRASE"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&delegate.private_pem).unwrap(), source);
    assert!(
        !env.trust_dir()
            .join("private")
            .join(format!("{}.key", delegate.key_id))
            .exists()
    );
}

#[test]
fn verbose_logs_of_generate_and_import_hold_no_passphrase_or_key_material() {
    let env = TestEnv::new();
    let vars = [("MANIFESTO_DELEGATION_PASSPHRASE", OUR_DELEGATION)];
    let out = manifesto(&env, &vars)
        .args(["-vvv", "key", "generate", "--role", "targets/qa"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&out)
        .split_whitespace()
        .find(|w| KeyId::parse(w).is_ok())
        .unwrap()
        .to_string();
    let private = env.trust_dir().join("private").join(format!("{id}.key"));
    let scalar = ec_scalar(&openssl_pkcs8(&private, OUR_DELEGATION).unwrap());
    let mut logs = format!("{}{}", stdout(&out), stderr(&out));

    // Import an unencrypted OpenSSL key: its body is the secret.
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.pem");
    let status = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&plain)
        .status()
        .unwrap();
    assert!(status.success());
    let plain_text = std::fs::read_to_string(&plain).unwrap();
    let out = manifesto(&env, &vars)
        .args(["-vvv", "key", "import", "--role", "targets/qa"])
        .arg(&plain)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    logs.push_str(&stdout(&out));
    logs.push_str(&stderr(&out));
    assert!(
        logs.contains(&id),
        "the logs are verbose enough to say something"
    );

    let mut secrets = vec![
        OUR_DELEGATION.to_string(),
        hex::encode(&scalar),
        hex::encode_upper(&scalar),
        STANDARD.encode(&scalar),
        format!("{:?}", scalar),
    ];
    secrets.extend(
        plain_text
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_string),
    );
    let imported_scalar = ec_scalar(&pem_body(&plain_text));
    secrets.push(hex::encode(&imported_scalar));
    secrets.push(format!("{imported_scalar:?}"));
    for secret in secrets {
        assert!(!logs.contains(&secret), "logs leak {secret:?}:\n{logs}");
    }
}

#[test]
fn openssl_decrypts_generated_keys_and_exported_public_keys_match() {
    let env = TestEnv::new();
    let vars = [
        ("MANIFESTO_DELEGATION_PASSPHRASE", OUR_DELEGATION),
        ("MANIFESTO_ROOT_PASSPHRASE", OUR_ROOT),
    ];
    for args in [
        vec!["--role", "targets/qa"],
        vec!["--role", "targets/qa", "--type", "ed25519"],
        vec!["--role", "root"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let public_out = dir.path().join("pub.pem");
        let mut full = args.clone();
        full.extend(["--public-out", public_out.to_str().unwrap()]);
        let id = generate(&env, &vars, &full);
        let private = env.trust_dir().join("private").join(format!("{id}.key"));
        let passphrase = if args.contains(&"root") {
            OUR_ROOT
        } else {
            OUR_DELEGATION
        };
        let der = openssl_pkcs8(&private, passphrase)
            .unwrap_or_else(|| panic!("openssl cannot decrypt {args:?}"));
        // OpenSSL's public key of the decrypted key is the one we export.
        let der_file = dir.path().join("key.der");
        std::fs::write(&der_file, &der).unwrap();
        let pubout = Command::new("openssl")
            .args(["pkey", "-inform", "DER", "-pubout", "-in"])
            .arg(&der_file)
            .output()
            .unwrap();
        assert!(
            pubout.status.success(),
            "{}",
            String::from_utf8_lossy(&pubout.stderr)
        );
        let ours = std::fs::read_to_string(&public_out).unwrap();
        assert_eq!(
            pem_body(&String::from_utf8_lossy(&pubout.stdout)),
            pem_body(&ours)
        );
        let key = public_key_of(&ours);
        assert_eq!(key.key_id().as_str(), id);
    }
    // A root key generated for a repository needs no GUN; a targets key does.
    let out = manifesto(&env, &[("MANIFESTO_TARGETS_PASSPHRASE", OUR_TARGETS)])
        .args(["key", "generate", "--role", "targets"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    // No passphrase and no terminal: exit 8, naming the variable.
    let out = manifesto(&env, &[])
        .args(["key", "generate", "--role", "targets/qa"])
        .output()
        .unwrap();
    if !std::path::Path::new("/dev/tty").exists() || std::fs::File::open("/dev/tty").is_err() {
        assert_eq!(code(&out), 8, "{}", stderr(&out));
        assert!(stderr(&out).contains("MANIFESTO_DELEGATION_PASSPHRASE"));
    }
}

/// `manifesto key generate ARGS`; returns the key id.
fn generate(env: &TestEnv, vars: &[(&str, &str)], args: &[&str]) -> String {
    let out = manifesto(env, vars)
        .args(["-o", "json", "key", "generate"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["key_id"].as_str().unwrap().to_string()
}

/// `openssl pkcs8 -passin` on a key file with its `role:`/`gun:` header lines stripped; returns
/// the decrypted PKCS#8 DER, or `None` when OpenSSL refuses.
fn openssl_pkcs8(path: &Path, passphrase: &str) -> Option<Vec<u8>> {
    let text = std::fs::read_to_string(path).unwrap();
    let stripped: String = text
        .lines()
        .filter(|l| !(l.starts_with("role:") || l.starts_with("gun:")))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pem");
    std::fs::write(&input, stripped).unwrap();
    let out = Command::new("openssl")
        .args(["pkcs8", "-outform", "DER", "-passin"])
        .arg(format!("pass:{passphrase}"))
        .arg("-in")
        .arg(&input)
        .output()
        .expect("run openssl");
    out.status.success().then_some(out.stdout)
}

/// The 32-byte private scalar inside an EC PKCS#8 (after `INTEGER 1, OCTET STRING(32)`).
fn ec_scalar(pkcs8: &[u8]) -> Vec<u8> {
    let at = pkcs8
        .windows(5)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
        .expect("ECPrivateKey in PKCS#8")
        + 5;
    pkcs8[at..at + 32].to_vec()
}
