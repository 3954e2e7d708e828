//! Targets and a fixed clock shared by the unit tests of `verify`.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::tuf::metadata::FileMeta;
use crate::tuf::names::RoleName;
use crate::tuf::trusted::TrustedTarget;

pub(super) fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A target signed by `role` over `content`, created `age_secs` before [`now`].
pub(super) fn signed(role: &str, content: &[u8], age_secs: i64) -> TrustedTarget {
    let mut meta = FileMeta::of(content);
    let at = now() - chrono::Duration::seconds(age_secs);
    meta.custom = Some(json!({
        "mediaType": "application/json",
        "createdAt": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }));
    TrustedTarget {
        name: format!("approvals/sha256:{}", "a".repeat(64)),
        meta,
        role: RoleName::parse(role).unwrap(),
    }
}
