//! Reading a metadata file and writing it back with the Go-identical writer must give a file that
//! reads back as the same typed value (with the same signatures), and writing that again must give
//! the same bytes.
//!
//! "The same typed value" is up to two normalizations the writer makes on purpose, which this
//! target applies to the value read before comparing:
//!
//! * `expires` is written the way Go writes a UTC time (`Expires::new(at)`); the string as read
//!   (any RFC 3339 offset or fraction) is not kept, only the instant.
//! * `custom` data goes through canonical JSON, which writes integral floats as integers
//!   (`1.0` → `1`) and rounds integers beyond 2^53 like Go's float64 (the writer refuses the latter).
//!
//! Targets is the kind the brief asks for; root, snapshot and timestamp go through the same check
//! because the writer is generic over them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use manifesto::tuf::canonical;
use manifesto::tuf::envelope::SignedEnvelope;
use manifesto::tuf::metadata::{Expires, FileMeta, Metadata, Root, Snapshot, Targets, Timestamp};
use manifesto::tuf::strict_json;
use manifesto::tuf::write;

const LIMIT: usize = 1 << 20;

/// What the writer is expected to turn a value into.
trait Normalize {
    fn normalize(&mut self);
}

fn normalize_meta(meta: &mut FileMeta) {
    if let Some(custom) = meta.custom.take() {
        // If custom cannot be encoded the writer refuses the whole file; leave it as it was.
        meta.custom = Some(match canonical::encode(&custom) {
            Ok(bytes) => strict_json::parse(&bytes, usize::MAX).unwrap_or(custom),
            Err(_) => custom,
        });
    }
}

fn normalize_expires(e: &mut Expires) {
    *e = Expires::new(e.at());
}

impl Normalize for Targets {
    fn normalize(&mut self) {
        normalize_expires(&mut self.expires);
        self.targets.values_mut().for_each(normalize_meta);
    }
}
impl Normalize for Snapshot {
    fn normalize(&mut self) {
        normalize_expires(&mut self.expires);
        self.meta.values_mut().for_each(normalize_meta);
    }
}
impl Normalize for Timestamp {
    fn normalize(&mut self) {
        normalize_expires(&mut self.expires);
        self.meta.values_mut().for_each(normalize_meta);
    }
}
impl Normalize for Root {
    fn normalize(&mut self) {
        normalize_expires(&mut self.expires);
    }
}

fn roundtrip<T: Metadata + Normalize + PartialEq + std::fmt::Debug>(env: &SignedEnvelope) {
    let Ok(read) = T::from_signed(&env.signed) else {
        return;
    };
    // A refusal (control characters, non-integral or inexact numbers) is a fine answer.
    let Ok(file) = write::metadata_file(&read, &env.signatures) else {
        return;
    };
    let text = || String::from_utf8_lossy(&file).into_owned();
    // The written file can be longer than the input (HTML escapes), so no size cap here.
    let env2 = SignedEnvelope::parse(&file, usize::MAX).unwrap_or_else(|e| {
        panic!(
            "written {} file is not an envelope: {e:?}\n{}",
            T::TYPE,
            text()
        )
    });
    let again = T::from_signed(&env2.signed).unwrap_or_else(|e| {
        panic!(
            "written {} file does not read back: {e:?}\n{}",
            T::TYPE,
            text()
        )
    });
    let mut expected = read.clone();
    expected.normalize();
    assert_eq!(
        again,
        expected,
        "{} changed through the writer\n{}",
        T::TYPE,
        text()
    );
    assert_eq!(
        env2.signatures, env.signatures,
        "signatures changed through the writer"
    );
    let file2 = write::metadata_file(&again, &env2.signatures)
        .unwrap_or_else(|e| panic!("re-read {} does not write again: {e:?}", T::TYPE));
    assert!(
        file2 == file,
        "writer is not idempotent\nonce:  {}\ntwice: {}",
        text(),
        String::from_utf8_lossy(&file2)
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(env) = SignedEnvelope::parse(data, LIMIT) else {
        return;
    };
    match env.type_name() {
        Some("Targets") => roundtrip::<Targets>(&env),
        Some("Root") => roundtrip::<Root>(&env),
        Some("Snapshot") => roundtrip::<Snapshot>(&env),
        Some("Timestamp") => roundtrip::<Timestamp>(&env),
        _ => {}
    }
});
