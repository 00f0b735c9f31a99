//! Health checks after a restart: a command run on the host (retried there,
//! in one round trip, see [`crate::remote::health`]), and/or an http URL
//! that ship fetches itself through the SSH connection (direct-tcpip), so
//! it sees exactly what the host's own loopback sees.

use crate::config::HttpUrl;
use crate::ssh::Session;
use std::time::{Duration, Instant};

/// Fetches `url` through `session` until it answers 2xx or `timeout` passes,
/// `interval` apart. The error holds the last status or failure.
/// Whether `text` has `word` as a whole word: an old label `v1.2-dirty`
/// does not name `v1.2`.
pub(crate) fn names(text: &str, word: &str) -> bool {
    let part = |c: char| c.is_ascii_alphanumeric() || "._-+~".contains(c);
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(part)
    })
}

pub(crate) async fn check_url(
    session: &Session,
    url: &HttpUrl,
    timeout: Duration,
    interval: Duration,
    expect: &[String],
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let last = match tokio::time::timeout(left, session.http_get(url)).await {
            Ok(Ok((status, body))) if (200..300).contains(&status) => {
                if expect.is_empty() || expect.iter().any(|w| names(&body, w)) {
                    return Ok(());
                }
                match expect {
                    [one] => format!("HTTP {status}, but the body does not name {one}"),
                    _ => format!("HTTP {status}, but the body names neither {}", expect.join(" nor ")),
                }
            }
            Ok(Ok((status, body))) => format!("HTTP {status}: {}", body.lines().next().unwrap_or("").trim()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer".to_string(),
        };
        if Instant::now() + interval >= deadline {
            return Err(format!("{url} unhealthy after {}s: {last}", timeout.as_secs_f64()));
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn a_label_is_named_only_as_a_whole_word() {
        assert!(names("release 20261122070102\n", "20261122070102"));
        assert!(names("version=v1.2;", "v1.2"));
        assert!(!names("version v1.2-dirty", "v1.2"));
        assert!(!names("v1.20", "v1.2"));
        assert!(!names("v1.2+build.7", "v1.2"));
        assert!(names("v1.2-dirty then v1.2", "v1.2"));
    }
}
