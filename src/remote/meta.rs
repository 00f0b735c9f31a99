//! What ship writes inside a release: `.ship/release.json` (what the
//! release is, written last while staging, so its presence marks a complete
//! release) and `.ship/bad` (why a release must not be gone back to).
//!
//! Typed, so the writer (deploy) and the readers (sync checks a copy's
//! sha256 against it; the cache trusts an archive only by it) agree on
//! field names.

use super::log::{lenient, lenient_or_default};
use serde::{Deserialize, Serialize};

/// `.ship/release.json`. Fields in alphabetical order: the files hosts hold
/// were written with `json!`, which sorts keys. Read leniently: a field of
/// another type reads as absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReleaseMeta {
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub app: String,
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub deployer: String,
    /// Entries in the archive (files, directories, links).
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub entries: usize,
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub id: String,
    /// Of the gzip archive the release was unpacked from.
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub sha256: String,
    /// Of the gzip archive, in bytes.
    #[serde(default, deserialize_with = "lenient")]
    pub size: Option<u64>,
    /// When the deploy wrote it (RFC 3339, UTC).
    #[serde(default, deserialize_with = "lenient_or_default")]
    pub time: String,
    /// The `--version` label, `null` when the deploy had none.
    #[serde(default, deserialize_with = "lenient")]
    pub version: Option<String>,
}

impl ReleaseMeta {
    /// The file's text.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("release metadata is plain data")
    }

    /// A release.json as a host holds it; an error only when it is not
    /// JSON. JSON of another shape (`null`, a list) reads as empty: sync
    /// then has no sha256 to trust a cached archive by and copies the
    /// release, checked against its manifest, as it always did.
    pub(crate) fn parse(text: &str) -> Result<ReleaseMeta, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Ok(serde_json::from_value(v).unwrap_or_default())
    }
}

/// `.ship/bad`: the release failed its deploy; rollback and sync skip it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct BadMark {
    pub marked_by: String,
    pub release: String,
    pub time: String,
    pub why: String,
}

impl BadMark {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a bad mark is plain data")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_what_json_wrote_before() {
        let m = ReleaseMeta {
            id: "20261122070102".into(),
            app: "shop".into(),
            version: None,
            sha256: "ab".into(),
            size: Some(10),
            entries: 3,
            deployer: "ana@laptop".into(),
            time: "T".into(),
        };
        let was = json!({
            "id": "20261122070102", "app": "shop", "version": null, "sha256": "ab",
            "size": 10, "entries": 3, "deployer": "ana@laptop", "time": "T",
        });
        assert_eq!(m.to_json(), was.to_string());
        assert_eq!(ReleaseMeta::parse(&was.to_string()), Ok(m));
        let bad = BadMark { release: "1".into(), marked_by: "a".into(), time: "T".into(), why: "w".into() };
        assert_eq!(bad.to_json(), json!({"release": "1", "marked_by": "a", "time": "T", "why": "w"}).to_string());
    }

    #[test]
    fn a_field_of_another_type_reads_as_absent() {
        let m = ReleaseMeta::parse(r#"{"sha256": 5, "size": "big", "id": "1"}"#).unwrap();
        assert_eq!((m.sha256.as_str(), m.size, m.id.as_str()), ("", None, "1"));
        assert!(ReleaseMeta::parse("not json").is_err());
        assert_eq!(ReleaseMeta::parse("[]"), Ok(ReleaseMeta::default()));
        assert_eq!(ReleaseMeta::parse("null"), Ok(ReleaseMeta::default()));
    }
}
