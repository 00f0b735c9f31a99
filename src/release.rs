//! Release ids: UTC `%Y%m%d%H%M%S`, minted once per deploy, identical on every host.
//!
//! Only names of exactly 14 digits count as releases; anything else under
//! `releases/` is left alone.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use std::fmt;

/// A release directory name under `releases/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ReleaseId(String);

const FORMAT: &str = "%Y%m%d%H%M%S";

impl ReleaseId {
    /// Parses a directory name; `None` unless it is 14 digits forming a real time.
    pub fn parse(name: &str) -> Option<ReleaseId> {
        if name.len() != 14 || !name.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        NaiveDateTime::parse_from_str(name, FORMAT).ok()?;
        Some(ReleaseId(name.to_string()))
    }

    /// The id for a moment in time.
    pub fn at(time: DateTime<Utc>) -> ReleaseId {
        ReleaseId(time.format(FORMAT).to_string())
    }

    /// The first id at or after `now` that no host already has, so two deploys
    /// in the same second never share a directory.
    pub fn mint<'a>(now: DateTime<Utc>, taken: impl Fn(&ReleaseId) -> bool + 'a) -> ReleaseId {
        let mut t = now;
        loop {
            let id = ReleaseId::at(t);
            if !taken(&id) {
                return id;
            }
            t += Duration::seconds(1);
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_only_fourteen_digit_times() {
        assert!(ReleaseId::parse("20261122070102").is_some());
        assert!(ReleaseId::parse("2026112207010").is_none());
        assert!(ReleaseId::parse("20261122070102-old").is_none());
        assert!(ReleaseId::parse("20261399070102").is_none());
        assert!(ReleaseId::parse("latest").is_none());
    }

    #[test]
    fn mint_skips_taken_seconds() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 7, 1, 2).unwrap();
        let id = ReleaseId::mint(now, |id| id.as_str() <= "20261122070103");
        assert_eq!(id.as_str(), "20261122070104");
    }
}
