//! Pull mode (`deploy --from-url`, `[artifact] url`): every host downloads
//! the archive itself from an HTTP(S) server, so ship's own uplink carries
//! no artifact bytes, and checks it against the sha256 ship computed from
//! its local copy before unpacking it.
//!
//! The URL may hold `{release}` and `{sha256}`, filled per deploy. It
//! reaches the host on stdin (curl's `-K -` config, wget's `-i -`), never on
//! a command line, because pre-signed URLs carry credentials; their query
//! strings are masked in everything ship prints.

/// A host's download tool, found at preflight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetcher {
    /// curl, preferred.
    Curl,
    /// GNU wget.
    Wget,
}

impl Fetcher {
    /// From the preflight's `fetcher=` line.
    pub fn parse(s: &str) -> Option<Fetcher> {
        match s {
            "curl" => Some(Fetcher::Curl),
            "wget" => Some(Fetcher::Wget),
            _ => None,
        }
    }

    /// What the tool reads on stdin to learn the URL.
    pub fn stdin(self, url: &str) -> String {
        match self {
            // curl's config syntax: a quoted string with `\` escapes.
            Fetcher::Curl => format!("url = \"{}\"\n", url.replace('\\', "\\\\").replace('"', "\\\"")),
            Fetcher::Wget => format!("{url}\n"),
        }
    }
}

/// Checks a URL template: http(s), no whitespace, quotes or control
/// characters, and no placeholder but `{release}` and `{sha256}`.
pub fn check_url(template: &str) -> Result<(), String> {
    if !(template.starts_with("https://") || template.starts_with("http://")) {
        return Err(format!("`{}` must start with https:// or http://", shown(template)));
    }
    if template.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\\') {
        return Err("must not contain spaces, quotes, backslashes or control characters; percent-encode them".into());
    }
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err("has a `{` without its `}`".into());
        };
        let name = &rest[open + 1..open + close];
        if name != "release" && name != "sha256" {
            return Err(format!("has the placeholder `{{{name}}}`; only {{release}} and {{sha256}} are filled"));
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// The URL for one deploy.
pub fn fill(template: &str, release: &str, sha256: &str) -> String {
    template.replace("{release}", release).replace("{sha256}", sha256)
}

/// The URL without its query string, fit for messages.
pub fn shown(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_string(),
    }
}

/// The query string of a URL (a pre-signed URL's credentials), to mask.
pub fn secret_part(url: &str) -> Option<String> {
    url.split_once('?').map(|(_, q)| q.to_string()).filter(|q| !q.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_checked() {
        assert!(check_url("https://cdn.example.com/app/{sha256}.tar.gz?X-Amz-Signature=abc").is_ok());
        assert!(check_url("http://127.0.0.1:8000/{release}.tgz").is_ok());
        assert!(check_url("ftp://x/y").unwrap_err().contains("https://"));
        assert!(check_url("file:///etc/passwd").unwrap_err().contains("https://"));
        assert!(check_url("https://x/a b").unwrap_err().contains("spaces"));
        assert!(check_url("https://x/\"").unwrap_err().contains("quotes"));
        assert!(check_url("https://x/{version}").unwrap_err().contains("`{version}`"));
        assert!(check_url("https://x/{release").unwrap_err().contains("without"));
    }

    #[test]
    fn filling_showing_and_stdin() {
        let t = "https://cdn/app/{release}-{sha256}.tar.gz?sig=s3cret";
        assert_eq!(fill(t, "20261122070102", "ab"), "https://cdn/app/20261122070102-ab.tar.gz?sig=s3cret");
        assert_eq!(shown(t), "https://cdn/app/{release}-{sha256}.tar.gz?…");
        assert_eq!(secret_part(t).as_deref(), Some("sig=s3cret"));
        assert_eq!(secret_part("https://cdn/a?"), None);
        assert_eq!(Fetcher::Curl.stdin("https://x/a?b=1"), "url = \"https://x/a?b=1\"\n");
        assert_eq!(Fetcher::Wget.stdin("https://x/a"), "https://x/a\n");
        assert_eq!(Fetcher::parse("wget"), Some(Fetcher::Wget));
        assert_eq!(Fetcher::parse("none"), None);
    }
}
