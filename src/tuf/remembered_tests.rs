//! Memos of earlier verifications over an in-memory server: a bin verified once is read from
//! its memo with the same answers, and a memo never stands in for a check the file would fail
//! now (another delegation key, other bytes, expiry, the version floor, a damaged memo).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};

use super::limits::Limits;
use super::memory_source::{MemorySource, block_on};
use super::metadata::Expires;
use super::names::RoleName;
use super::remembered::Memo;
use super::remembered::{CHUNK, CachedFile, SharedFile};
use super::test_support::*;
use super::trusted::{Lookup, TrustError};
use super::update::{Bootstrap, Cached, LazyFiles, LazyOpen, UpdateError, Updater};

/// A cached file that counts the bytes read from it.
struct Counting(Vec<u8>, Arc<AtomicUsize>);

impl CachedFile for Counting {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        self.1.fetch_add(len, Ordering::SeqCst);
        self.0.read_at(offset, len)
    }
}

const TOFU: Bootstrap<'static> = Bootstrap {
    pinned_certs: None,
    allow_tofu: true,
};

const BINS: usize = 4;

fn bin(i: usize) -> RoleName {
    RoleName::parse(&format!("targets/bin{i}")).unwrap()
}

/// `targets` delegating `app/<i>/` to bin `i`, each bin signed by `key` and holding three
/// targets under its prefix.
fn bins_signed_by(key: &TestKey, bin_expires: Expires) -> Repo {
    let mut repo = Repo::new();
    let mut top = targets_meta(2, far(), &[]);
    for i in 0..BINS {
        let prefix = format!("app/{i}/");
        delegate(&mut top, bin(i).as_str(), &[prefix.as_str()], &[key], 1);
        let names: Vec<String> = (0..3).map(|n| format!("{prefix}{n}")).collect();
        let entries: Vec<(&str, &[u8])> =
            names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
        repo.set(
            bin(i).as_str(),
            sign(&targets_meta(1, bin_expires.clone(), &entries), &[key]),
        );
    }
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.publish(2, 2);
    repo
}

/// What a client's trust cache holds: files, floors and memos.
#[derive(Clone, Default)]
struct Cache {
    files: BTreeMap<String, Vec<u8>>,
    floors: super::trusted::VersionFloors,
    memos: BTreeMap<String, Vec<u8>>,
}

impl Cache {
    fn cached(&self) -> Cached {
        let memos = self.memos.clone();
        Cached {
            files: self.files.clone(),
            floors: self.floors.clone(),
            more: None,
            memos: Some(LazyFiles(Arc::new(move |role| memos.get(role).cloned()))),
            open: None,
            open_memo: None,
        }
    }
    /// As a trust cache on disk serves it: the top-level files read up front, every delegation
    /// only when asked for, a remembered one opened to be read in pieces (the bytes read from
    /// those counted into `read`).
    fn cached_lazily(&self, read: Arc<AtomicUsize>) -> Cached {
        self.cached_lazily_counting(read, Arc::new(AtomicUsize::new(0)))
    }
    /// [`cached_lazily`](Self::cached_lazily), the memos opened in pieces too (their bytes read
    /// counted into `memo_read`).
    fn cached_lazily_counting(
        &self,
        read: Arc<AtomicUsize>,
        memo_read: Arc<AtomicUsize>,
    ) -> Cached {
        let top = ["root", "timestamp", "snapshot", "targets"];
        let (files, rest): (BTreeMap<_, _>, BTreeMap<_, _>) = self
            .files
            .clone()
            .into_iter()
            .partition(|(role, _)| top.contains(&role.as_str()));
        let rest = Arc::new(rest);
        let more = rest.clone();
        let memos = Arc::new(self.memos.clone());
        Cached {
            files,
            more: Some(LazyFiles(Arc::new(move |role| more.get(role).cloned()))),
            open: Some(LazyOpen(Arc::new(move |role| {
                let file: SharedFile = Arc::new(Counting(rest.get(role)?.clone(), read.clone()));
                Some(file)
            }))),
            open_memo: Some(LazyOpen(Arc::new(move |role| {
                let file: SharedFile =
                    Arc::new(Counting(memos.get(role)?.clone(), memo_read.clone()));
                Some(file)
            }))),
            ..self.cached()
        }
    }
    fn keep(&mut self, updater: &Updater<&MemorySource>) {
        let (fresh, floors) = updater.to_persist();
        self.files.extend(fresh.clone());
        self.floors = floors.clone();
        self.memos.extend(updater.memos_to_persist().clone());
    }
}

fn update_at<'a>(
    source: &'a MemorySource,
    cache: &Cache,
    now: DateTime<Utc>,
) -> Result<Updater<&'a MemorySource>, UpdateError> {
    block_on(Updater::refresh(
        source,
        GUN,
        cache.cached(),
        TOFU,
        &Limits::default(),
        now,
    ))
}

/// Looks up one target in every bin, then keeps what the update verified.
fn read_all(source: &MemorySource, cache: &mut Cache) -> Vec<Option<String>> {
    let mut updater = update_at(source, cache, now()).unwrap();
    let found = (0..BINS)
        .map(|i| {
            block_on(updater.lookup(&format!("app/{i}/1")))
                .unwrap()
                .map(|t| format!("{} {:?} {}", t.role, t.meta, t.name))
        })
        .collect();
    cache.keep(&updater);
    found
}

/// A client that has read one target of every bin of `repo`: its cache holds each bin and its
/// memo. Returns the cache and the answers.
fn warmed(repo: &Repo) -> (Cache, Vec<Option<String>>) {
    let source = MemorySource::serving(repo);
    let mut cache = Cache::default();
    let cold = read_all(&source, &mut cache);
    (cache, cold)
}

fn remembered(updater: &Updater<&MemorySource>) -> Vec<String> {
    updater
        .state()
        .remembered_roles()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_bin_verified_once_is_read_from_its_memo_with_the_same_answers() {
    let key = TestKey::ecdsa();
    let repo = bins_signed_by(&key, far());
    let source = MemorySource::serving(&repo);
    let (cache, cold) = warmed(&repo);
    assert_eq!(cache.memos.len(), BINS, "one memo per bin verified");
    assert!(cold.iter().all(Option::is_some));

    let mut updater = update_at(&source, &cache, now()).unwrap();
    for (i, answer) in cold.iter().enumerate() {
        let t = block_on(updater.lookup(&format!("app/{i}/1"))).unwrap();
        assert_eq!(
            &t.map(|t| format!("{} {:?} {}", t.role, t.meta, t.name)),
            answer
        );
        // A name the bin does not hold is still absent.
        assert!(
            block_on(updater.lookup(&format!("app/{i}/9")))
                .unwrap()
                .is_none()
        );
    }
    let expected: Vec<String> = (0..BINS).map(|i| bin(i).to_string()).collect();
    assert_eq!(remembered(&updater), expected);
    // Listing and the whole file (what a writer needs) agree with the verified file.
    let listed = block_on(updater.list_targets()).unwrap();
    assert_eq!(listed.len(), 3 * BINS);
    let mut cold_updater = update_at(&source, &Cache::default(), now()).unwrap();
    let show = |all: Vec<super::trusted::TrustedTarget>| -> Vec<String> {
        all.iter()
            .map(|t| format!("{} {:?} {}", t.role, t.meta, t.name))
            .collect()
    };
    assert_eq!(
        show(listed),
        show(block_on(cold_updater.list_targets()).unwrap())
    );
    // After the walk, lookups go through the parsed index: still the same answers.
    for (i, answer) in cold.iter().enumerate() {
        let t = block_on(updater.lookup(&format!("app/{i}/1"))).unwrap();
        assert_eq!(
            &t.map(|t| format!("{} {:?} {}", t.role, t.meta, t.name)),
            answer
        );
    }
    let whole = updater.state().targets_role(&bin(2)).unwrap();
    assert_eq!(whole.targets.len(), 3);
    assert_eq!(
        updater.memos_to_persist().len(),
        0,
        "nothing new to remember"
    );
}

#[test]
fn a_memo_is_not_used_once_the_delegation_names_other_keys_and_the_old_bin_is_skipped() {
    let old_key = TestKey::ecdsa();
    let mut repo = bins_signed_by(&old_key, far());
    let (cache, _) = warmed(&repo);

    // The owner re-keys bin 1's delegation; the bin itself is left as the old key signed it.
    let new_key = TestKey::ecdsa();
    let mut top = targets_meta(3, far(), &[]);
    for i in 0..BINS {
        let prefix = format!("app/{i}/");
        let key = if i == 1 { &new_key } else { &old_key };
        delegate(&mut top, bin(i).as_str(), &[prefix.as_str()], &[key], 1);
    }
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.publish(3, 3);
    let source = MemorySource::serving(&repo);
    let mut updater = update_at(&source, &cache, now()).unwrap();
    assert!(
        block_on(updater.lookup("app/1/1")).unwrap().is_none(),
        "signed only by a key the delegation no longer lists"
    );
    assert!(updater.state().skipped(&bin(1)).is_some());
    assert!(block_on(updater.lookup("app/0/1")).unwrap().is_some());
    assert!(!remembered(&updater).contains(&bin(1).to_string()));
    assert!(remembered(&updater).contains(&bin(0).to_string()));
}

#[test]
fn a_memo_of_other_bytes_is_not_used_and_the_new_file_is_verified() {
    let key = TestKey::ecdsa();
    let mut repo = bins_signed_by(&key, far());
    let (cache, _) = warmed(&repo);

    let entries: [(&str, &[u8]); 1] = [("app/0/1", b"changed")];
    repo.set(
        bin(0).as_str(),
        sign(&targets_meta(2, far(), &entries), &[&key]),
    );
    repo.publish(3, 3);
    let source = MemorySource::serving(&repo);
    let mut updater = update_at(&source, &cache, now()).unwrap();
    let t = block_on(updater.lookup("app/0/1")).unwrap().unwrap();
    assert_eq!(t.meta.length, b"changed".len() as u64);
    assert!(!remembered(&updater).contains(&bin(0).to_string()));
    assert!(updater.memos_to_persist().contains_key(bin(0).as_str()));
}

#[test]
fn a_remembered_bin_past_its_expiry_is_skipped_as_expired_exactly_as_without_a_memo() {
    let key = TestKey::ecdsa();
    let soon = at("2027-01-01T00:00:00Z");
    let repo = bins_signed_by(&key, Expires::new(soon));
    let source = MemorySource::serving(&repo);
    let (cache, _) = warmed(&repo);
    assert_eq!(cache.memos.len(), BINS);

    let later = at("2027-06-01T00:00:00Z");
    for memos in [cache.memos.clone(), BTreeMap::new()] {
        let c = Cache {
            memos,
            ..cache.clone()
        };
        let mut updater = update_at(&source, &c, later).unwrap();
        assert!(block_on(updater.lookup("app/3/1")).unwrap().is_none());
        assert!(matches!(
            updater.state().skipped(&bin(3)).map(|s| &s.reason),
            Some(super::trusted::SkipReason::Expired { .. })
        ));
        assert!(remembered(&updater).is_empty());
    }
}

#[test]
fn a_memo_below_the_version_floor_is_not_used_and_the_rollback_is_refused_exit_5() {
    let key = TestKey::ecdsa();
    let repo = bins_signed_by(&key, far());
    let source = MemorySource::serving(&repo);
    let (mut cache, _) = warmed(&repo);
    // An earlier run trusted version 5 of bin 2; the server serves version 1.
    cache.floors.targets.insert(bin(2).to_string(), 5);
    let mut updater = update_at(&source, &cache, now()).unwrap();
    let err = match block_on(updater.lookup("app/2/1")) {
        Err(UpdateError::Trust(e)) => e,
        other => panic!("expected a rollback, got {other:?}"),
    };
    assert!(matches!(err, TrustError::Rollback { .. }), "{err:?}");
    assert_eq!(err.failure(), crate::failure::Failure::Rollback);
}

/// Every name of bin `i` answers with its own entry, and `app/<i>/1` as the cold read did.
fn bin_answers_as_signed(updater: &mut Updater<&MemorySource>, i: usize, cold: &[Option<String>]) {
    for n in 0..3 {
        let name = format!("app/{i}/{n}");
        let t = block_on(updater.lookup(&name)).unwrap().unwrap();
        assert_eq!(t.meta.length, name.len() as u64);
        if n == 1 {
            assert_eq!(Some(format!("{} {:?} {}", t.role, t.meta, t.name)), cold[i]);
        }
    }
}

/// The memo's header (nine lines), then its index records.
fn split_memo(memo: &[u8]) -> (Vec<String>, Vec<String>) {
    let text = String::from_utf8(memo.to_vec()).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    (lines[..9].to_vec(), lines[9..].to_vec())
}

fn join_memo(header: &[String], records: &[String]) -> Vec<u8> {
    let mut out = String::new();
    for line in header.iter().chain(records) {
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

#[test]
fn a_memo_whose_index_points_at_another_entry_still_answers_from_the_file() {
    let key = TestKey::ecdsa();
    let repo = bins_signed_by(&key, far());
    let source = MemorySource::serving(&repo);
    let (mut cache, cold) = warmed(&repo);
    // Swap the ranges of bin 1's first two records: each name's key now points at the other
    // name's entry.
    let (header, mut records) = split_memo(&cache.memos[bin(1).as_str()]);
    assert_eq!(records.len(), 3);
    let (a, b) = (records[0].clone(), records[1].clone());
    records[0] = format!("{}{}", &a[..16], &b[16..]);
    records[1] = format!("{}{}", &b[..16], &a[16..]);
    cache
        .memos
        .insert(bin(1).to_string(), join_memo(&header, &records));

    let mut updater = update_at(&source, &cache, now()).unwrap();
    assert_eq!(
        remembered(&updater),
        Vec::<String>::new(),
        "nothing loaded yet"
    );
    bin_answers_as_signed(&mut updater, 1, &cold);
    assert!(remembered(&updater).contains(&bin(1).to_string()));
    // And through a walk over the whole file.
    let all = block_on(updater.list_targets()).unwrap();
    assert_eq!(
        all.iter().filter(|t| t.name.starts_with("app/1/")).count(),
        3
    );
}

#[test]
fn a_memo_index_out_of_order_is_not_searched_and_the_whole_file_answers() {
    let key = TestKey::ecdsa();
    let repo = bins_signed_by(&key, far());
    let source = MemorySource::serving(&repo);
    let (mut cache, cold) = warmed(&repo);
    let (header, mut records) = split_memo(&cache.memos[bin(2).as_str()]);
    records.reverse();
    cache
        .memos
        .insert(bin(2).to_string(), join_memo(&header, &records));
    let mut updater = update_at(&source, &cache, now()).unwrap();
    bin_answers_as_signed(&mut updater, 2, &cold);
    assert!(block_on(updater.lookup("app/2/9")).unwrap().is_none());
}

/// One bin holding `n` targets (`app/<i>`), far larger than a piece.
fn one_big_bin(key: &TestKey, n: usize) -> Repo {
    let mut repo = Repo::new();
    let mut top = targets_meta(2, far(), &[]);
    delegate(&mut top, "targets/big", &["app/"], &[key], 1);
    let names: Vec<String> = (0..n).map(|i| format!("app/{i:05}")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
    repo.set(
        "targets/big",
        sign(&targets_meta(1, far(), &entries), &[key]),
    );
    repo.set("targets", sign(&top, &[&repo.tg_key]));
    repo.publish(2, 2);
    repo
}

#[test]
fn a_remembered_bin_is_read_only_in_the_pieces_its_lookups_need() {
    let key = TestKey::ecdsa();
    let repo = one_big_bin(&key, 2000);
    let big = RoleName::parse("targets/big").unwrap();
    let size = repo.file(big.as_str()).len();
    assert!(size > 40 * CHUNK, "the bin spans many pieces: {size} bytes");
    let source = MemorySource::serving(&repo);
    let mut cache = Cache::default();
    let mut cold = update_at(&source, &cache, now()).unwrap();
    let answers: Vec<_> = ["app/00007", "app/01500", "app/01999", "app/99999"]
        .iter()
        .map(|n| block_on(cold.lookup(n)).unwrap())
        .collect();
    cache.keep(&cold);

    let (read, memo_read) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let cached = cache.cached_lazily_counting(read.clone(), memo_read.clone());
    let memo_size = cache.memos[big.as_str()].len();
    let mut warm = block_on(Updater::refresh(
        &source,
        GUN,
        cached,
        TOFU,
        &Limits::default(),
        now(),
    ))
    .unwrap();
    for (n, answer) in ["app/00007", "app/01500", "app/01999", "app/99999"]
        .iter()
        .zip(&answers)
    {
        assert_eq!(&block_on(warm.lookup(n)).unwrap(), answer);
    }
    assert_eq!(remembered(&warm), [big.to_string()]);
    // Three entries found, each within at most two pieces; the absent name reads nothing.
    let pieces = read.load(Ordering::SeqCst);
    assert!(pieces <= 3 * 2 * CHUNK, "read {pieces} of {size} bytes");
    assert_eq!(warm.fetches(), 1, "only timestamp.json from the server");
    // The memo too: its header once, then a window of its index and two piece hashes a lookup.
    let memo_pieces = memo_read.load(Ordering::SeqCst);
    assert!(
        memo_pieces < memo_size / 2,
        "read {memo_pieces} of the memo's {memo_size} bytes"
    );
    // A bundle needs the whole file: read once, checked against the memo.
    let relied = warm.relied_on().unwrap();
    assert_eq!(relied[big.as_str()], repo.file(big.as_str()));
}

#[test]
fn a_bin_changed_in_place_after_its_memo_was_written_is_fetched_again_and_answers_as_signed() {
    let key = TestKey::ecdsa();
    let repo = one_big_bin(&key, 500);
    let big = "targets/big";
    let source = MemorySource::serving(&repo);
    let mut cache = Cache::default();
    let mut cold = update_at(&source, &cache, now()).unwrap();
    let signed = block_on(cold.lookup("app/00123")).unwrap().unwrap();
    cache.keep(&cold);
    assert!(cache.memos.contains_key(big));

    // Same length, one hex digit of the entry's sha256 changed in the cached copy.
    let good = cache.files[big].clone();
    let text = String::from_utf8(good.clone()).unwrap();
    let at = text.find("\"app/00123\"").unwrap();
    let digit = at + text[at..].find("\"sha256\":\"").unwrap() + 10;
    let mut bad = good.clone();
    bad[digit] = if bad[digit] == b'0' { b'1' } else { b'0' };
    cache.files.insert(big.to_string(), bad.clone());

    let read = Arc::new(AtomicUsize::new(0));
    let mut warm = block_on(Updater::refresh(
        &source,
        GUN,
        cache.cached_lazily(read),
        TOFU,
        &Limits::default(),
        now(),
    ))
    .unwrap();
    let found = block_on(warm.lookup("app/00123")).unwrap().unwrap();
    assert_eq!(found, signed, "the signed entry, not the changed one");
    assert!(remembered(&warm).is_empty(), "verified in full this time");
    assert_eq!(
        warm.fetches(),
        2,
        "timestamp.json and the bin, fetched again"
    );
    assert_eq!(
        warm.to_persist().0.get(big),
        Some(&good),
        "the good copy is kept"
    );
    // Other names answer from the verified file.
    assert!(block_on(warm.lookup("app/00400")).unwrap().is_some());
}

#[test]
fn damaged_or_foreign_memos_are_ignored_and_the_bin_verified_in_full() {
    let key = TestKey::ecdsa();
    let repo = bins_signed_by(&key, far());
    let source = MemorySource::serving(&repo);
    let (mut cache, _) = warmed(&repo);
    let memo0 = cache.memos[bin(0).as_str()].clone();
    // Bin 0's memo filed as bin 1's (another role, other bytes), and garbage for bin 2.
    cache.memos.insert(bin(1).to_string(), memo0);
    cache.memos.insert(
        bin(2).to_string(),
        b"manifesto-verified-targets 1\n".to_vec(),
    );
    let mut updater = update_at(&source, &cache, now()).unwrap();
    for i in 0..BINS {
        assert!(
            block_on(updater.lookup(&format!("app/{i}/1")))
                .unwrap()
                .is_some()
        );
    }
    let used = remembered(&updater);
    assert!(used.contains(&bin(0).to_string()) && used.contains(&bin(3).to_string()));
    assert!(!used.contains(&bin(1).to_string()) && !used.contains(&bin(2).to_string()));
    // The full verifications write fresh memos over the bad ones.
    let rewritten: Vec<&String> = updater.memos_to_persist().keys().collect();
    assert_eq!(rewritten, [bin(1).as_str(), bin(2).as_str()]);
}

#[test]
fn a_role_that_delegates_further_gets_no_memo() {
    let key = TestKey::ecdsa();
    let repo = bins_signed_by(&key, far());
    let state = repo.state();
    assert!(
        state
            .memo_of(&RoleName::targets(), repo.file("targets"))
            .is_none()
    );
    let mut state = state;
    state
        .update_targets_role(&bin(0), repo.file("targets/bin0"), now())
        .unwrap();
    let memo = state.memo_of(&bin(0), repo.file("targets/bin0")).unwrap();
    assert!(Memo::read(Arc::new(memo)).is_some());
    assert!(matches!(
        state.lookup("app/0/2").unwrap(),
        Lookup::Found(t) if t.role == bin(0)
    ));
}

#[test]
fn a_bin_verified_this_run_is_held_as_a_leaf_with_the_memo_a_full_parse_writes() {
    use super::envelope::SignedEnvelope;
    use super::metadata::{Metadata, Targets};
    use super::verify::{self, Authority};
    let key = TestKey::ecdsa();
    let repo = bins_signed_by(&key, far());
    let mut state = repo.state();
    let file = repo.file("targets/bin0");
    state.update_targets_role(&bin(0), file, now()).unwrap();
    assert!(
        state.remembered_bytes("targets/bin0").is_some(),
        "held from memory, each entry parsed when it is looked up"
    );
    assert!(
        !state.is_remembered(&bin(0)),
        "verified by this run, not recalled"
    );
    // The typed parse of the same file, and the memo it makes.
    let parse = |bytes: &[u8]| SignedEnvelope::parse(bytes, usize::MAX).unwrap();
    let top = Targets::from_signed(&parse(repo.file("targets")).signed).unwrap();
    let authority = Authority::delegated(&top, &bin(0)).unwrap();
    let typed = verify::verify::<Targets>(&parse(file), &authority).unwrap();
    assert_eq!(
        state.memo_of(&bin(0), file).unwrap(),
        Memo::of(file, &typed, &authority).unwrap()
    );
    for (name, meta) in &typed.targets {
        match state.lookup(name).unwrap() {
            Lookup::Found(t) => assert_eq!((&t.meta, &t.role), (meta, &bin(0))),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(matches!(state.lookup("app/0/9").unwrap(), Lookup::NotFound));
}
