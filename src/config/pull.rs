//! Pull mode (`deploy --from-url`, `[artifact] url`): every host downloads
//! the archive itself from an HTTP(S) server, so ship's own uplink carries
//! no artifact bytes, and checks it against the sha256 ship computed from
//! its local copy before unpacking it.
//!
//! The URL may hold `{release}` and `{sha256}`, filled per deploy. It
//! reaches the host on stdin (curl's `-K -` config, wget's `-i -`), never on
//! a command line, because URLs carry credentials (a pre-signed query, or
//! `user:password@`). Nothing from the URL is on any remote command line:
//! the form used in messages ([`shown`]) travels on stdin too. The query
//! and the userinfo are masked in everything ship prints.

/// A host's download tool, found at preflight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetcher {
    /// curl, preferred.
    Curl,
    /// GNU wget.
    Wget,
}

impl Fetcher {
    /// From the preflight's `fetcher=` line.
    pub(crate) fn parse(s: &str) -> Option<Fetcher> {
        match s {
            "curl" => Some(Fetcher::Curl),
            "wget" => Some(Fetcher::Wget),
            _ => None,
        }
    }

    /// What the tool reads on stdin to learn the URL.
    pub(crate) fn stdin(self, url: &str) -> String {
        match self {
            // curl's config syntax: a quoted string with `\` escapes.
            Fetcher::Curl => format!("url = \"{}\"\n", url.replace('\\', "\\\\").replace('"', "\\\"")),
            Fetcher::Wget => format!("{url}\n"),
        }
    }

    /// The whole stdin of [`crate::remote::fetch`]: the URL as messages
    /// show it (one line, read by the script), then what the tool reads.
    pub(crate) fn input(self, url: &str) -> String {
        format!("{}\n{}", shown(url), self.stdin(url))
    }
}

/// A checked pull URL template (see [`check_url`]); [`fill`](Self::fill)
/// makes one deploy's URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlTemplate(String);

impl UrlTemplate {
    pub(crate) fn parse(template: &str) -> Result<UrlTemplate, String> {
        check_url(template).map(|()| UrlTemplate(template.to_string()))
    }

    /// The URL for one deploy.
    pub(crate) fn fill(&self, release: &str, sha256: &str) -> String {
        self.0.replace("{release}", release).replace("{sha256}", sha256)
    }

    /// Its credentials before filling ([`secret_parts`]).
    pub(crate) fn secret_parts(&self) -> Vec<String> {
        secret_parts(&self.0)
    }
}

/// Checks a URL template: http(s), no whitespace, quotes or control
/// characters, and no placeholder but `{release}` and `{sha256}`.
fn check_url(template: &str) -> Result<(), String> {
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

/// Where the userinfo (`user:password@`, without the `@`) is in `url`:
/// the authority runs from after `scheme://` to the first `/`, `?` or `#`,
/// and its userinfo ends at its last `@`.
fn userinfo(url: &str) -> Option<std::ops::Range<usize>> {
    let start = match url.find("://") {
        Some(i) if !url[..i].contains(['/', '?', '#']) => i + 3,
        _ => 0,
    };
    let end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    url[start..end].rfind('@').map(|at| start..start + at)
}

/// The URL fit for messages: `user:password@` becomes `***@` and the
/// query string `?…`.
pub(crate) fn shown(url: &str) -> String {
    let url = match userinfo(url) {
        Some(r) => format!("{}***{}", &url[..r.start], &url[r.end..]),
        None => url.to_string(),
    };
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url,
    }
}

/// The credentials of a URL, to mask: the query string (a pre-signed URL's
/// signature), the userinfo, and the password on its own.
pub(crate) fn secret_parts(url: &str) -> Vec<String> {
    let userinfo = userinfo(url).map(|r| &url[r]);
    let query = url.split_once('?').map(|(_, q)| q);
    let password = userinfo.and_then(|u| u.split_once(':')).map(|(_, p)| p);
    [query, userinfo, password].into_iter().flatten().filter(|p| !p.is_empty()).map(str::to_string).collect()
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
        assert_eq!(
            UrlTemplate::parse(t).unwrap().fill("20261122070102", "ab"),
            "https://cdn/app/20261122070102-ab.tar.gz?sig=s3cret"
        );
        assert_eq!(shown(t), "https://cdn/app/{release}-{sha256}.tar.gz?…");
        assert_eq!(secret_parts(t), ["sig=s3cret"]);
        assert!(secret_parts("https://cdn/a?").is_empty());
        assert_eq!(Fetcher::Curl.stdin("https://x/a?b=1"), "url = \"https://x/a?b=1\"\n");
        assert_eq!(Fetcher::Wget.stdin("https://x/a"), "https://x/a\n");
        assert_eq!(Fetcher::parse("wget"), Some(Fetcher::Wget));
        assert_eq!(Fetcher::Wget.input("https://u:pw@x/a?s=1"), "https://***@x/a?…\nhttps://u:pw@x/a?s=1\n");
        assert_eq!(Fetcher::parse("none"), None);
    }

    #[test]
    fn userinfo_is_hidden_like_the_query() {
        let t = "https://deploy:pa%40ss-w0rd@cdn.example.com:8443/a@b/{sha256}.tgz?sig=s3cret";
        assert_eq!(shown(t), "https://***@cdn.example.com:8443/a@b/{sha256}.tgz?…");
        assert_eq!(secret_parts(t), ["sig=s3cret", "deploy:pa%40ss-w0rd", "pa%40ss-w0rd"]);
        // A token alone, no password.
        assert_eq!(shown("http://t0ken@h/x"), "http://***@h/x");
        assert_eq!(secret_parts("http://t0ken@h/x"), ["t0ken"]);
        // `@` after the host is part of the path, not userinfo.
        assert_eq!(shown("https://h/pkg@1.2/x.tgz"), "https://h/pkg@1.2/x.tgz");
        assert!(secret_parts("https://h/pkg@1.2/x.tgz").is_empty());
        assert_eq!(shown("https://h?u=a@b"), "https://h?…");
        // Not a URL ship accepts, but shown in its error: no userinfo either.
        assert_eq!(shown("ftp://u:p4ss@h/x"), "ftp://***@h/x");
        assert_eq!(shown("u:p4ss@h/x"), "***@h/x");
    }
}
