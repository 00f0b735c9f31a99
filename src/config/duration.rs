//! Human durations in hosts.toml (`500ms`, `10s`, `2m`, `1h`).
//!
//! A tiny parser of our own so the error can say exactly which forms are accepted.

use std::time::Duration;

/// Parses `<integer><unit>` with unit `ms`, `s`, `m` or `h`.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write a whole number and a unit, e.g. 500ms, 10s, 2m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(format!("`{text}` has no known unit: use ms, s, m or h (e.g. 10s)")),
    };
    Ok(d)
}

/// Writes a duration the way hosts.toml would: `500ms`, `10s`, `5m`, `1h`.
pub(crate) fn show(d: Duration) -> String {
    let (secs, ms) = (d.as_secs(), d.subsec_millis());
    match (secs, ms) {
        (_, ms) if ms > 0 => format!("{}ms", d.as_millis()),
        (s, _) if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        (s, _) if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        (s, _) => format!("{s}s"),
    }
}

/// serde adapter for `Option<Duration>` fields written as strings.
pub(crate) mod serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| super::parse(&s).map_err(serde::de::Error::custom)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_durations_as_written() {
        for t in ["500ms", "1500ms", "10s", "90s", "5m", "1h", "0s"] {
            assert_eq!(show(parse(t).unwrap()), t);
        }
    }

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
    }

    #[test]
    fn rejects_with_a_hint() {
        assert!(parse("10").unwrap_err().contains("unit"));
        assert!(parse("ten s").unwrap_err().contains("e.g."));
        assert!(parse("-1s").is_err());
    }
}
