//! The files manifest a release carries in `.ship/manifest`: one line per
//! regular file of the build, `<sha256> <mode, octal> <size> <path>`, sorted
//! by path. The next deploy reads it from a host to know which files the
//! host already has (delta shipping, [`crate::delta`]).
//!
//! Paths under `linked_dirs`/`linked_files` are left out: on the host they
//! are symlinks into `shared/`, and a file reached through them is not the
//! release's own. So are paths a line could not carry unambiguously (a
//! newline or a backslash in the name, which `sha256sum` escapes): such
//! files are always sent whole.

use std::collections::HashMap;

/// Where a release keeps its manifest, relative to the release directory.
pub const PATH: &str = ".ship/manifest";

/// One regular file of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative path, `/`-separated, no leading `./`.
    pub path: String,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    /// Bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
}

/// The regular files of a release, sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Entries, sorted by path.
    pub files: Vec<FileEntry>,
}

/// Whether a path can be listed (and so hard-linked by a later deploy).
pub fn listable(path: &str) -> bool {
    !path.is_empty() && !path.contains(['\n', '\\', '\r'])
}

impl Manifest {
    /// The text stored on the host.
    pub fn to_text(&self) -> String {
        self.files.iter().map(|f| format!("{} {:04o} {} {}\n", f.sha256, f.mode, f.size, f.path)).collect()
    }

    /// Parses [`Manifest::to_text`]; `line N: ...` on anything else.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut files = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let bad = |what: &str| format!("line {}: {what}", n + 1);
            let mut parts = line.splitn(4, ' ');
            let (Some(sha256), Some(mode), Some(size), Some(path)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad("expected `<sha256> <mode> <size> <path>`"));
            };
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                return Err(bad("the sha256 is not 64 lower-case hex digits"));
            }
            let mode = u32::from_str_radix(mode, 8).map_err(|_| bad("the mode is not octal"))?;
            let size = size.parse().map_err(|_| bad("the size is not a number"))?;
            if !listable(path) || path.starts_with('/') || path.split('/').any(|c| c == ".." || c == ".") {
                return Err(bad("the path is not a plain relative path"));
            }
            files.push(FileEntry { path: path.to_string(), mode, size, sha256: sha256.to_string() });
        }
        Ok(Manifest { files })
    }

    /// Entries of `self` that `old` has at the same path with the same
    /// content and mode: a host holding `old` can hard-link them instead of
    /// receiving them. The mode must match because a hard link shares it.
    pub fn unchanged_since<'a>(&'a self, old: &Manifest) -> Vec<&'a FileEntry> {
        let before: HashMap<&str, &FileEntry> = old.files.iter().map(|f| (f.path.as_str(), f)).collect();
        self.files
            .iter()
            .filter(|f| before.get(f.path.as_str()).is_some_and(|o| o.sha256 == f.sha256 && o.mode == f.mode))
            .collect()
    }
}

/// The list a host links and then checks, in `sha256sum` format
/// (`<sha256>  ./<path>`): the host hashes the linked files and compares
/// its output with this text byte for byte.
pub fn sums_text(files: &[&FileEntry]) -> String {
    files.iter().map(|f| format!("{}  ./{}\n", f.sha256, f.path)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, mode: u32, sha: char) -> FileEntry {
        FileEntry { path: path.into(), mode, size: 3, sha256: sha.to_string().repeat(64) }
    }

    #[test]
    fn text_round_trips_and_paths_may_hold_spaces() {
        let m = Manifest { files: vec![entry("a b.txt", 0o644, 'a'), entry("bin/run", 0o755, 'b')] };
        let text = m.to_text();
        assert_eq!(text, format!("{} 0644 3 a b.txt\n{} 0755 3 bin/run\n", "a".repeat(64), "b".repeat(64)));
        assert_eq!(Manifest::parse(&text).unwrap(), m);
    }

    #[test]
    fn bad_lines_are_named() {
        let sha = "a".repeat(64);
        assert_eq!(Manifest::parse("x 0644 3 a").unwrap_err(), "line 1: the sha256 is not 64 lower-case hex digits");
        assert!(Manifest::parse(&format!("{sha} 0644 3 a\n{sha} 9 3 b")).unwrap_err().starts_with("line 2: the mode"));
        assert!(Manifest::parse(&format!("{sha} 0644 3 ../etc/passwd")).unwrap_err().contains("plain relative"));
        assert!(Manifest::parse(&format!("{sha} 0644 3")).unwrap_err().contains("expected"));
    }

    #[test]
    fn only_same_content_and_mode_at_the_same_path_is_unchanged() {
        let old = Manifest {
            files: vec![entry("same", 0o644, 'a'), entry("edited", 0o644, 'a'), entry("chmod", 0o644, 'a')],
        };
        let new = Manifest {
            files: vec![
                entry("same", 0o644, 'a'),
                entry("edited", 0o644, 'b'),
                entry("chmod", 0o755, 'a'),
                entry("added", 0o644, 'a'),
            ],
        };
        let kept: Vec<&str> = new.unchanged_since(&old).iter().map(|f| f.path.as_str()).collect();
        assert_eq!(kept, ["same"]);
        assert_eq!(sums_text(&new.unchanged_since(&old)), format!("{}  ./same\n", "a".repeat(64)));
    }

    #[test]
    fn names_a_line_cannot_carry_are_not_listable() {
        assert!(listable("a b/c.txt"));
        assert!(!listable("a\nb"));
        assert!(!listable("a\\b"));
        assert!(!listable(""));
    }
}
