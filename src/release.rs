//! Release ids: UTC `%Y%m%d%H%M%S`, minted once per deploy, identical on every host.
//!
//! Only names of exactly 14 digits count as releases; anything else under
//! `releases/` is left alone.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use std::fmt;

/// A release directory name under `releases/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub(crate) struct ReleaseId(String);

const FORMAT: &str = "%Y%m%d%H%M%S";

impl ReleaseId {
    /// Parses a directory name; `None` unless it is 14 digits forming a real time.
    pub(crate) fn parse(name: &str) -> Option<ReleaseId> {
        if name.len() != 14 || !name.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        NaiveDateTime::parse_from_str(name, FORMAT).ok()?;
        Some(ReleaseId(name.to_string()))
    }

    /// A name already under `releases/` that ship did not mint (`57` on a
    /// host migrated from Deployer or Mina): something to go back to, never
    /// to create. `None` for names that are not one plain path component.
    pub(crate) fn existing(name: &str) -> Option<ReleaseId> {
        let plain = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains('/')
            && !name.chars().any(char::is_control);
        plain.then(|| ReleaseId(name.to_string()))
    }

    /// Whether this is an id ship mints (14 digits), not an [`existing`](Self::existing) name.
    pub(crate) fn is_minted(&self) -> bool {
        ReleaseId::parse(&self.0).is_some()
    }

    /// The id for a moment in time.
    pub(crate) fn at(time: DateTime<Utc>) -> ReleaseId {
        ReleaseId(time.format(FORMAT).to_string())
    }

    /// The first id at or after `now`, and later than every id in
    /// `existing` (a deployer whose clock ran fast must not make the next
    /// release sort older than the one it replaces), that no host already
    /// has, so two deploys in the same second never share a directory.
    pub(crate) fn mint<'a>(
        now: DateTime<Utc>,
        existing: impl IntoIterator<Item = &'a ReleaseId>,
        taken: impl Fn(&ReleaseId) -> bool,
    ) -> ReleaseId {
        let newest = existing.into_iter().filter_map(|id| id.time()).max();
        let mut t = match newest {
            Some(n) if n + Duration::seconds(1) > now => n + Duration::seconds(1),
            _ => now,
        };
        loop {
            let id = ReleaseId::at(t);
            if !taken(&id) {
                return id;
            }
            t += Duration::seconds(1);
        }
    }

    /// The moment a minted id names.
    pub(crate) fn time(&self) -> Option<DateTime<Utc>> {
        NaiveDateTime::parse_from_str(&self.0, FORMAT).ok().map(|t| t.and_utc())
    }

    /// The id as a string.
    pub(crate) fn as_str(&self) -> &str {
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
        let id = ReleaseId::mint(now, [], |id| id.as_str() <= "20261122070103");
        assert_eq!(id.as_str(), "20261122070104");
    }

    #[test]
    fn mint_goes_past_the_newest_id_from_a_fast_clock() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 7, 1, 2).unwrap();
        let ahead = [ReleaseId::parse("20261122080000").unwrap(), ReleaseId::parse("20261101000000").unwrap()];
        assert_eq!(ReleaseId::mint(now, &ahead, |_| false).as_str(), "20261122080001");
        let behind = [ReleaseId::parse("20261101000000").unwrap()];
        assert_eq!(ReleaseId::mint(now, &behind, |_| false).as_str(), "20261122070102");
    }

    #[test]
    fn existing_names_are_one_plain_component() {
        assert_eq!(ReleaseId::existing("57").unwrap().as_str(), "57");
        assert!(!ReleaseId::existing("57").unwrap().is_minted());
        assert!(ReleaseId::existing("20261122070102").unwrap().is_minted());
        for bad in ["", ".", "..", "a/b", "x\ny"] {
            assert!(ReleaseId::existing(bad).is_none(), "{bad:?}");
        }
    }
}
