//! Health checks after a restart: a command run on the host (retried there,
//! in one round trip, see [`crate::remote::health`]), and/or an http URL
//! that ship fetches itself through the SSH connection (direct-tcpip), so
//! it sees exactly what the host's own loopback sees.

use crate::ssh::Session;
use std::time::{Duration, Instant};

/// An `http://host:port/path` URL, as seen from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    /// Host to connect to, from the host's side (usually 127.0.0.1).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// Parses an http URL; https is refused with what to use instead.
    pub fn parse(s: &str) -> Result<HttpUrl, String> {
        let rest = s.strip_prefix("http://").ok_or_else(|| {
            format!("`{s}` must start with http:// (ship fetches it through the SSH connection; for https, use health.command with curl)")
        })?;
        let (hostport, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.starts_with('[') => {
                (h.trim_matches(|c| c == '[' || c == ']'), p.parse().map_err(|_| format!("`{s}` has a bad port"))?)
            }
            _ => (hostport.trim_matches(|c| c == '[' || c == ']'), 80),
        };
        if !crate::config::is_address(host) {
            return Err(format!("`{s}` has no valid host"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{s}` has spaces or control characters in its path"));
        }
        Ok(HttpUrl { host: host.to_string(), port, path: path.to_string() })
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

/// Fetches `url` through `session` until it answers 2xx or `timeout` passes,
/// `interval` apart. The error holds the last status or failure.
pub async fn check_url(session: &Session, url: &HttpUrl, timeout: Duration, interval: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        let last = match tokio::time::timeout(left, session.http_get(url)).await {
            Ok(Ok((status, _))) if (200..300).contains(&status) => return Ok(()),
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
    use super::*;

    #[test]
    fn parses_http_urls() {
        assert_eq!(
            HttpUrl::parse("http://127.0.0.1:8080/up?full=1").unwrap(),
            HttpUrl { host: "127.0.0.1".into(), port: 8080, path: "/up?full=1".into() }
        );
        assert_eq!(HttpUrl::parse("http://localhost").unwrap().port, 80);
        assert_eq!(HttpUrl::parse("http://[::1]:9000/h").unwrap().host, "::1");
    }

    #[test]
    fn refuses_https_and_junk() {
        assert!(HttpUrl::parse("https://x/up").unwrap_err().contains("health.command"));
        assert!(HttpUrl::parse("http://x:port/").is_err());
        assert!(HttpUrl::parse("http://x/a b").is_err());
        assert!(HttpUrl::parse("http://-oProxy/").is_err());
    }
}
