//! The files manifest a release carries in `.ship/manifest`: one line per
//! regular file of the build, `<sha256> <mode, octal> <size> <path>`, sorted
//! by path, then one per symlink, `-> <target, hex> <path>`, after a
//! [`HEADER`] line. The next deploy reads it from a host to know which files
//! the host already has (delta shipping, [`crate::build::delta`]); `ship sync`
//! checks a release copied from a host against it, links included, so a
//! link re-pointed on one host does not spread. Manifests written before
//! links were recorded have no header and no link lines; parsing them says
//! so ([`Manifest::records_links`]).
//!
//! Paths under `linked_dirs`/`linked_files` are left out: on the host they
//! are symlinks into `shared/`, and a file reached through them is not the
//! release's own. A name a line could not carry as it is (a newline or a
//! backslash, which `sha256sum` escapes, as in archives made on Windows)
//! is written `\<name, hex>`: listed for `ship sync` to check, never
//! hard-linked by a delta (such files are always sent whole).

use std::collections::HashMap;

/// Where a release keeps its manifest, relative to the release directory.
pub(crate) const PATH: &str = crate::remote::MANIFEST;

/// One regular file of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileEntry {
    /// Relative path, `/`-separated, no leading `./`.
    pub path: String,
    /// Permission bits (`0o7777` mask).
    pub mode: u32,
    /// Bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
}

/// One symlink of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkEntry {
    /// Relative path, as [`FileEntry::path`].
    pub path: String,
    /// What the link points at, byte for byte.
    pub target: Vec<u8>,
}

/// The first line of a manifest that lists symlinks too.
pub(crate) const HEADER: &str = "#ship-manifest 2";

/// The regular files and symlinks of a release, each sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Regular files, sorted by path.
    pub files: Vec<FileEntry>,
    /// Symlinks, sorted by path.
    pub links: Vec<LinkEntry>,
    /// Whether `links` is the whole list: false for a manifest written
    /// before ship recorded links.
    pub records_links: bool,
}

/// Whether a path can be listed (and so hard-linked by a later deploy).
pub(crate) fn listable(path: &str) -> bool {
    !path.is_empty() && !path.contains(['\n', '\\', '\r'])
}

/// A release path as the manifest names it: as it is when it is UTF-8,
/// else `\` and its bytes in hex (a name from another system's encoding,
/// `caf\xe9.txt`), the same whether read from a build or from a copy.
pub(crate) fn name_of(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    match path.to_str() {
        Some(s) => s.to_string(),
        None => format!("\\{}", crate::text::hex(path.as_os_str().as_bytes())),
    }
}

/// A path as a manifest line carries it: as it is when [`listable`],
/// else `\` and its bytes in hex (a listable path has no backslash).
fn name_text(path: &str) -> std::borrow::Cow<'_, str> {
    if listable(path) {
        path.into()
    } else {
        format!("\\{}", crate::text::hex(path.as_bytes())).into()
    }
}

/// The path a line carries ([`name_text`]), if it is a plain relative one.
fn name_from(field: &str, escapes: bool) -> Option<String> {
    let path = match field.strip_prefix('\\').filter(|_| escapes) {
        Some(hex) => String::from_utf8(crate::text::unhex(hex)?).ok()?,
        None if listable(field) => field.to_string(),
        None => return None,
    };
    let plain = !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && !path.split('/').any(|c| c == ".." || c == "." || c.is_empty());
    plain.then_some(path)
}

impl Manifest {
    /// The text stored on the host (always with links, so with [`HEADER`]).
    pub(crate) fn to_text(&self) -> String {
        let files =
            self.files.iter().map(|f| format!("{} {:04o} {} {}\n", f.sha256, f.mode, f.size, name_text(&f.path)));
        let links = self.links.iter().map(|l| format!("-> {} {}\n", crate::text::hex(&l.target), name_text(&l.path)));
        std::iter::once(format!("{HEADER}\n")).chain(files).chain(links).collect()
    }

    /// Parses [`Manifest::to_text`]; `line N: ...` on anything else.
    pub(crate) fn parse(text: &str) -> Result<Manifest, String> {
        let mut files = Vec::new();
        let mut links = Vec::new();
        let records_links = text.lines().next() == Some(HEADER);
        for (n, line) in text.lines().enumerate().skip(usize::from(records_links)) {
            let bad = |what: &str| format!("line {}: {what}", n + 1);
            if let Some(rest) = line.strip_prefix("-> ").filter(|_| records_links) {
                let (hex, path) = rest.split_once(' ').ok_or_else(|| bad("expected `-> <target> <path>`"))?;
                let target = crate::text::unhex(hex).ok_or_else(|| bad("the link target is not hex"))?;
                let path =
                    name_from(path, records_links).ok_or_else(|| bad("the path is not a plain relative path"))?;
                links.push(LinkEntry { path, target });
                continue;
            }
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
            let path = name_from(path, records_links).ok_or_else(|| bad("the path is not a plain relative path"))?;
            files.push(FileEntry { path, mode, size, sha256: sha256.to_string() });
        }
        Ok(Manifest { files, links, records_links })
    }

    /// Entries of `self` that `old` has at the same path with the same
    /// content and mode: a host holding `old` can hard-link them instead of
    /// receiving them. The mode must match because a hard link shares it;
    /// a name the host's link list cannot carry is always sent.
    pub(crate) fn unchanged_since<'a>(&'a self, old: &Manifest) -> Vec<&'a FileEntry> {
        let before: HashMap<&str, &FileEntry> = old.files.iter().map(|f| (f.path.as_str(), f)).collect();
        self.files
            .iter()
            .filter(|f| listable(&f.path))
            .filter(|f| before.get(f.path.as_str()).is_some_and(|o| o.sha256 == f.sha256 && o.mode == f.mode))
            .collect()
    }
}

/// The list a host links and then checks, in `sha256sum` format
/// (`<sha256>  ./<path>`): the host hashes the linked files and compares
/// its output with this text byte for byte.
pub(crate) fn sums_text(files: &[&FileEntry]) -> String {
    files.iter().map(|f| format!("{}  ./{}\n", f.sha256, f.path)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, mode: u32, sha: char) -> FileEntry {
        FileEntry { path: path.into(), mode, size: 3, sha256: sha.to_string().repeat(64) }
    }

    fn manifest(files: Vec<FileEntry>) -> Manifest {
        Manifest { files, links: Vec::new(), records_links: true }
    }

    #[test]
    fn text_round_trips_and_paths_may_hold_spaces() {
        let mut m = manifest(vec![entry("a b.txt", 0o644, 'a'), entry("bin/run", 0o755, 'b')]);
        m.links.push(LinkEntry { path: "cur rent".into(), target: b"releases/5 7/".to_vec() });
        m.links.push(LinkEntry { path: "empty".into(), target: Vec::new() });
        let text = m.to_text();
        assert_eq!(
            text,
            format!(
                "#ship-manifest 2\n{} 0644 3 a b.txt\n{} 0755 3 bin/run\n-> 72656c65617365732f352037\
2f cur rent\n->  empty\n",
                "a".repeat(64),
                "b".repeat(64)
            )
        );
        assert_eq!(Manifest::parse(&text).unwrap(), m);
    }

    #[test]
    fn a_manifest_from_before_links_were_recorded_says_so() {
        let text = format!("{} 0644 3 a\n", "a".repeat(64));
        let m = Manifest::parse(&text).unwrap();
        assert_eq!((m.files.len(), m.links.len(), m.records_links), (1, 0, false));
        // Without the header a link line is not one.
        assert!(Manifest::parse(&format!("{text}-> 61 b\n")).unwrap_err().starts_with("line 2:"));
        assert_eq!(Manifest::parse("#ship-manifest 2\n-> 6 b\n").unwrap_err(), "line 2: the link target is not hex");
        assert!(Manifest::parse("#ship-manifest 2\n-> 61 ../b\n").unwrap_err().contains("plain relative"));
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
        let old = manifest(vec![entry("same", 0o644, 'a'), entry("edited", 0o644, 'a'), entry("chmod", 0o644, 'a')]);
        let new = manifest(vec![
            entry("same", 0o644, 'a'),
            entry("edited", 0o644, 'b'),
            entry("chmod", 0o755, 'a'),
            entry("added", 0o644, 'a'),
        ]);
        let kept: Vec<&str> = new.unchanged_since(&old).iter().map(|f| f.path.as_str()).collect();
        assert_eq!(kept, ["same"]);
        assert_eq!(sums_text(&new.unchanged_since(&old)), format!("{}  ./same\n", "a".repeat(64)));
    }

    /// Names a line cannot carry as they are round-trip in hex, are never
    /// linked by a delta, and an escape is only read in a v2 manifest.
    #[test]
    fn names_with_a_backslash_or_newline_are_listed_in_hex_and_never_linked() {
        let m = manifest(vec![entry("assets\\logo.svg", 0o644, 'a'), entry("a\nb", 0o644, 'b')]);
        let text = m.to_text();
        assert!(text.contains(" \\6173736574735c6c6f676f2e737667\n"), "{text}");
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        assert!(m.unchanged_since(&m).is_empty());
        let old = format!("{} 0644 3 \\61\n", "a".repeat(64));
        assert!(Manifest::parse(&old).unwrap_err().contains("plain relative"));
        let sneaky = format!("#ship-manifest 2\n{} 0644 3 \\2e2e2f78\n", "a".repeat(64));
        assert!(Manifest::parse(&sneaky).unwrap_err().contains("plain relative"), "../x in hex");
    }

    /// A name that is not UTF-8 is named by its bytes, read from a build
    /// or from a copy alike, and survives the manifest's text.
    #[test]
    fn a_name_that_is_not_utf8_is_named_by_its_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let name = name_of(std::path::Path::new(std::ffi::OsStr::from_bytes(b"caf\xe9.txt")));
        assert_eq!(name, "\\636166e92e747874");
        let m = manifest(vec![entry(&name, 0o644, 'a')]);
        assert_eq!(Manifest::parse(&m.to_text()).unwrap(), m);
        assert!(m.unchanged_since(&m).is_empty(), "never hard-linked by a delta");
    }

    #[test]
    fn names_a_line_cannot_carry_are_not_listable() {
        assert!(listable("a b/c.txt"));
        assert!(!listable("a\nb"));
        assert!(!listable("a\\b"));
        assert!(!listable(""));
    }
}
