//! Small text forms shared by every layer: lower-case hex and byte sizes.
//! A leaf: it imports nothing of ours, so anything may use it.

/// Lower-case hex of `bytes` (sha256 sums, tokens, tags).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of hex text (either case), `None` if it is not hex.
pub(crate) fn unhex(v: &str) -> Option<Vec<u8>> {
    if v.len() % 2 != 0 {
        return None;
    }
    (0..v.len()).step_by(2).map(|i| u8::from_str_radix(v.get(i..i + 2)?, 16).ok()).collect()
}

/// `512 B`, `50.0 MiB`: sizes for people.
pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_say_them() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(50 * 1024 * 1024), "50.0 MiB");
        assert_eq!(hex(&[0, 0xab]), "00ab");
        assert_eq!(unhex("00ab"), Some(vec![0, 0xab]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
