//! Scripts that change what a host serves: switch `current` (atomic rename
//! of a new symlink, invariant 1), go back (to a release or to the exact
//! link it had, invariant 6), and run a command (restart, hook, health) in
//! a release with the environment every hook sees ([`HookEnv`]).

use super::*;

/// Points `current` at `releases/<id>` atomically: a new symlink under a
/// temporary name, renamed over `current` (invariant 1). Refuses when
/// `current` is a real directory, and when the target is not a complete
/// release.
pub(crate) fn switch(l: &Layout, id: &ReleaseId) -> String {
    let cur = quote(&l.current());
    let target = quote(&l.release(id));
    let marker = quote(&format!("{}/.ship/release.json", l.release(id)));
    let tmp = quote(&l.join(&format!(".ship/current.{id}")));
    let not_link = quote(&format!(
        "{} is a real directory, not a symlink: ship will not replace it. Move it aside and deploy again.",
        l.current()
    ));
    let incomplete = quote(&format!("{} is not a complete release (no .ship/release.json)", l.release(id)));
    format!(
        "set -e\n\
if [ -e {cur} ] && [ ! -L {cur} ]; then echo {not_link} >&2; exit 1; fi\n\
if [ ! -f {marker} ]; then echo {incomplete} >&2; exit 1; fi\n\
rm -f {tmp}\n\
ln -s {target} {tmp}\n\
mv -T {tmp} {cur}\n"
    )
}

/// Points `current` at a release already on the host, to go back to it
/// (rollback): the same atomic rename as [`switch`], but any directory under
/// `releases/` will do, whatever tool made it. The completeness marker
/// gates switching to a *new* release only; going back is always possible.
pub(crate) fn switch_back(l: &Layout, id: &ReleaseId) -> String {
    let cur = quote(&l.current());
    let target = quote(&l.release(id));
    let tmp = quote(&l.join(&format!(".ship/current.{id}")));
    let not_link = quote(&format!(
        "{} is a real directory, not a symlink: ship will not replace it. Move it aside and deploy again.",
        l.current()
    ));
    let missing = quote(&format!("{} is not a directory on this host; see `ship releases`", l.release(id)));
    format!(
        "set -e\n\
if [ -e {cur} ] && [ ! -L {cur} ]; then echo {not_link} >&2; exit 1; fi\n\
if [ ! -d {target} ]; then echo {missing} >&2; exit 1; fi\n\
rm -f {tmp}\n\
ln -s {target} {tmp}\n\
mv -T {tmp} {cur}\n"
    )
}

/// Prints `switched=1` when `current` resolves to release `id`: asked after
/// a switch whose outcome is unknown (the connection dropped mid-step).
pub(crate) fn switched(l: &Layout, id: &ReleaseId) -> String {
    format!(
        "if [ -L {c} ] && [ \"$(readlink -e {c})\" = \"$(readlink -e {r})\" ]; then echo switched=1; fi\n",
        c = quote(&l.current()),
        r = quote(&l.release(id))
    )
}

/// Puts back the exact symlink `current` was before a failed deploy, byte
/// for byte (`releases/57`, a trailing slash, a relative link), by the same
/// atomic rename as [`switch`].
pub(crate) fn restore_current(l: &Layout, link: &[u8]) -> String {
    let cur = quote(&l.current());
    let tmp = quote(&l.join(".ship/current.revert"));
    format!(
        "set -e\n\
t={}\n\
t=${{t%x}}\n\
rm -f {tmp}\n\
ln -s -- \"$t\" {tmp}\n\
mv -T {tmp} {cur}\n",
        bytes_word(link)
    )
}

/// One shell word that expands to exactly `b` followed by an `x` (so that
/// command substitution cannot eat a trailing newline): plain quoting when
/// `b` is printable UTF-8, else `printf` octal escapes.
pub(super) fn bytes_word(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(text) if !text.chars().any(char::is_control) => quote(&format!("{text}x")),
        _ => {
            let octal: String = b.iter().map(|c| format!("\\{c:03o}")).collect();
            format!("\"$(printf '{octal}x')\"")
        }
    }
}

/// What every remote hook, restart and health command sees in its
/// environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HookEnv {
    /// `SHIP_APP`
    pub app: String,
    /// `SHIP_RELEASE`: the release the command runs for.
    pub release: String,
    /// `SHIP_PREVIOUS_RELEASE`: what `current` pointed at before this deploy.
    pub previous: String,
    /// `SHIP_HOST`: the host's name in hosts.toml.
    pub host: String,
    /// `SHIP_VERSION`: the version label.
    pub version: String,
    /// `SHIP_STRATEGY`: parallel or rolling.
    pub strategy: String,
}

/// `export` lines for [`HookEnv`] plus `SHIP_RELEASE_PATH` and `SHIP_DEPLOY_TO`.
pub(crate) fn env(l: &Layout, e: &HookEnv) -> String {
    let path = match ReleaseId::existing(&e.release) {
        Some(id) => l.release(&id),
        None => String::new(),
    };
    let vars = [
        ("SHIP_APP", e.app.as_str()),
        ("SHIP_RELEASE", e.release.as_str()),
        ("SHIP_RELEASE_PATH", path.as_str()),
        ("SHIP_PREVIOUS_RELEASE", e.previous.as_str()),
        ("SHIP_HOST", e.host.as_str()),
        ("SHIP_VERSION", e.version.as_str()),
        ("SHIP_STRATEGY", e.strategy.as_str()),
        ("SHIP_DEPLOY_TO", l.root()),
    ];
    let assign: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
    let names: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
    format!("{}\nexport {}\n", assign.join(" "), names.join(" "))
}

/// Runs a user command (restart, a hook) in the release directory with the
/// [`env`] variables set.
pub(crate) fn in_release(l: &Layout, id: &ReleaseId, e: &HookEnv, command: &str) -> String {
    format!("cd {} || exit 1\n{}{command}\n", quote(&l.release(id)), env(l, e))
}

/// Runs a user command (restart after a revert) in `current`, for a host
/// whose `current` resolves outside `releases/`.
pub(crate) fn in_current(l: &Layout, e: &HookEnv, command: &str) -> String {
    format!("cd {} || exit 1\n{}{command}\n", quote(&l.current()), env(l, e))
}

/// Runs the health command until it succeeds or `timeout_s` seconds have
/// passed, `interval` apart; each try is bounded by the time left. On
/// failure, the last output goes to stderr. With `expect`, a success counts
/// only when the output contains one of those words (`[health]
/// expect_release`: the new release's id or version label).
#[allow(clippy::too_many_arguments)]
pub(crate) fn health(
    l: &Layout,
    id: &ReleaseId,
    e: &HookEnv,
    command: &str,
    timeout_s: u64,
    interval: &str,
    expect: &[String],
) -> String {
    let passed = if expect.is_empty() {
        "exit 0".to_string()
    } else {
        // A whole word: an old label `v1.2-dirty` does not name `v1.2`.
        let words: Vec<String> = expect.iter().map(|w| ere_escape(w)).collect();
        let pattern = format!("(^|[^A-Za-z0-9._+~-])({})($|[^A-Za-z0-9._+~-])", words.join("|"));
        let why = match expect {
            [one] => format!("0, but its output does not name {one}"),
            _ => format!("0, but its output names neither {}", expect.join(" nor ")),
        };
        format!("if printf '%s\\n' \"$out\" | grep -Eq {}; then exit 0; fi; rc={}", quote(&pattern), quote(&why))
    };
    format!(
        "cd {} || exit 1\n{}end=$(( $(date +%s) + {timeout_s} ))\n\
while :; do\n\
  left=$(( end - $(date +%s) )); [ \"$left\" -gt 0 ] || left=1\n\
  if out=$(timeout \"$left\" /bin/sh -c {} 2>&1); then {passed}; else rc=$?; fi\n\
  if [ \"$(date +%s)\" -ge \"$end\" ]; then\n\
    printf '%s\\n' \"$out\" | tail -n 5 >&2\n\
    echo \"unhealthy after {timeout_s}s (last exit status $rc)\" >&2; exit 1\n\
  fi\n\
  sleep {interval}\n\
done\n",
        quote(&l.release(id)),
        env(l, e),
        quote(command),
    )
}

/// `s` as a POSIX extended regular expression that matches it literally.
fn ere_escape(s: &str) -> String {
    s.chars().map(|c| if "\\.^$*+?()[]{}|/".contains(c) { format!("\\{c}") } else { c.to_string() }).collect()
}

/// Removes `current` (a host that had no release before a failed first
/// deploy goes back to having none), only while it resolves to release
/// `id`: a link someone else made is never removed.
pub(crate) fn unswitch(l: &Layout, id: &ReleaseId) -> String {
    format!(
        "if [ -L {c} ] && [ \"$(readlink -e {c})\" = \"$(readlink -e {r})\" ]; then rm -f {c}; fi\n",
        c = quote(&l.current()),
        r = quote(&l.release(id))
    )
}
