//! Bounds on what a Notary server can make the client download, hold or wait for.
//!
//! A hostile or broken server controls every byte it serves and, because it holds the snapshot
//! and timestamp keys, also the lengths the snapshot claims for the targets files. So every file
//! gets an absolute cap here, whatever its parent says, and every fetch and every whole update a
//! deadline. The updater and the transport both read one [`Limits`] value; the defaults are
//! documented in `docs/threats.md` next to the peers' (go-tuf and python-tuf: root 512 KB,
//! timestamp 16 KB, snapshot 2 MB, targets 5 MB, 256 root rotations, 32 delegations).

use std::time::Duration;

use serde::Deserialize;

/// Caps and deadlines for one repository's trust data.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest `root.json` / `N.root.json` accepted (peers: 512 KB).
    pub root_max_bytes: u64,
    /// Largest `timestamp.json` (peers: 16 KB; Notary's timestamps are under 1 KB).
    pub timestamp_max_bytes: u64,
    /// Largest `snapshot.json`, whatever the timestamp claims. The sharded layout lists about
    /// 205 bytes per role file, so 8 MiB holds some 40,000 files (peers: 2 MB).
    pub snapshot_max_bytes: u64,
    /// Largest `targets.json` or delegation file, whatever the snapshot claims. A sharded bin is
    /// about 80 KB; flat files of the earlier layout hold about 350 bytes per target, so 8 MiB
    /// reads a flat role of some 24,000 targets (peers: 5 MB).
    pub targets_max_bytes: u64,
    /// Root versions one update may walk (peers: 256).
    pub max_root_rotations: u32,
    /// Targets roles one lookup may visit (peers: 32).
    pub max_delegation_visits: usize,
    /// The slowest transfer rate a file may arrive at: each file's deadline is
    /// `file_base_deadline + cap / min_bytes_per_second`, so a server that drips a file
    /// is cut off after a time proportional to what it may legitimately send.
    pub min_bytes_per_second: u64,
    /// The fixed part of a file's deadline (connection, TLS, the server's first byte).
    #[serde(with = "humantime_serde_secs")]
    pub file_base_deadline: Duration,
    /// The bound on one whole trust update (root chain, timestamp, snapshot, targets and the
    /// delegations a lookup needs): past it the update fails as unavailable, naming the file
    /// it was waiting for.
    #[serde(with = "humantime_serde_secs")]
    pub update_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            root_max_bytes: 512 * 1024,
            timestamp_max_bytes: 16 * 1024,
            snapshot_max_bytes: 8 << 20,
            targets_max_bytes: 8 << 20,
            max_root_rotations: 256,
            max_delegation_visits: 32,
            min_bytes_per_second: 256 * 1024,
            file_base_deadline: Duration::from_secs(10),
            update_deadline: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// How long a file of at most `max_len` bytes may take to arrive.
    pub fn file_deadline(&self, max_len: u64) -> Duration {
        let rate = self.min_bytes_per_second.max(1);
        self.file_base_deadline + Duration::from_millis(max_len.saturating_mul(1000) / rate)
    }
}

/// Durations in the configuration file are humantime strings ("30s", "2m").
mod humantime_serde_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_at_least_as_tight_as_the_peers_where_the_layout_allows() {
        let l = Limits::default();
        assert_eq!(l.root_max_bytes, 512 * 1024);
        assert_eq!(l.timestamp_max_bytes, 16 * 1024);
        assert_eq!(l.max_root_rotations, 256);
        assert_eq!(l.max_delegation_visits, 32);
        assert!(l.update_deadline <= Duration::from_secs(60));
    }

    #[test]
    fn a_file_deadline_grows_with_its_cap() {
        let l = Limits::default();
        assert_eq!(l.file_deadline(0), Duration::from_secs(10));
        assert_eq!(l.file_deadline(256 * 1024), Duration::from_secs(11));
        assert!(l.file_deadline(8 << 20) > l.file_deadline(16 * 1024));
    }

    #[test]
    fn limits_are_read_from_configuration_with_durations_as_text() {
        let l: Limits =
            serde_json::from_str(r#"{"update_deadline":"5s","targets_max_bytes":1024}"#).unwrap();
        assert_eq!(l.update_deadline, Duration::from_secs(5));
        assert_eq!(l.targets_max_bytes, 1024);
        assert_eq!(l.root_max_bytes, Limits::default().root_max_bytes);
        let err = serde_json::from_str::<Limits>(r#"{"bogus":1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `bogus`"), "{err}");
    }
}
