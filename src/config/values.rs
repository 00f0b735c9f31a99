//! Values of hosts.toml that are parsed once and then carried typed: an
//! address, an http URL as the host sees it.

/// A DNS name or an IPv4/IPv6 literal; never anything an ssh parser could
/// read as an option.
pub(crate) fn is_address(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b".:-_".contains(&b))
}

/// An `http://host:port/path` URL, as seen from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    /// Host to connect to, from the host's side (usually 127.0.0.1).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// Parses an http URL; https is refused with what to use instead.
    pub(crate) fn parse(s: &str) -> Result<HttpUrl, String> {
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
        if !is_address(host) {
            return Err(format!("`{s}` has no valid host"));
        }
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("`{s}` has spaces or control characters in its path"));
        }
        Ok(HttpUrl { host: host.to_string(), port, path: path.to_string() })
    }
}

/// `[health] url` (or a host's `health_url`): an [`HttpUrl`] that may name
/// the host it checks, `{host}` (its name) and `{address}` (what ship
/// connects to), filled per host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthUrl(String);

impl HealthUrl {
    /// Checks the template: only `{host}` and `{address}` are filled, and
    /// filled with a plain name it must be an [`HttpUrl`].
    pub(crate) fn parse(s: &str) -> Result<HealthUrl, String> {
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').ok_or_else(|| format!("`{s}` has a `{{` without its `}}`"))?;
            let name = &rest[open + 1..open + close];
            if name != "host" && name != "address" {
                return Err(format!(
                    "`{s}` has the placeholder `{{{name}}}`; only {{host}} and {{address}} are filled"
                ));
            }
            rest = &rest[open + close + 1..];
        }
        HttpUrl::parse(&s.replace("{host}", "host").replace("{address}", "127.0.0.1"))?;
        Ok(HealthUrl(s.to_string()))
    }

    /// The URL for the host named `host` at `address`.
    pub(crate) fn fill(&self, host: &str, address: &str) -> Result<HttpUrl, String> {
        // An IPv6 address goes in brackets, as in any URL.
        let address = if address.contains(':') && !address.starts_with('[') {
            format!("[{address}]")
        } else {
            address.to_string()
        };
        HttpUrl::parse(&self.0.replace("{host}", host).replace("{address}", &address))
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_urls_name_their_host() {
        let t = HealthUrl::parse("http://{address}:8080/up/{host}").unwrap();
        assert_eq!(t.fill("web1", "10.0.0.5").unwrap().to_string(), "http://10.0.0.5:8080/up/web1");
        let v6 = t.fill("web1", "::1").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
        assert!(HealthUrl::parse("http://{ip}:8080/").unwrap_err().contains("only {host} and {address}"));
        assert!(HealthUrl::parse("http://x/{host").unwrap_err().contains("without"));
        assert!(HealthUrl::parse("https://{host}/").unwrap_err().contains("http://"));
    }

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
