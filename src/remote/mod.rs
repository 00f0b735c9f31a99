//! Every shell command ship runs on a host, built here by pure functions.
//!
//! Nothing else in ship formats a remote command. Every value that reaches a
//! remote shell (paths, release ids, labels, JSON) passes through [`quote`],
//! so a hostile value in hosts.toml or an inventory stays one inert argument
//! (ARCHITECTURE.md invariant 5). The only unquoted text is the user's own
//! `restart` command, which is meant to be shell code.
//!
//! One script per phase keeps round trips few; each script prints
//! `key=value` lines that [`crate::remote::state`] parses.

pub(crate) mod judge;
mod lock;
pub(crate) mod log;
pub(crate) mod meta;
mod probe;
pub(crate) mod serving;
mod shell_loop;
mod stage;
pub(crate) mod state;
mod switch;

// One namespace for callers: `remote::switch`, `remote::lock`, ...
pub(crate) use lock::*;
pub(crate) use probe::*;
pub(crate) use shell_loop::*;
pub(crate) use stage::*;
pub(crate) use switch::*;

use crate::release::ReleaseId;

/// Single-quotes `s` for a POSIX shell, unless it is made only of characters
/// no shell treats specially. The result is always exactly one word.
pub(crate) fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b))
        && !s.starts_with('-')
        && !s.starts_with('=');
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Where a release keeps its files manifest ([`crate::build::manifest`]),
/// relative to the release directory.
pub(crate) const MANIFEST: &str = ".ship/manifest";

/// The on-host layout of one app under `deploy_to` (see docs/ARCHITECTURE.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    root: String,
}

impl Layout {
    /// `deploy_to` must be absolute; a trailing slash is dropped.
    pub(crate) fn new(deploy_to: &str) -> Layout {
        let trimmed = deploy_to.trim_end_matches('/');
        Layout { root: if trimmed.is_empty() { "/".into() } else { trimmed.into() } }
    }
    /// `<deploy_to>`
    pub(crate) fn root(&self) -> &str {
        &self.root
    }
    /// `<deploy_to>/<rest>`
    pub(crate) fn join(&self, rest: &str) -> String {
        format!("{}/{rest}", self.root.trim_end_matches('/'))
    }
    /// `<deploy_to>/releases`
    pub(crate) fn releases(&self) -> String {
        self.join("releases")
    }
    /// `<deploy_to>/releases/<id>`
    pub(crate) fn release(&self, id: &ReleaseId) -> String {
        self.join(&format!("releases/{id}"))
    }
    /// `<deploy_to>/current`
    pub(crate) fn current(&self) -> String {
        self.join("current")
    }
    /// `<deploy_to>/shared`
    pub(crate) fn shared(&self) -> String {
        self.join("shared")
    }
    /// `<deploy_to>/.ship/staging/<id>`
    pub(crate) fn staging(&self, id: &ReleaseId) -> String {
        self.join(&format!(".ship/staging/{id}"))
    }
    /// `<deploy_to>/.ship/trash`: releases on their way out are renamed
    /// here first, so a deletion cut short never leaves half a release
    /// under `releases/`.
    pub(crate) fn trash(&self) -> String {
        self.join(".ship/trash")
    }
    /// `<deploy_to>/.ship/log.jsonl`
    pub(crate) fn log(&self) -> String {
        self.join(".ship/log.jsonl")
    }
}

/// Hashes stdin (or the files named after it) with openssl when the host
/// has it, else with coreutils' `sha256sum`; both print `<hex> ...` lines.
const SHA256: &str = "{ if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }";

/// The marker printed before each step of a [`sequence`] (the last one
/// printed names the step that failed), with a `nonce` of the run's own:
/// a step's output cannot forge it (a restart that prints
/// `ship-step=switch` must not turn its failure into a switch's).
pub(crate) fn step_marker(nonce: &str) -> String {
    format!("ship-step-{nonce}=")
}

/// Runs several step scripts in one round trip. Each runs in its own
/// `/bin/sh -c` (so its `set -e` holds, whatever the login shell is) after a
/// `<marker><name>` line ([`step_marker`]); the first failure ends the
/// sequence with that step's exit status.
pub(crate) fn sequence(steps: &[(&str, String)], marker: &str) -> String {
    steps
        .iter()
        .map(|(name, script)| {
            format!("echo {}\n/bin/sh -c {} || exit $?\n", quote(&format!("{marker}{name}")), quote(script))
        })
        .collect()
}

/// Reads one line of stdin into each of `names` and exports it: how
/// `[hooks] secret_env` values reach the host without appearing on any
/// command line (a host's other users can read those). Put before a
/// [`sequence`], whose steps then inherit them; the shell reads a pipe byte
/// by byte, so an upload after these lines arrives intact.
pub(crate) fn read_secrets(names: &[String]) -> String {
    names.iter().map(|n| format!("IFS= read -r {n} || exit 1\nexport {n}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ReleaseId {
        ReleaseId::parse("20261122070102").unwrap()
    }

    #[test]
    fn quote_leaves_plain_words_alone() {
        assert_eq!(quote("/srv/demo"), "/srv/demo");
        assert_eq!(quote("v1.2.3"), "v1.2.3");
    }

    #[test]
    fn quote_wraps_everything_else_as_one_word() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("'; touch /tmp/x; '"), r"''\''; touch /tmp/x; '\'''");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote("-rf"), "'-rf'");
        assert_eq!(quote("a\nb"), "'a\nb'");
    }

    #[test]
    fn quote_round_trips_through_sh() {
        for s in ["'; touch /tmp/x; '", "$(id) `id` \\n \"q\"", "ünï cödé\n\ttab", "-x", "a'b''c"] {
            let out =
                std::process::Command::new("sh").arg("-c").arg(format!("printf '%s' {}", quote(s))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }

    #[test]
    fn agent_loop_script() {
        assert_eq!(
            agent_loop("shipT"),
            "exec /bin/sh -c 'exec 3<&0 4</dev/null\n\
S=; command -v setsid >/dev/null 2>&1 && S=setsid\n\
T=; command -v timeout >/dev/null 2>&1 && T=1\n\
left() {\n\
for f in /proc/[0-9]*/stat; do\n\
{ read -r l < \"$f\"; } 2>/dev/null || continue\n\
set -- ${l##*\") \"}\n\
[ \"$3\" = \"$g\" ] && [ \"$1\" != Z ] && return 0\n\
done\n\
return 1\n\
}\n\
step() {\n\
if [ -n \"$T\" ] && [ \"$secs\" -gt 0 ]; then $S timeout -k 5 \"$secs\" /bin/sh -c \"$s\" <&4 4<&- &\n\
else $S /bin/sh -c \"$s\" <&4 4<&- & fi\n\
g=$!\n\
printf \"\\nshipT-pid=%s\\n\" \"$g\" >&2\n\
wait \"$g\"; rc=$?\n\
e=end\n\
if [ \"$n\" -gt 0 ]; then if [ \"$rc\" -eq 0 ]; then cat >/dev/null; else e=last; fi; fi\n\
if kill -0 -\"$g\" 2>/dev/null && left; then e=last; fi\n\
printf \"\\nshipT-rc=%s\\n\" \"$rc\"\n\
printf \"\\nshipT-%s\\n\" \"$e\" >&2\n\
[ \"$e\" = end ]\n\
}\n\
while IFS=\" \" read -r tag len n secs <&3; do\n\
[ \"$tag\" = shipT ] || exit 97\n\
s=$(head -c \"$len\" <&3)\n\
if [ \"$n\" -gt 0 ]; then head -c \"$n\" <&3 | { exec 4<&0; step; } || exit 0\n\
else step || exit 0; fi\n\
done\n'"
        );
        assert_eq!(agent_frame("shipT", "echo hi", 3, 0), "shipT 7 3 0\n");
        assert_eq!(agent_frame("shipT", "echo hi", 0, 300), "shipT 7 0 300\n");
        assert!(stop_step(42, false).ends_with("kill -TERM -42 2>/dev/null; kill -TERM $all 2>/dev/null; true\n"));
        assert!(stop_step(42, true).starts_with("t=42 all=42\n"));
        // Run for real: a shell with a child and a grandchild, no group of
        // its own; every one of them ends.
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let mut tree = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("sh -c 'sleep 60 & echo $! >> {p}; wait' & echo $! >> {p}; wait", p = pids.display()))
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(&pids).unwrap_or_default().lines().count() < 2 {
            assert!(std::time::Instant::now() < deadline, "the tree did not start");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = std::process::Command::new("sh").arg("-c").arg(stop_step(tree.id(), true)).output().unwrap();
        assert!(out.status.success());
        tree.wait().unwrap();
        // SIGKILL is delivered asynchronously: give each process a moment.
        for pid in std::fs::read_to_string(&pids).unwrap().lines() {
            let gone = || {
                !std::path::Path::new(&format!("/proc/{pid}")).exists()
                    || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
            };
            let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
            while !gone() && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(gone(), "process {pid} of the tree still runs");
        }
    }

    /// Feeds `frames` (script, input, seconds) to the loop under `shell`;
    /// stdout, and stderr without the pid lines.
    fn run_loop(shell: &str, frames: &[(&str, &str, u64)]) -> (String, String, std::process::ExitStatus) {
        let stdin: String = frames
            .iter()
            .map(|(script, input, secs)| {
                format!("{}{script}{input}", agent_frame("shipT", script, input.len() as u64, *secs))
            })
            .collect();
        let mut child = std::process::Command::new(shell)
            .arg("-c")
            .arg(agent_loop("shipT"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        let err = err.split("\nshipT-pid=").enumerate().fold(String::new(), |mut acc, (i, part)| {
            acc += if i == 0 { part } else { part.split_once('\n').map_or("", |(_, rest)| rest) };
            acc
        });
        (String::from_utf8(out.stdout).unwrap(), err, out.status)
    }

    /// Frames fed to the loop under a real sh: each script gets exactly its
    /// input, statuses come back in order, unread input of a success is
    /// drained, and a failure with unread input ends the loop (`-last`).
    #[test]
    fn agent_loop_runs_frames_in_order() {
        for shell in ["sh", "bash"] {
            let (out, err, status) = run_loop(
                shell,
                &[
                    ("cat; echo", "first input", 0),
                    ("exit 3", "", 0),
                    ("head -c 2", "ab-unread-by-a-success", 0),
                    ("echo; pwd >/dev/null; printf x >&2", "", 0),
                    ("exit 5", "unread", 0),
                    ("echo never", "", 0),
                ],
            );
            assert_eq!(
                out, "first input\n\nshipT-rc=0\n\nshipT-rc=3\nab\nshipT-rc=0\n\n\nshipT-rc=0\n\nshipT-rc=5\n",
                "{shell}"
            );
            assert_eq!(err, "\nshipT-end\n".repeat(3) + "x\nshipT-end\n\nshipT-last\n", "{shell}");
            assert!(status.success());
        }
    }

    /// A script that leaves a process behind ends the loop (`-last`), and
    /// the time limit ends a script's whole group, not only its shell.
    #[test]
    fn agent_loop_ends_after_leftovers_and_enforces_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        let (out, err, _) = run_loop("sh", &[("(sleep 3; echo late) & echo early", "", 0), ("echo never", "", 0)]);
        assert!(out.starts_with("early\n\nshipT-rc=0\n") && !out.contains("never"), "{out}");
        assert!(err.starts_with("\nshipT-last\n"), "{err}");
        let script = format!("sleep 60 & echo $! > {}; sleep 60", pid.display());
        let t0 = std::time::Instant::now();
        let (out, err, _) = run_loop("sh", &[(&script, "", 1), ("echo next", "", 0)]);
        assert!(t0.elapsed() < std::time::Duration::from_secs(30), "{:?}", t0.elapsed());
        assert_eq!(out, "\nshipT-rc=124\nnext\n\nshipT-rc=0\n", "{err}");
        let pid = std::fs::read_to_string(&pid).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        assert!(stat.is_empty() || stat.contains(") Z "), "the background sleep outlived the limit: {stat}");
    }

    #[test]
    fn layout_drops_trailing_slash() {
        assert_eq!(Layout::new("/srv/demo/").current(), "/srv/demo/current");
        assert_eq!(Layout::new("/").releases(), "/releases");
    }

    #[test]
    fn state_script() {
        assert_eq!(
            state(&Layout::new("/srv/my app")),
            "echo\nship_hex() { od -An -v -tx1 | tr -d ' \\n'; }\n\
if [ -L '/srv/my app/current' ]; then printf current_link=; readlink '/srv/my app/current' | ship_hex; echo; \
printf current_real=; readlink -e '/srv/my app/current' | ship_hex; echo; \
elif [ -e '/srv/my app/current' ]; then echo current_is_dir=1; fi\n\
if [ -d '/srv/my app/releases' ]; then printf releases_real=; (cd '/srv/my app/releases' && pwd -P) | ship_hex; echo; \
printf entries=; (cd '/srv/my app/releases' && for n in * .[!.]* ..?*; do if [ -e \"$n\" ] || [ -L \"$n\" ]; \
then printf '%s\\0' \"$n\"; fi; done) | ship_hex; echo; \
printf bad=; (cd '/srv/my app/releases' && for n in *; do if [ -f \"$n/.ship/bad\" ]; then printf '%s\\0' \"$n\"; fi; done) \
| ship_hex; echo; fi\n\
if [ -f '/srv/my app/.ship/lock/details.json' ]; then printf 'lock=%s\\n' \
\"$(head -c 4096 '/srv/my app/.ship/lock/details.json' | tr -d '\\n')\"; \
elif [ -d '/srv/my app/.ship/lock' ]; then echo 'lock={}'; fi\n\
grep -E '\"event\": *\"(deploy|sync|rollback)\"' '/srv/my app/.ship/log.jsonl' 2>/dev/null | tail -n 100 \
| sed 's/^/log=/'; true\n"
        );
    }

    #[test]
    fn state_script_reports_lock_and_bad_releases_when_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("my app");
        std::fs::create_dir_all(root.join("releases/20260101000001/.ship")).unwrap();
        std::fs::write(root.join("releases/20260101000001/.ship/bad"), "{}").unwrap();
        std::fs::create_dir_all(root.join("releases/x\nlock=taken")).unwrap();
        std::fs::create_dir_all(root.join(".ship/lock")).unwrap();
        std::fs::write(root.join(".ship/lock/details.json"), "{\"holder\":\"a@b\"}\n").unwrap();
        // Only entries that switched `current` come back, none as a key of its own.
        let log = "{\"event\":\"deploy\"}\n{\"event\":\"unlock\"}\nlock=taken {\"event\": \"rollback\"}\n";
        std::fs::write(root.join(".ship/log.jsonl"), log).unwrap();
        std::os::unix::fs::symlink("releases/20260101000001/", root.join("current")).unwrap();
        let l = Layout::new(root.to_str().unwrap());
        let out = std::process::Command::new("sh").arg("-c").arg(state(&l)).output().unwrap();
        assert!(out.status.success());
        let s = crate::remote::state::HostState::parse(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(s.lock.as_deref(), Some("{\"holder\":\"a@b\"}"));
        assert!(!s.lock_taken, "a name or log line faked lock=taken");
        assert_eq!(s.bad.iter().map(ReleaseId::as_str).collect::<Vec<_>>(), ["20260101000001"]);
        assert_eq!(s.strangers, ["x\nlock=taken"]);
        assert_eq!(s.current.as_ref().map(ReleaseId::as_str), Some("20260101000001"));
        assert_eq!(s.current_link.as_deref(), Some(&b"releases/20260101000001/"[..]));
        assert_eq!(s.log, ["{\"event\":\"deploy\"}", "lock=taken {\"event\": \"rollback\"}"]);
    }

    #[test]
    fn restore_current_puts_back_the_exact_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".ship")).unwrap();
        std::os::unix::fs::symlink("releases/new", root.join("current")).unwrap();
        let l = Layout::new(root.to_str().unwrap());
        for link in [&b"releases/57/"[..], b"-odd link\n", b"\xff\x01x"] {
            let out = std::process::Command::new("sh").arg("-c").arg(restore_current(&l, link)).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let got = std::fs::read_link(root.join("current")).unwrap();
            assert_eq!(std::os::unix::ffi::OsStrExt::as_bytes(got.as_os_str()), link);
        }
        assert_eq!(
            restore_current(&Layout::new("/d"), b"releases/57/"),
            "set -e\nt=releases/57/x\nt=${t%x}\nrm -f /d/.ship/current.revert\n\
ln -s -- \"$t\" /d/.ship/current.revert\nmv -T /d/.ship/current.revert /d/current\n"
        );
    }

    #[test]
    fn preflight_script() {
        let s = preflight(&Layout::new("/srv/demo"), &[".env".into()], None);
        assert_eq!(
            s,
            format!(
                "set -e\nmkdir -p /srv/demo/releases /srv/demo/shared /srv/demo/.ship/staging\n{}\
printf 'free_kb=%s\\n' \"$(df -Pk /srv/demo | awk 'NR==2 {{print $4}}')\"\n\
if command -v curl >/dev/null 2>&1; then echo fetcher=curl; elif command -v wget >/dev/null 2>&1; then echo fetcher=wget; fi\n\
if [ -f /srv/demo/current/.ship/manifest ]; then printf 'manifest=%s\\n' \"$({{ if command -v openssl >/dev/null 2>&1; \
then openssl dgst -sha256 -r; else sha256sum; fi; }} < /srv/demo/current/.ship/manifest | cut -c 1-64)\"; fi\n\
[ -e /srv/demo/shared/.env ] || echo missing=.env\n",
                state(&Layout::new("/srv/demo"))
            )
        );
    }

    #[test]
    fn relink_script() {
        assert_eq!(read_manifest(&Layout::new("/srv/demo")), "cat /srv/demo/current/.ship/manifest\n");
        assert_eq!(
            relink(&Layout::new("/srv/demo"), &id()),
            "set -e\n\
cd /srv/demo/.ship/staging/20261122070102\n\
(cd /srv/demo/current/ && find . -type l) > .ship/symlinks\n\
bad=$(awk 'NR == FNR { l[$0] = 1; next } { p = substr($0, 67); n = split(p, a, \"/\"); q = a[1]; \
for (i = 2; i <= n; i++) { q = q \"/\" a[i]; if (q in l) { print p; exit } } }' .ship/symlinks .ship/links)\n\
if [ -n \"$bad\" ]; then echo \"$bad of the current release is reached through a symlink (changed on the host after it \
was deployed?); deploy with --full to send every file\" >&2; exit 1; fi\n\
if ! (cd /srv/demo/current/ && cut -c 67- /srv/demo/.ship/staging/20261122070102/.ship/links | tr '\\n' '\\0' \
| xargs -0 -r cp -l --parents -t /srv/demo/.ship/staging/20261122070102 --); then\n\
echo \"could not hard-link the unchanged files from the current release (changed on the host after it was deployed?); \
deploy with --full to send every file\" >&2; exit 1; fi\n\
bad=$(cut -c 67- .ship/links | tr '\\n' '\\0' | xargs -0 -r stat -c '%u %n' | awk -v me=\"$(id -u)\" \
'$1 != me { print substr($0, index($0, \" \") + 1); exit }')\n\
if [ -n \"$bad\" ]; then echo \"$bad of the current release belongs to another user (changed on the host after it \
was deployed?); deploy with --full to send every file\" >&2; exit 1; fi\n\
if command -v openssl >/dev/null 2>&1; then cut -c 67- .ship/links | tr '\\n' '\\0' | xargs -0 -r openssl dgst -sha256 -r \
| sed 's/ \\*/  /' > .ship/links.got\n\
else cut -c 67- .ship/links | tr '\\n' '\\0' | xargs -0 -r sha256sum > .ship/links.got; fi\n\
if ! cmp -s .ship/links .ship/links.got; then\n\
bad=$(awk 'NR == FNR { want[FNR] = $0; next } want[FNR] != $0 { print substr(want[FNR], 67); exit }' .ship/links .ship/links.got)\n\
echo \"${bad:-a file} of the current release differs from its manifest (changed on the host after it was deployed?); \
deploy with --full to send every file\" >&2; exit 1; fi\n\
awk 'NR == FNR { if (length($1) != 64) next; rest = substr($0, 66); i = index(rest, \" \"); m = substr(rest, 1, i - 1); \
rest = substr(rest, i + 1); mode[\"./\" substr(rest, index(rest, \" \") + 1)] = m; next } \
{ p = substr($0, 67); printf \"%d %s\\n\", mode[p], p }' .ship/manifest .ship/links > .ship/modes\n\
cut -c 67- .ship/links | tr '\\n' '\\0' | xargs -0 -r stat -c '%a %n' > .ship/modes.got\n\
if ! cmp -s .ship/modes .ship/modes.got; then\n\
bad=$(awk 'NR == FNR { want[FNR] = $0; next } want[FNR] != $0 { i = index($0, \" \"); j = index(want[FNR], \" \"); \
print substr($0, i + 1) \" of the current release has mode \" substr($0, 1, i - 1) \", its manifest says \" \
substr(want[FNR], 1, j - 1); exit }' .ship/modes .ship/modes.got)\n\
echo \"${bad:-a file of the current release has another mode than its manifest records} (changed on the host after it \
was deployed?); deploy with --full to send every file\" >&2; exit 1; fi\n\
rm -f .ship/links .ship/links.got .ship/modes .ship/modes.got .ship/symlinks\n"
        );
    }

    /// The relink script under a real `sh`: unchanged files become hard
    /// links (the earlier release keeps its bytes), and a file edited on
    /// the host since its deploy is named and fails the step.
    #[test]
    fn relink_links_checks_and_names_a_drifted_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let old = root.join("releases/20260101000001");
        std::fs::create_dir_all(old.join("app/sub dir")).unwrap();
        std::fs::write(old.join("app/sub dir/a.js"), "same").unwrap();
        std::fs::write(old.join("app/b.js"), "also same").unwrap();
        std::os::unix::fs::symlink(&old, root.join("current")).unwrap();
        let l = Layout::new(root.to_str().unwrap());
        let stage = std::path::PathBuf::from(l.staging(&id()));
        let sum = |b: &[u8]| crate::text::hex(&<sha2::Sha256 as sha2::Digest>::digest(b));
        let links = format!("{}  ./app/sub dir/a.js\n{}  ./app/b.js\n", sum(b"same"), sum(b"also same"));
        let manifest = format!(
            "{} 0644 9 app/b.js\n{} 0755 3 app/new.js\n{} 0644 4 app/sub dir/a.js\n",
            sum(b"also same"),
            sum(b"new"),
            sum(b"same")
        );
        let set = |p: &std::path::Path, m: u32| {
            std::fs::set_permissions(p, <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(m))
                .unwrap()
        };
        set(&old.join("app/sub dir/a.js"), 0o644);
        set(&old.join("app/b.js"), 0o644);
        let prepare = || {
            let _ = std::fs::remove_dir_all(&stage);
            std::fs::create_dir_all(stage.join(".ship")).unwrap();
            std::fs::create_dir_all(stage.join("app/sub dir")).unwrap();
            std::fs::write(stage.join(".ship/links"), &links).unwrap();
            std::fs::write(stage.join(".ship/manifest"), &manifest).unwrap();
        };
        let run = || std::process::Command::new("sh").arg("-c").arg(relink(&l, &id())).output().unwrap();
        prepare();
        let out = run();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let ino = |p: &std::path::Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&stage.join("app/sub dir/a.js")), ino(&old.join("app/sub dir/a.js")));
        for f in ["links", "links.got", "modes", "modes.got"] {
            assert!(!stage.join(".ship").join(f).exists(), "{f} left behind");
        }

        // A linked file made set-uid and world-writable on the host.
        set(&old.join("app/b.js"), 0o4777);
        prepare();
        let out = run();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("./app/b.js of the current release has mode 4777, its manifest says 644"), "{err}");
        assert!(err.contains("--full"), "{err}");
        set(&old.join("app/b.js"), 0o644);

        std::fs::write(old.join("app/b.js"), "edited in place").unwrap();
        prepare();
        let out = run();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("./app/b.js of the current release differs from its manifest"), "{err}");
        assert!(err.contains("--full"), "{err}");

        std::fs::remove_file(old.join("app/b.js")).unwrap();
        prepare();
        let err = String::from_utf8_lossy(&run().stderr).to_string();
        assert!(err.contains("could not hard-link the unchanged files"), "{err}");
    }

    #[test]
    fn receive_script() {
        assert_eq!(
            receive(&Layout::new("/srv/demo"), &id()),
            "set -e\n\
umask 022\n\
rm -rf /srv/demo/.ship/staging/20261122070102 /srv/demo/.ship/staging/20261122070102.fifo /srv/demo/.ship/staging/20261122070102.sha256\n\
mkdir -p /srv/demo/.ship/staging/20261122070102\n\
mkfifo /srv/demo/.ship/staging/20261122070102.fifo\n\
{ if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; } \
< /srv/demo/.ship/staging/20261122070102.fifo > /srv/demo/.ship/staging/20261122070102.sha256 &\n\
tee /srv/demo/.ship/staging/20261122070102.fifo | tar --no-same-owner --no-same-permissions -xzf - \
-C /srv/demo/.ship/staging/20261122070102\n\
wait $!\n\
rm -f /srv/demo/.ship/staging/20261122070102.fifo\n\
printf 'sha256=%s\\n' \"$(cut -d ' ' -f 1 /srv/demo/.ship/staging/20261122070102.sha256)\"\n"
        );
    }

    #[test]
    fn verify_script() {
        assert_eq!(
            verify(&Layout::new("/d"), &id(), "ab12"),
            "got=$(cut -d ' ' -f 1 /d/.ship/staging/20261122070102.sha256)\n\
if [ \"$got\" != ab12 ]; then echo \"received an archive with sha256 $got\"', expected ab12: the transfer was corrupted; deploy again' >&2; exit 1; fi\n"
        );
    }

    #[test]
    fn sequence_script() {
        assert_eq!(
            sequence(&[("switch", "set -e\nmv a b\n".into()), ("restart", "echo 'hi'\n".into())], "ship-step="),
            "echo ship-step=switch\n/bin/sh -c 'set -e\nmv a b\n' || exit $?\n\
echo ship-step=restart\n/bin/sh -c 'echo '\\''hi'\\''\n' || exit $?\n"
        );
    }

    #[test]
    fn sequence_stops_at_the_first_failing_step_and_keeps_set_e() {
        let script = sequence(
            &[("one", "set -e\nfalse\necho not-reached\n".into()), ("two", "echo two\n".into())],
            "ship-step=",
        );
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "ship-step=one\n");
        assert_eq!(out.status.code(), Some(1));
    }

    #[test]
    fn promote_script() {
        let s = promote(&Layout::new("/d"), &id(), r#"{"v":"it's"}"#, &["log".into()], &["config/db.yml".into()]);
        assert_eq!(
            s,
            "set -e\nrm -f /d/.ship/staging/20261122070102.sha256\n\
mkdir -p /d/.ship/staging/20261122070102/.ship\n\
printf '%s\\n' '{\"v\":\"it'\\''s\"}' > /d/.ship/staging/20261122070102/.ship/release.json\n\
if [ -L /d/.ship/staging/20261122070102/config ]; then echo 'the build has a symlink at config, inside linked path `config/db.yml`: \
ship will not write through it; remove the link from the build or link another path' >&2; exit 1; fi\n\
mkdir -p /d/shared/log\n\
rm -rf /d/.ship/staging/20261122070102/log\n\
ln -s /d/shared/log /d/.ship/staging/20261122070102/log\n\
mkdir -p /d/.ship/staging/20261122070102/config\n\
rm -rf /d/.ship/staging/20261122070102/config/db.yml\n\
ln -s /d/shared/config/db.yml /d/.ship/staging/20261122070102/config/db.yml\n\
mv -T /d/.ship/staging/20261122070102 /d/releases/20261122070102\n"
        );
    }

    #[test]
    fn switch_script() {
        assert_eq!(
            switch(&Layout::new("/d"), &id()),
            "set -e\n\
if [ -e /d/current ] && [ ! -L /d/current ]; then echo '/d/current is a real directory, not a symlink: ship will not replace it. Move it aside and deploy again.' >&2; exit 1; fi\n\
if [ ! -f /d/releases/20261122070102/.ship/release.json ]; then echo '/d/releases/20261122070102 is not a complete release (no .ship/release.json)' >&2; exit 1; fi\n\
rm -f /d/.ship/current.20261122070102\n\
ln -s /d/releases/20261122070102 /d/.ship/current.20261122070102\n\
mv -T /d/.ship/current.20261122070102 /d/current\n"
        );
    }

    fn hook_env() -> HookEnv {
        HookEnv {
            app: "demo".into(),
            release: "20261122070102".into(),
            previous: String::new(),
            host: "web1".into(),
            version: "v1 'beta'".into(),
            strategy: "rolling".into(),
        }
    }

    #[test]
    fn in_release_script() {
        assert_eq!(
            in_release(&Layout::new("/d"), &id(), &hook_env(), "sudo systemctl restart demo"),
            "cd /d/releases/20261122070102 || exit 1\n\
SHIP_APP=demo SHIP_RELEASE=20261122070102 SHIP_RELEASE_PATH=/d/releases/20261122070102 SHIP_PREVIOUS_RELEASE='' \
SHIP_HOST=web1 SHIP_VERSION='v1 '\\''beta'\\''' SHIP_STRATEGY=rolling SHIP_DEPLOY_TO=/d\n\
export SHIP_APP SHIP_RELEASE SHIP_RELEASE_PATH SHIP_PREVIOUS_RELEASE SHIP_HOST SHIP_VERSION SHIP_STRATEGY SHIP_DEPLOY_TO\n\
sudo systemctl restart demo\n"
        );
    }

    #[test]
    fn health_script_with_expected_words_runs_under_sh() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path().to_str().unwrap());
        std::fs::create_dir_all(l.release(&id())).unwrap();
        let run = |out: &str| {
            let words = ["20261122070102".to_string(), "v1.2".to_string()];
            let script = health(&l, &id(), &HookEnv::default(), &format!("echo '{out}'"), 1, "0.1", &words);
            std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap()
        };
        assert!(run("release v1.2 up").status.success());
        assert!(run("20261122070102").status.success());
        let old = run("release v1.2-dirty");
        assert!(!old.status.success());
        assert!(String::from_utf8_lossy(&old.stderr).contains("names neither 20261122070102 nor v1.2"), "{old:?}");
    }

    #[test]
    fn health_script() {
        let s = health(&Layout::new("/d"), &id(), &HookEnv::default(), "curl -fsS http://x/up", 30, "0.5", &[]);
        assert!(s.starts_with("cd /d/releases/20261122070102 || exit 1\n"), "{s}");
        assert!(
            s.ends_with(
                "end=$(( $(date +%s) + 30 ))\n\
while :; do\n\
  left=$(( end - $(date +%s) )); [ \"$left\" -gt 0 ] || left=1\n\
  if out=$(timeout \"$left\" /bin/sh -c 'curl -fsS http://x/up' 2>&1); then exit 0; else rc=$?; fi\n\
  if [ \"$(date +%s)\" -ge \"$end\" ]; then\n\
    printf '%s\\n' \"$out\" | tail -n 5 >&2\n\
    echo \"unhealthy after 30s (last exit status $rc)\" >&2; exit 1\n\
  fi\n\
  sleep 0.5\n\
done\n"
            ),
            "{s}"
        );
    }

    #[test]
    fn check_script_is_read_only_and_reports_when_run() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("not yet/app");
        let l = Layout::new(root.to_str().unwrap());
        let script = check(&l, &["config/db.yml".to_string()], Some("sh"));
        assert!(!script.contains("mkdir") && !script.contains("rm "), "{script}");
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        for line in ["deploy_to=missing", "writable=1", "restart=found", "missing=config/db.yml", "mv_t=1"] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.lines().any(|l| l.starts_with("free_kb=") && l.len() > 8), "{text}");
        assert!(text.lines().any(|l| l.starts_with("clock=1")), "{text}");
        assert!(!root.exists(), "check created {}", root.display());
        let nope = check(&l, &[], Some("./bin/restart"));
        assert!(nope.contains("[ -x '"), "{nope}");
        let out = std::process::Command::new("sh").arg("-c").arg(&nope).output().unwrap();
        assert!(String::from_utf8(out.stdout).unwrap().contains("restart=missing"));
    }

    #[test]
    fn secrets_are_read_from_stdin_and_exported() {
        let names = vec!["API_TOKEN".to_string(), "DB_PASS".to_string()];
        assert_eq!(
            read_secrets(&names),
            "IFS= read -r API_TOKEN || exit 1\nexport API_TOKEN\nIFS= read -r DB_PASS || exit 1\nexport DB_PASS\n"
        );
        let script = read_secrets(&names)
            + &sequence(&[("restart", "printf '%s|%s|' \"$API_TOKEN\" \"$DB_PASS\"; cat".into())], "ship-step=");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"t0k 'en\n$(pw)\nrest of the upload").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "ship-step=restart\nt0k 'en|$(pw)|rest of the upload");
    }

    #[test]
    fn exec_runs_in_current() {
        assert_eq!(
            exec_in_current(&Layout::new("/srv/my app"), "uptime"),
            "cd '/srv/my app/current' 2>/dev/null || cd '/srv/my app' 2>/dev/null\n\
SHIP_DEPLOY_TO='/srv/my app'\nexport SHIP_DEPLOY_TO\nuptime\n"
        );
    }

    #[test]
    fn lock_and_unlock_scripts() {
        assert_eq!(
            lock(&Layout::new("/d"), r#"{"token":"t1"}"#),
            "echo\nif ! mkdir -p /d/.ship || [ ! -w /d/.ship ]; then echo \"ship: $(id -un 2>/dev/null):\" \
'/d is not writable by this user: create it and give the SSH user write access (e.g. chown), or change deploy_to' >&2; exit 1; fi\n\
if mkdir /d/.ship/lock 2>/dev/null; then if ! printf '%s\\n' '{\"token\":\"t1\"}' > /d/.ship/lock/details.json; \
then rm -rf /d/.ship/lock; echo 'cannot write /d/.ship/lock/details.json (disk full?): the lock was not taken; free space, then run again' >&2; \
exit 1; fi; \
echo lock=taken; { if [ -L /d/.ship/trash ]; then rm -f /d/.ship/trash; fi; mkdir -p /d/.ship/trash; } && for p in /d/.ship/staging/*; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then \
mv -T -- \"$p\" /d/.ship/trash/staging-\"${p##*/}\".$$; fi; done; \
else printf 'lock=held %s\\n' \"$(head -c 4096 /d/.ship/lock/details.json 2>/dev/null | tr -d '\\n')\"; fi\n"
        );
        assert_eq!(
            unlock(&Layout::new("/d"), "t1"),
            "if grep -qF t1 /d/.ship/lock/details.json 2>/dev/null; then rm -rf /d/.ship/lock; echo unlocked=1; fi\n"
        );
        assert_eq!(
            force_unlock(&Layout::new("/d"), "{}"),
            "rm -rf /d/.ship/lock\nprintf '%s\\n' '{}' >> /d/.ship/log.jsonl\n"
        );
    }

    #[test]
    fn lock_is_taken_once_when_run() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path().to_str().unwrap());
        let run = |script: String| {
            let out = std::process::Command::new("sh").arg("-c").arg(script).output().unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(run(lock(&l, r#"{"token":"A"}"#)), "\nlock=taken\n");
        assert_eq!(run(lock(&l, r#"{"token":"B"}"#)), "\nlock=held {\"token\":\"A\"}\n");
        assert_eq!(run(unlock(&l, "B")), "", "another token never releases it");
        assert_eq!(run(unlock(&l, "A")), "unlocked=1\n");
        assert_eq!(run(lock(&l, r#"{"token":"B"}"#)), "\nlock=taken\n");
    }

    #[test]
    fn finalize_script() {
        let old = ReleaseId::parse("20250101000000").unwrap();
        assert_eq!(
            finalize(&Layout::new("/d"), Some((&id(), "{}")), "L", &[old], "tok"),
            format!(
                "{}{}{}{}",
                mark_bad(&Layout::new("/d"), &id(), "{}"),
                "set -e\nprintf '%s\\n' L >> /d/.ship/log.jsonl\n{ if [ -L /d/.ship/trash ]; then rm -f /d/.ship/trash; fi; mkdir -p /d/.ship/trash; }\n\
mv -T -- /d/releases/20250101000000 /d/.ship/trash/release-20250101000000.$$\n",
                unlock(&Layout::new("/d"), "tok"),
                "if [ ! -L /d/.ship/trash ]; then (rm -rf /d/.ship/trash/* </dev/null >/dev/null 2>&1 &); fi\n"
            )
        );
        assert_eq!(
            unswitch(&Layout::new("/d"), &id()),
            "if [ -L /d/current ] && [ \"$(readlink -e /d/current)\" = \"$(readlink -e /d/releases/20261122070102)\" ]; \
then rm -f /d/current; fi\n"
        );
    }

    #[test]
    fn sync_scripts() {
        assert_eq!(pack_release(&Layout::new("/d"), &id()), "tar -czf - -C /d/releases/20261122070102 .\n");
        assert_eq!(release_json(&Layout::new("/d"), &id()), "cat /d/releases/20261122070102/.ship/release.json\n");
    }

    #[test]
    fn mark_bad_and_log_scripts() {
        assert_eq!(
            mark_bad(&Layout::new("/d"), &id(), "{}"),
            "if [ -d /d/releases/20261122070102/.ship ]; then printf '%s\\n' '{}' > /d/releases/20261122070102/.ship/bad; fi\n"
        );
        assert_eq!(read_log(&Layout::new("/d"), 20), "tail -n 20 /d/.ship/log.jsonl 2>/dev/null || true\n");
        assert_eq!(append_log(&Layout::new("/d"), "x"), "printf '%s\\n' x >> /d/.ship/log.jsonl\n");
    }

    #[test]
    fn finish_script() {
        let old = ReleaseId::parse("20250101000000").unwrap();
        assert_eq!(
            finish(&Layout::new("/d"), &[old], r#"{"event":"deploy"}"#),
            "set -e\nprintf '%s\\n' '{\"event\":\"deploy\"}' >> /d/.ship/log.jsonl\n{ if [ -L /d/.ship/trash ]; then rm -f /d/.ship/trash; fi; mkdir -p /d/.ship/trash; }\n\
mv -T -- /d/releases/20250101000000 /d/.ship/trash/release-20250101000000.$$\n"
        );
        assert_eq!(finish(&Layout::new("/d"), &[], "x"), "set -e\nprintf '%s\\n' x >> /d/.ship/log.jsonl\n");
    }

    #[test]
    fn fetch_script() {
        let s = fetch(&Layout::new("/d"), &id(), crate::config::pull::Fetcher::Curl, &"a".repeat(64));
        let st = "/d/.ship/staging/20261122070102";
        assert_eq!(
            s,
            format!(
                "set -e\n\
IFS= read -r shown\n\
umask 022\n\
rm -rf {st} {st}.tgz {st}.sha256\n\
mkdir -p {st}\n\
if ! curl -fsSL --proto =http,https --retry 2 --connect-timeout 30 --speed-limit 1024 --speed-time 60 -o {st}.tgz -K -; \
then rm -f {st}.tgz; \
printf '%s%s%s\\n' 'could not download the artifact from ' \"$shown\" \
' (curl'\\''s message above); check the URL and that this host can reach it' >&2; exit 1; fi\n\
{{ if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }} < {st}.tgz > {st}.sha256\n\
got=$(cut -c 1-64 {st}.sha256)\n\
printf 'sha256=%s\\n' \"$got\"\n\
if [ \"$got\" != {a} ]; then rm -f {st}.tgz; printf '%s%s has sha256 %s%s\\n' 'the archive downloaded from ' \"$shown\" \"$got\" \
', expected {a}: the server has a different file; publish the archive you deploy, or fix the URL' >&2; exit 1; fi\n\
tar --no-same-owner --no-same-permissions -xzf {st}.tgz -C {st}\n\
rm -f {st}.tgz\n",
                a = "a".repeat(64)
            )
        );
        let w = fetch(&Layout::new("/d"), &id(), crate::config::pull::Fetcher::Wget, "b");
        assert!(
            w.contains(&format!(
                "if ! wget -nv --tries=3 --connect-timeout=30 --read-timeout=60 -O {st}.tgz -i -; then"
            )),
            "{w}"
        );
    }

    /// The script reads the shown URL from stdin and carries nothing of
    /// the URL itself; run under sh, it prints that line in its error.
    #[test]
    fn fetch_takes_no_part_of_the_url_on_its_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path().to_str().unwrap());
        let url = "http://ci-bot:pw-s3cret@127.0.0.1:9/x.tgz?sig=t0ken";
        let script = fetch(&l, &id(), crate::config::pull::Fetcher::Curl, &"a".repeat(64));
        for part in ["ci-bot", "pw-s3cret", "127.0.0.1", "x.tgz", "t0ken"] {
            assert!(!script.contains(part), "{part} in the script:\n{script}");
        }
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        // A curl that fails the way a refused connection does.
        std::fs::write(bin.join("curl"), "#!/bin/sh\ncat >/dev/null\nexit 7\n").unwrap();
        let mut p = std::fs::metadata(bin.join("curl")).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o755);
        std::fs::set_permissions(bin.join("curl"), p).unwrap();
        let mut child = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(
            child.stdin.as_mut().unwrap(),
            crate::config::pull::Fetcher::Curl.input(url).as_bytes(),
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "could not download the artifact from http://***@127.0.0.1:9/x.tgz?… (curl's message above); \
check the URL and that this host can reach it\n"
        );
    }

    #[test]
    fn abort_script() {
        let moved =
            "{ if [ -L /d/.ship/trash ]; then rm -f /d/.ship/trash; fi; mkdir -p /d/.ship/trash; } && for p in /d/.ship/staging/20261122070102 /d/.ship/staging/20261122070102.fifo \
/d/.ship/staging/20261122070102.sha256 /d/.ship/staging/20261122070102.tgz; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then \
mv -T -- \"$p\" /d/.ship/trash/staging-\"${p##*/}\".$$; fi; done;\n";
        assert_eq!(
            abort(&Layout::new("/d"), &id()),
            format!(
                "{moved}if [ -d /d/releases/20261122070102 ] && \
[ \"$(readlink -e /d/current 2>/dev/null)\" != \"$(readlink -e /d/releases/20261122070102 2>/dev/null)\" ]; \
then mv -T -- /d/releases/20261122070102 /d/.ship/trash/release-20261122070102.$$; fi\n\
if [ ! -L /d/.ship/trash ]; then (rm -rf /d/.ship/trash/* </dev/null >/dev/null 2>&1 &); fi\n"
            )
        );
    }

    #[test]
    fn hostile_deploy_to_stays_one_word_in_every_script() {
        let l = Layout::new("/srv/$(touch /tmp/pwned)'; rm -rf /; '");
        for script in [state(&l), preflight(&l, &[], None), receive(&l, &id()), switch(&l, &id()), abort(&l, &id())] {
            assert!(!script.contains(" /srv/$(touch"), "unquoted path in:\n{script}");
        }
    }
}
