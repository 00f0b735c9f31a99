//! The checks hosts.toml values pass before anything connects, shared with
//! the inventories: names, deploy paths, linked paths.

use toml::Spanned;

/// Names (hosts, roles, app): letters, digits, `.`, `_`, `-`; no leading `-`.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty() && !s.starts_with('-') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Why `what` (e.g. "host name `web 1`") is not a name: the one wording
/// for hosts.toml and every inventory.
pub(crate) fn not_a_name(what: &str) -> String {
    format!("{what} may use only letters, digits, `.`, `_` and `-`, and not start with `-`")
}

/// An absolute path with no newline or NUL: what `deploy_to` may be, from
/// hosts.toml or an inventory.
pub(crate) fn is_deploy_path(s: &str) -> bool {
    s.starts_with('/') && !s.contains(['\n', '\0'])
}

pub(super) fn check_deploy_to(key: &str, v: &Spanned<String>) -> Result<(), String> {
    let d = v.get_ref();
    if !d.starts_with('/') {
        return Err(format!("{key} `{d}` must be an absolute path, e.g. /srv/myapp"));
    }
    if d.contains(['\n', '\0']) {
        return Err(format!("{key} must not contain a newline or NUL"));
    }
    Ok(())
}

/// How linked path `b` collides with `a`: the same path, or one inside
/// the other (whole components: `log` and `logs` do not collide).
pub(super) fn overlap(a: &str, b: &str) -> Option<&'static str> {
    let inside = |outer: &str, inner: &str| inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'));
    if a == b {
        Some("repeats")
    } else if inside(a, b) {
        Some("is inside")
    } else if inside(b, a) {
        Some("contains")
    } else {
        None
    }
}

pub(super) fn check_relative(p: &str) -> Result<(), String> {
    if p.is_empty() || p.starts_with('/') {
        return Err("must be a relative path under shared/".into());
    }
    if p.contains(['\n', '\0']) {
        return Err("must not contain a newline or NUL".into());
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err("must not contain empty, `.` or `..` components".into());
    }
    if p == ".ship" || p.starts_with(".ship/") {
        return Err("must not be under .ship/, which ship owns".into());
    }
    Ok(())
}
