//! Hostile key files through every public reader in `manifesto::keys`: `KeyStore::load` (a stored
//! `private/<id>.key`: PEM with `role:`/`gun:` headers, plain or encrypted PKCS#8, SEC1),
//! `KeyStore::public_key` (`public/<id>.pem`, SubjectPublicKeyInfo), `KeyStore::list`, and
//! `Importer::import_file` (`key import FILE`: every PEM block, the Go client's encrypted keys).
//! These readers take paths, so each input is written to files in one scratch trust directory.
//!
//! The passphrase offered is `fuzz` (seeds made by `seed-corpus.sh` are encrypted with it). It is
//! shorter than the 8 characters a new key's passphrase needs, so an import that parses a key
//! stops at `for_new_key` instead of re-encrypting it (a scrypt run per input) into the store.
//! Errors are fine; a panic is a bug.
#![no_main]

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use manifesto::keys::passphrase::Prompter;
use manifesto::keys::{ImportOptions, ImportReport, Importer, KeyStore, Passphrases};
use manifesto::tuf::names::KeyId;
use zeroize::Zeroizing;

const PASSPHRASE: &str = "fuzz";

struct Scratch {
    trust_dir: PathBuf,
    id: KeyId,
}

const SCRATCH_PREFIX: &str = "manifesto-fuzz-keys-";

/// One trust directory per process (libFuzzer's `-jobs`/`-fork` run several), under the temp dir
/// (`TMPDIR`; a tmpfs such as /dev/shm is faster). libFuzzer ends with `exit`, so nothing removes
/// it then; instead each process removes the directories of processes that are gone.
fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let tmp = std::env::temp_dir();
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(SCRATCH_PREFIX)) else {
                    continue;
                };
                if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        let trust_dir = tmp.join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        for sub in ["", "private", "public"] {
            let d = trust_dir.join(sub);
            fs::create_dir_all(&d).expect("scratch dir");
            fs::set_permissions(&d, fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        Scratch {
            trust_dir,
            id: KeyId::parse(&"ab".repeat(32)).expect("valid id"),
        }
    })
}

fn write(path: &Path, data: &[u8]) {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .expect("scratch file");
    f.write_all(data).expect("write scratch file");
}

/// No terminal: only the environment answers.
struct NoTty;

impl Prompter for NoTty {
    fn available(&self) -> bool {
        false
    }
    fn ask(&mut self, _prompt: &str) -> std::io::Result<Zeroizing<String>> {
        Err(std::io::Error::other("no terminal while fuzzing"))
    }
}

fn passphrases() -> Passphrases {
    Passphrases::new(|_| Some(Zeroizing::new(PASSPHRASE.to_string())), NoTty)
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    let store = KeyStore::new(&s.trust_dir);

    let private = store.key_path(&s.id);
    write(&private, data);
    write(
        &s.trust_dir.join("public").join(format!("{}.pem", s.id)),
        data,
    );

    let _ = store.load(&s.id, &mut passphrases());
    let _ = store.public_key(&s.id);
    let _ = store.list();

    let import = s.trust_dir.join("import.pem");
    write(&import, data);
    let mut pass = passphrases();
    let mut report = ImportReport::default();
    let _ = Importer::new(&store, &mut pass).import_file(
        &import,
        &ImportOptions::default(),
        &mut report,
    );
    // Nothing may have been stored: the import passphrase is too short for a new key.
    assert!(report.imported.is_empty(), "a key was imported: {report:?}");
});
