//! Read-only scripts: a host's state (its `current`, releases, lock and the
//! log entries that switched it), the preflight that also takes the lock
//! and creates the layout, `ship check`'s probe, and reads of a release's
//! metadata, manifest and the log.

use super::*;

/// Prints the host's state without changing anything: where `current`
/// points, as its link text and as the directory it resolves to (or that it
/// is not a symlink), the real path of `releases/`, every entry of
/// `releases/`, the lock's details if it is held, and the releases marked
/// bad. Paths and names are printed as hex (names under `releases/`
/// NUL-separated), so a name with a newline cannot fake a line.
pub(crate) fn state(l: &Layout) -> String {
    let cur = quote(&l.current());
    let rel = quote(&l.releases());
    let lock = quote(&l.join(".ship/lock"));
    let details = quote(&l.join(".ship/lock/details.json"));
    // The leading newline: see [`lock`].
    format!(
        "echo\nship_hex() {{ od -An -v -tx1 | tr -d ' \\n'; }}\n\
if [ -L {cur} ]; then printf current_link=; readlink {cur} | ship_hex; echo; \
printf current_real=; readlink -e {cur} | ship_hex; echo; \
elif [ -e {cur} ]; then echo current_is_dir=1; fi\n\
if [ -d {rel} ]; then printf releases_real=; (cd {rel} && pwd -P) | ship_hex; echo; \
printf entries=; (cd {rel} && for n in * .[!.]* ..?*; do if [ -e \"$n\" ] || [ -L \"$n\" ]; then printf '%s\\0' \"$n\"; fi; done) | ship_hex; echo; \
printf bad=; (cd {rel} && for n in *; do if [ -f \"$n/.ship/bad\" ]; then printf '%s\\0' \"$n\"; fi; done) | ship_hex; echo; fi\n\
if [ -f {details} ]; then printf 'lock=%s\\n' \"$(head -c 4096 {details} | tr -d '\\n')\"; \
elif [ -d {lock} ]; then echo 'lock={{}}'; fi\n{}",
        log_lines(l, LOG_LINES)
    )
}

/// How much of the host log a state read brings back: enough to find the
/// deploy that made the current release (rollback's target).
pub(super) const LOG_LINES: usize = 100;

/// The last `n` entries of `.ship/log.jsonl` that switched `current`
/// (deploy, sync, rollback), each prefixed `log=` so that no line of it can
/// pass for another key. Locks, unlocks and prunes are left out: however
/// many a freeze adds, the entry that made the current release current
/// stays in reach.
pub(crate) fn log_lines(l: &Layout, n: usize) -> String {
    format!(
        "grep -E '\"event\": *\"(deploy|sync|rollback)\"' {} 2>/dev/null | tail -n {n} | sed 's/^/log=/'; true\n",
        quote(&l.log())
    )
}

/// Creates the layout, then prints [`state`], the free space of the deploy
/// filesystem in KiB, and `missing=<path>` for every linked file that is not
/// in `shared/` yet.
pub(crate) fn preflight(l: &Layout, linked_files: &[String], lock_details: Option<&str>) -> String {
    let mut s = lock_details.map(|d| lock(l, d)).unwrap_or_default();
    s += &format!(
        "set -e\nmkdir -p {} {} {}\n",
        quote(&l.releases()),
        quote(&l.shared()),
        quote(&l.join(".ship/staging"))
    );
    s += &state(l);
    s += &format!("printf 'free_kb=%s\\n' \"$(df -Pk {} | awk 'NR==2 {{print $4}}')\"\n", quote(l.root()));
    s += FETCHER;
    let manifest = quote(&format!("{}/{}", l.current(), MANIFEST));
    s +=
        &format!("if [ -f {manifest} ]; then printf 'manifest=%s\\n' \"$({SHA256} < {manifest} | cut -c 1-64)\"; fi\n");
    for f in linked_files {
        let path = format!("{}/{f}", l.shared());
        s += &format!("[ -e {} ] || echo {}\n", quote(&path), quote(&format!("missing={f}")));
    }
    s
}

/// `ship exec`: the user's shell code, run in the current release when
/// there is one (else deploy_to, else the login directory), with
/// `SHIP_DEPLOY_TO` set.
pub(crate) fn exec_in_current(l: &Layout, command: &str) -> String {
    format!(
        "cd {} 2>/dev/null || cd {} 2>/dev/null\nSHIP_DEPLOY_TO={}\nexport SHIP_DEPLOY_TO\n{command}\n",
        quote(&l.current()),
        quote(l.root()),
        quote(l.root())
    )
}

/// `ship check`'s read-only probe: [`state`], then whether `deploy_to`
/// exists and can be written (or created), free KiB where it lives, the
/// size of the current release, GNU tar, `mv -T`, the other tools a deploy
/// uses, whether `restart_word` resolves (relative to the current release
/// when it starts with `./`), linked files missing, and the host's clock.
/// Creates nothing.
pub(crate) fn check(l: &Layout, linked_files: &[String], restart_word: Option<&str>) -> String {
    let root = quote(l.root());
    let mut s = state(l);
    s += &format!(
        "d={root}
while [ ! -d \"$d\" ]; do d=$(dirname \"$d\"); done
\
if [ -d {root} ]; then echo deploy_to=exists; else echo deploy_to=missing; fi
\
if [ -w \"$d\" ]; then echo writable=1; fi
\
printf 'free_kb=%s\\n' \"$(df -Pk \"$d\" | awk 'NR==2 {{print $4}}')\"
\
if [ -L {cur} ]; then printf 'release_kb=%s\\n' \"$(du -sk {cur}/ 2>/dev/null | cut -f 1)\"; fi
\
if tar --version 2>/dev/null | head -n 1 | grep -q 'GNU tar'; then echo gnu_tar=1; fi
\
if mv --help 2>&1 | grep -q -e --no-target-directory; then echo mv_t=1; fi
\
for c in sha256sum mkfifo df gzip timeout cmp xargs; do command -v \"$c\" >/dev/null 2>&1 || echo \"tool_missing=$c\"; done
",
        cur = quote(&l.current()),
    );
    if let Some(word) = restart_word {
        let test = match word.strip_prefix("./") {
            Some(rel) => format!("[ -x {} ]", quote(&format!("{}/{rel}", l.current()))),
            None => format!("command -v {} >/dev/null 2>&1", quote(word)),
        };
        s += &format!("if {test}; then echo restart=found; else echo restart=missing; fi\n");
    }
    for f in linked_files {
        let path = format!("{}/{f}", l.shared());
        s += &format!("[ -e {} ] || echo {}\n", quote(&path), quote(&format!("missing={f}")));
    }
    s += FETCHER;
    s += "printf 'clock=%s\\n' \"$(date +%s)\"\n";
    s
}

/// Prints `fetcher=curl` or `fetcher=wget`: pull mode's download tool.
pub(super) const FETCHER: &str = "if command -v curl >/dev/null 2>&1; then echo fetcher=curl; \
elif command -v wget >/dev/null 2>&1; then echo fetcher=wget; fi\n";

/// Prints `manifest=<sha256>` of release `id`'s files manifest, if it has
/// one: hosts holding the same release must agree on it before a copy of
/// it is trusted (`ship sync`).
pub(crate) fn release_manifest_sum(l: &Layout, id: &ReleaseId) -> String {
    let m = quote(&format!("{}/{}", l.release(id), MANIFEST));
    format!("if [ -f {m} ]; then printf 'manifest=%s\\n' \"$({SHA256} < {m} | cut -c 1-64)\"; fi\n")
}

/// Prints the current release's files manifest (delta shipping).
pub(crate) fn read_manifest(l: &Layout) -> String {
    format!("cat {}\n", quote(&format!("{}/{}", l.current(), MANIFEST)))
}

/// Prints release `id`'s release.json.
pub(crate) fn release_json(l: &Layout, id: &ReleaseId) -> String {
    format!("cat {}\n", quote(&format!("{}/.ship/release.json", l.release(id))))
}

/// The last `n` lines of `.ship/log.jsonl`.
pub(crate) fn read_log(l: &Layout, n: usize) -> String {
    format!("tail -n {n} {} 2>/dev/null || true\n", quote(&l.log()))
}
