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

pub(crate) mod state;

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
    /// `<deploy_to>/.ship/log.jsonl`
    pub(crate) fn log(&self) -> String {
        self.join(".ship/log.jsonl")
    }
}

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
const LOG_LINES: usize = 100;

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
const FETCHER: &str = "if command -v curl >/dev/null 2>&1; then echo fetcher=curl; \
elif command -v wget >/dev/null 2>&1; then echo fetcher=wget; fi\n";

/// Hashes stdin (or the files named after it) with openssl when the host
/// has it, else with coreutils' `sha256sum`; both print `<hex> ...` lines.
const SHA256: &str = "{ if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r; else sha256sum; fi; }";

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

/// After a delta archive is extracted into `staging/<id>`: hard-links the
/// files listed in its `.ship/links` from the current release, then hashes
/// every linked file and compares the result with the list byte for byte,
/// and compares every linked file's mode (`stat -c %a`) with the one the
/// new release's `.ship/manifest` records, so a file changed or chmod-ed on
/// the host since it was deployed is caught before the release can be
/// renamed into place (a hard link shares its mode). `cp -l` only adds
/// names; nothing here writes to a linked file.
pub(crate) fn relink(l: &Layout, id: &ReleaseId) -> String {
    let stage = quote(&l.staging(id));
    let cur = quote(&format!("{}/", l.current()));
    let list = "cut -c 67- .ship/links | tr '\\n' '\\0' | xargs -0 -r";
    let advice = "changed on the host after it was deployed?); deploy with --full to send every file";
    // `<mode as stat %a prints it> ./<path>` for every linked file, in the
    // list's order, from the manifest's `<sha256> <mode> <size> <path>` lines
    // (not its header or link lines).
    let modes = quote(
        "NR == FNR { if (length($1) != 64) next; rest = substr($0, 66); i = index(rest, \" \"); m = substr(rest, 1, i - 1); \
rest = substr(rest, i + 1); mode[\"./\" substr(rest, index(rest, \" \") + 1)] = m; next } \
{ p = substr($0, 67); printf \"%d %s\\n\", mode[p], p }",
    );
    let differ = quote(
        "NR == FNR { want[FNR] = $0; next } want[FNR] != $0 { i = index($0, \" \"); j = index(want[FNR], \" \"); \
print substr($0, i + 1) \" of the current release has mode \" substr($0, 1, i - 1) \", its manifest says \" \
substr(want[FNR], 1, j - 1); exit }",
    );
    // A linked path reached through a symlink of the current release (put
    // there on the host) would link a file from outside the release.
    let through = quote(
        "NR == FNR { l[$0] = 1; next } { p = substr($0, 67); n = split(p, a, \"/\"); q = a[1]; \
for (i = 2; i <= n; i++) { q = q \"/\" a[i]; if (q in l) { print p; exit } } }",
    );
    format!(
        "set -e\n\
cd {stage}\n\
(cd {cur} && find . -type l) > .ship/symlinks\n\
bad=$(awk {through} .ship/symlinks .ship/links)\n\
if [ -n \"$bad\" ]; then echo \"$bad of the current release is reached through a symlink ({advice}\" >&2; exit 1; fi\n\
if ! (cd {cur} && cut -c 67- {stage}/.ship/links | tr '\\n' '\\0' | xargs -0 -r cp -l --parents -t {stage} --); then\n\
echo \"could not hard-link the unchanged files from the current release ({advice}\" >&2; exit 1; fi\n\
bad=$({list} stat -c '%u %n' | awk -v me=\"$(id -u)\" '$1 != me {{ print substr($0, index($0, \" \") + 1); exit }}')\n\
if [ -n \"$bad\" ]; then echo \"$bad of the current release belongs to another user ({advice}\" >&2; exit 1; fi\n\
if command -v openssl >/dev/null 2>&1; then {list} openssl dgst -sha256 -r | sed 's/ \\*/  /' > .ship/links.got\n\
else {list} sha256sum > .ship/links.got; fi\n\
if ! cmp -s .ship/links .ship/links.got; then\n\
bad=$(awk 'NR == FNR {{ want[FNR] = $0; next }} want[FNR] != $0 {{ print substr(want[FNR], 67); exit }}' .ship/links .ship/links.got)\n\
echo \"${{bad:-a file}} of the current release differs from its manifest ({advice}\" >&2; exit 1; fi\n\
awk {modes} .ship/manifest .ship/links > .ship/modes\n\
{list} stat -c '%a %n' > .ship/modes.got\n\
if ! cmp -s .ship/modes .ship/modes.got; then\n\
bad=$(awk {differ} .ship/modes .ship/modes.got)\n\
echo \"${{bad:-a file of the current release has another mode than its manifest records}} ({advice}\" >&2; exit 1; fi\n\
rm -f .ship/links .ship/links.got .ship/modes .ship/modes.got .ship/symlinks\n"
    )
}

/// How every host unpacks a release: as the deploy user whatever owners
/// the archive names, with its `rwx` bits less what `umask 022` removes
/// (no set-id bits, no group or world write), so an executable stays
/// executable and the files match the manifest ship recorded
/// ([`crate::build::artifact`]). Used after `umask 022`.
pub(crate) const UNTAR: &str = "tar --no-same-owner --no-same-permissions -xzf";

/// Receives a gzip tarball on stdin into `staging/<id>`, extracting while
/// hashing the exact bytes that arrived ([`UNTAR`]); prints their sha256 last. openssl,
/// when the host has it, hashes with the CPU's SHA instructions: 4x faster
/// than coreutils' sha256sum (100 MB: 0.10 s vs 0.40 s), which was the
/// largest cost ship added on hosts.
pub(crate) fn receive(l: &Layout, id: &ReleaseId) -> String {
    let dir = quote(&l.staging(id));
    let fifo = quote(&format!("{}.fifo", l.staging(id)));
    let sum = quote(&format!("{}.sha256", l.staging(id)));
    format!(
        "set -e\n\
umask 022\n\
rm -rf {dir} {fifo} {sum}\n\
mkdir -p {dir}\n\
mkfifo {fifo}\n\
{SHA256} < {fifo} > {sum} &\n\
tee {fifo} | {UNTAR} - -C {dir}\n\
wait $!\n\
rm -f {fifo}\n\
printf 'sha256=%s\\n' \"$(cut -d ' ' -f 1 {sum})\"\n"
    )
}

/// Pull mode: the host downloads the archive itself with `fetcher`, hashes
/// it, refuses it unless its sha256 is `expected`, and only then unpacks it
/// into `staging/<id>`. Nothing from the URL is in the script (it runs as a
/// `/bin/sh -c` argument, which every user of the host can read): stdin
/// brings the URL as messages show it (the first line, read here), then
/// what the tool reads to learn the URL ([`crate::config::pull::Fetcher::input`]).
pub(crate) fn fetch(l: &Layout, id: &ReleaseId, fetcher: crate::config::pull::Fetcher, expected: &str) -> String {
    let dir = quote(&l.staging(id));
    let tgz = quote(&format!("{}.tgz", l.staging(id)));
    let sum = quote(&format!("{}.sha256", l.staging(id)));
    let (tool, get) = match fetcher {
        crate::config::pull::Fetcher::Curl => {
            ("curl", format!("curl -fsSL --proto =http,https --retry 2 --connect-timeout 30 -o {tgz} -K -"))
        }
        crate::config::pull::Fetcher::Wget => {
            ("wget", format!("wget -nv --tries=3 --connect-timeout=30 -O {tgz} -i -"))
        }
    };
    let from = quote("could not download the artifact from ");
    let failed = quote(&format!(" ({tool}'s message above); check the URL and that this host can reach it"));
    let downloaded = quote("the archive downloaded from ");
    let differs = quote(&format!(
        ", expected {expected}: the server has a different file; publish the archive you deploy, or fix the URL"
    ));
    format!(
        "set -e\n\
IFS= read -r shown\n\
umask 022\n\
rm -rf {dir} {tgz} {sum}\n\
mkdir -p {dir}\n\
if ! {get}; then rm -f {tgz}; printf '%s%s%s\\n' {from} \"$shown\" {failed} >&2; exit 1; fi\n\
{SHA256} < {tgz} > {sum}\n\
got=$(cut -c 1-64 {sum})\n\
printf 'sha256=%s\\n' \"$got\"\n\
if [ \"$got\" != {} ]; then rm -f {tgz}; \
printf '%s%s has sha256 %s%s\\n' {downloaded} \"$shown\" \"$got\" {differs} >&2; exit 1; fi\n\
{UNTAR} {tgz} -C {dir}\n\
rm -f {tgz}\n",
        quote(expected),
    )
}

/// Compares the sha256 of what arrived with what was sent; a mismatch
/// fails before anything is linked or renamed.
pub(crate) fn verify(l: &Layout, id: &ReleaseId, expected: &str) -> String {
    let sum = quote(&format!("{}.sha256", l.staging(id)));
    let msg = quote(&format!(", expected {expected}: the transfer was corrupted; deploy again"));
    format!(
        "got=$(cut -d ' ' -f 1 {sum})
if [ \"$got\" != {} ]; then echo \"received an archive with sha256 $got\"{msg} >&2; exit 1; fi\n",
        quote(expected)
    )
}

/// The shell that runs every script of a session over one channel, so a
/// host pays its login shell's start-up (sshd runs `.bashrc` for every
/// exec) once per run instead of once per step. Each frame is a line
/// `<tag> <script bytes> <input bytes> <seconds>`, the script, then its
/// stdin. The script runs in its own `/bin/sh`, in a process group (and
/// session) of its own when `setsid` is there, under `timeout -k 5
/// <seconds>` when it has a limit (0: none) and `timeout` is there, so the
/// limit ends everything it started. It sees end-of-file after exactly its
/// input (`head -c` reads no further than asked); leftover input of a
/// successful script is drained so the next frame starts where it should.
/// When the script starts, `<tag>-pid=<pid>` goes to stderr ([`stop_step`]
/// needs it). After each script, `<tag>-rc=<status>` goes to stdout and
/// `<tag>-end` to stderr, so both streams are known complete. The loop
/// ends, saying `<tag>-last` instead of `<tag>-end`, when a script failed
/// with input left unread (where the next frame starts is no longer known)
/// or left processes running in its group: they may hold the channel's
/// streams, and ship starts a new loop rather than read their output as
/// the next script's. Closing that channel leaves them writing into
/// closed pipes.
pub(crate) fn agent_loop(tag: &str) -> String {
    let body = format!(
        "exec 3<&0 4</dev/null\n\
S=; command -v setsid >/dev/null 2>&1 && S=setsid\n\
T=; command -v timeout >/dev/null 2>&1 && T=1\n\
left() {{\n\
for f in /proc/[0-9]*/stat; do\n\
{{ read -r l < \"$f\"; }} 2>/dev/null || continue\n\
set -- ${{l##*\") \"}}\n\
[ \"$3\" = \"$g\" ] && [ \"$1\" != Z ] && return 0\n\
done\n\
return 1\n\
}}\n\
step() {{\n\
if [ -n \"$T\" ] && [ \"$secs\" -gt 0 ]; then $S timeout -k 5 \"$secs\" /bin/sh -c \"$s\" <&4 4<&- &\n\
else $S /bin/sh -c \"$s\" <&4 4<&- & fi\n\
g=$!\n\
printf \"\\n{tag}-pid=%s\\n\" \"$g\" >&2\n\
wait \"$g\"; rc=$?\n\
e=end\n\
if [ \"$n\" -gt 0 ]; then if [ \"$rc\" -eq 0 ]; then cat >/dev/null; else e=last; fi; fi\n\
if kill -0 -\"$g\" 2>/dev/null && left; then e=last; fi\n\
printf \"\\n{tag}-rc=%s\\n\" \"$rc\"\n\
printf \"\\n{tag}-%s\\n\" \"$e\" >&2\n\
[ \"$e\" = end ]\n\
}}\n\
while IFS=\" \" read -r tag len n secs <&3; do\n\
[ \"$tag\" = {tag} ] || exit 97\n\
s=$(head -c \"$len\" <&3)\n\
if [ \"$n\" -gt 0 ]; then head -c \"$n\" <&3 | {{ exec 4<&0; step; }} || exit 0\n\
else step || exit 0; fi\n\
done\n"
    );
    format!("exec /bin/sh -c {}", quote(&body))
}

/// The header line of one [`agent_loop`] frame; `secs` is the script's
/// time limit (0: none).
pub(crate) fn agent_frame(tag: &str, script: &str, input_len: u64, secs: u64) -> String {
    format!("{tag} {} {input_len} {secs}\n", script.len())
}

/// Ends the script an [`agent_loop`] started as `pid`: its whole process
/// group, and every process below it (found through /proc: on a host
/// without `setsid` the step has no group of its own), with SIGTERM, or
/// SIGKILL with `kill`. The tree is collected before any signal is sent.
pub(crate) fn stop_step(pid: u32, kill: bool) -> String {
    let sig = if kill { "KILL" } else { "TERM" };
    format!(
        "t={pid} all={pid}\n\
while [ -n \"$t\" ]; do n=\n\
for s in /proc/[0-9]*/stat; do read -r l < \"$s\" 2>/dev/null || continue; r=${{l##*) }}; set -- $r\n\
for p in $t; do if [ \"$2\" = \"$p\" ]; then q=${{s#/proc/}}; n=\"$n ${{q%/stat}}\"; fi; done; done\n\
t=$n; all=\"$all $n\"; done\n\
kill -{sig} -{pid} 2>/dev/null; kill -{sig} $all 2>/dev/null; true\n"
    )
}

/// Marker printed before each step of a [`sequence`]; the last one printed
/// names the step that failed.
pub(crate) const STEP_MARKER: &str = "ship-step=";

/// Runs several step scripts in one round trip. Each runs in its own
/// `/bin/sh -c` (so its `set -e` holds, whatever the login shell is) after a
/// `ship-step=<name>` line; the first failure ends the sequence with that
/// step's exit status.
pub(crate) fn sequence(steps: &[(&str, String)]) -> String {
    steps
        .iter()
        .map(|(name, script)| format!("echo {STEP_MARKER}{name}\n/bin/sh -c {} || exit $?\n", quote(script)))
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

/// Writes `release.json`, links shared paths into the staged release, then
/// renames it into `releases/<id>`: a directory under `releases/` is only
/// ever complete (invariant 2).
pub(crate) fn promote(
    l: &Layout,
    id: &ReleaseId,
    release_json: &str,
    linked_dirs: &[String],
    linked_files: &[String],
) -> String {
    let stage = l.staging(id);
    let mut s = format!(
        "set -e\nrm -f {}\nmkdir -p {}\nprintf '%s\\n' {} > {}\n",
        quote(&format!("{stage}.sha256")),
        quote(&format!("{stage}/.ship")),
        quote(release_json),
        quote(&format!("{stage}/.ship/release.json")),
    );
    // Every step below works on the staged copy; none may follow a symlink
    // the build brought into an ancestor of a linked path (it could point
    // at shared/ or anywhere else), so all are checked before any is made.
    for p in linked_dirs.iter().chain(linked_files) {
        let mut ancestor = stage.clone();
        for part in p.split('/').collect::<Vec<_>>().split_last().map_or(&[][..], |(_, rest)| rest) {
            ancestor = format!("{ancestor}/{part}");
            let why = format!(
                "the build has a symlink at {}, inside linked path `{p}`: ship will not write through it; \
remove the link from the build or link another path",
                &ancestor[stage.len() + 1..]
            );
            s += &format!("if [ -L {} ]; then echo {} >&2; exit 1; fi\n", quote(&ancestor), quote(&why));
        }
    }
    // Only then are missing shared dirs made (as Capistrano does), so a
    // refused release creates nothing outside its staging dir.
    for d in linked_dirs {
        s += &format!("mkdir -p {}\n", quote(&format!("{}/{d}", l.shared())));
    }
    for p in linked_dirs.iter().chain(linked_files) {
        let inside = format!("{stage}/{p}");
        if let Some((parent, _)) = p.rsplit_once('/') {
            s += &format!("mkdir -p {}\n", quote(&format!("{stage}/{parent}")));
        }
        s +=
            &format!("rm -rf {}\nln -s {} {}\n", quote(&inside), quote(&format!("{}/{p}", l.shared())), quote(&inside));
    }
    s += &format!("mv -T {} {}\n", quote(&stage), quote(&l.release(id)));
    s
}

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
fn bytes_word(b: &[u8]) -> String {
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
/// failure, the last output goes to stderr.
pub(crate) fn health(l: &Layout, id: &ReleaseId, e: &HookEnv, command: &str, timeout_s: u64, interval: &str) -> String {
    format!(
        "cd {} || exit 1\n{}end=$(( $(date +%s) + {timeout_s} ))\n\
while :; do\n\
  left=$(( end - $(date +%s) )); [ \"$left\" -gt 0 ] || left=1\n\
  if out=$(timeout \"$left\" /bin/sh -c {} 2>&1); then exit 0; else rc=$?; fi\n\
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

/// Takes the host's lock (`mkdir` is atomic) and writes who holds it;
/// prints `lock=taken`, or `lock=held <details>` when someone else has it.
/// Fails first, naming the user, when `deploy_to` cannot be written (a
/// read-only or foreign directory must not look like a held lock). Holding
/// the lock, it clears staging left by a run that died (no one else stages
/// without the lock).
pub(crate) fn lock(l: &Layout, details_json: &str) -> String {
    let dir = l.join(".ship/lock");
    let ship = quote(&l.join(".ship"));
    let msg = quote(&format!(
        "{} is not writable by this user: create it and give the SSH user write access (e.g. chown), or change deploy_to",
        l.root()
    ));
    let unwritten = quote(&format!(
        "cannot write {dir}/details.json (disk full?): the lock was not taken; free space, then run again"
    ));
    // The leading newline: a login shell that prints something without a
    // final newline must not glue it to `lock=taken`.
    format!(
        "echo\n\
if ! mkdir -p {ship} || [ ! -w {ship} ]; then echo \"ship: $(id -un 2>/dev/null):\" {msg} >&2; exit 1; fi\n\
if mkdir {} 2>/dev/null; then \
if ! printf '%s\\n' {} > {}; then rm -rf {}; echo {unwritten} >&2; exit 1; fi; \
rm -rf {}/*; echo lock=taken; \
else printf 'lock=held %s\\n' \"$(head -c 4096 {} 2>/dev/null | tr -d '\\n')\"; fi\n",
        quote(&dir),
        quote(details_json),
        quote(&format!("{dir}/details.json")),
        quote(&dir),
        quote(&l.join(".ship/staging")),
        quote(&format!("{dir}/details.json")),
    )
}

/// Releases the lock only if its details contain `needle` (the run's token,
/// or `"holder":"user@machine"` for `ship unlock`); prints `unlocked=1` if so.
pub(crate) fn unlock(l: &Layout, needle: &str) -> String {
    let dir = l.join(".ship/lock");
    format!(
        "if grep -qF {} {} 2>/dev/null; then rm -rf {}; echo unlocked=1; fi\n",
        quote(needle),
        quote(&format!("{dir}/details.json")),
        quote(&dir)
    )
}

/// [`unlock`], then logs `log_line` if the lock is gone.
pub(crate) fn unlock_and_log(l: &Layout, needle: &str, log_line: &str) -> String {
    format!("{}[ -d {} ] || {}", unlock(l, needle), quote(&l.join(".ship/lock")), append_log(l, log_line))
}

/// The last round trip of a deploy on one host: mark the release bad (if
/// it failed), log, prune, release our lock.
pub(crate) fn finalize(
    l: &Layout,
    bad: Option<(&ReleaseId, &str)>,
    log_line: &str,
    prune: &[ReleaseId],
    token: &str,
) -> String {
    let mut s = bad.map(|(id, why)| mark_bad(l, id, why)).unwrap_or_default();
    s += &finish(l, prune, log_line);
    s += &unlock(l, token);
    s
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

/// Breaks the lock whoever holds it, and logs that it did.
pub(crate) fn force_unlock(l: &Layout, log_line: &str) -> String {
    format!("rm -rf {}\nprintf '%s\\n' {} >> {}\n", quote(&l.join(".ship/lock")), quote(log_line), quote(&l.log()))
}

/// Marks a release as bad (who, when, why) so rollback skips it.
pub(crate) fn mark_bad(l: &Layout, id: &ReleaseId, why_json: &str) -> String {
    let dir = l.release(id);
    format!(
        "if [ -d {} ]; then printf '%s\\n' {} > {}; fi\n",
        quote(&format!("{dir}/.ship")),
        quote(why_json),
        quote(&format!("{dir}/.ship/bad"))
    )
}

/// Appends one line to `.ship/log.jsonl`.
pub(crate) fn append_log(l: &Layout, line: &str) -> String {
    format!("printf '%s\\n' {} >> {}\n", quote(line), quote(&l.log()))
}

/// Writes release `id` as a gzip tarball to stdout (to copy it to a host
/// that lacks it).
pub(crate) fn pack_release(l: &Layout, id: &ReleaseId) -> String {
    format!("tar -czf - -C {} .\n", quote(&l.release(id)))
}

/// Prints release `id`'s release.json.
pub(crate) fn release_json(l: &Layout, id: &ReleaseId) -> String {
    format!("cat {}\n", quote(&format!("{}/.ship/release.json", l.release(id))))
}

/// The last `n` lines of `.ship/log.jsonl`.
pub(crate) fn read_log(l: &Layout, n: usize) -> String {
    format!("tail -n {n} {} 2>/dev/null || true\n", quote(&l.log()))
}

/// Removes the given releases and appends one line to `.ship/log.jsonl`.
pub(crate) fn finish(l: &Layout, prune: &[ReleaseId], log_line: &str) -> String {
    let mut s = String::from("set -e\n");
    s += &format!("printf '%s\\n' {} >> {}\n", quote(log_line), quote(&l.log()));
    if !prune.is_empty() {
        let dirs: Vec<String> = prune.iter().map(|id| quote(&l.release(id))).collect();
        s += &format!("rm -rf -- {}\n", dirs.join(" "));
    }
    s
}

/// Undoes a staged-but-unswitched release: removes its staging files and its
/// `releases/<id>` directory unless `current` already points at it.
pub(crate) fn abort(l: &Layout, id: &ReleaseId) -> String {
    let stage = l.staging(id);
    format!(
        "rm -rf {} {} {} {}\n\
if [ \"$(readlink -e {} 2>/dev/null)\" != \"$(readlink -e {} 2>/dev/null)\" ]; then rm -rf {}; fi\n",
        quote(&stage),
        quote(&format!("{stage}.fifo")),
        quote(&format!("{stage}.sha256")),
        quote(&format!("{stage}.tgz")),
        quote(&l.current()),
        quote(&l.release(id)),
        quote(&l.release(id)),
    )
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
            sequence(&[("switch", "set -e\nmv a b\n".into()), ("restart", "echo 'hi'\n".into())]),
            "echo ship-step=switch\n/bin/sh -c 'set -e\nmv a b\n' || exit $?\n\
echo ship-step=restart\n/bin/sh -c 'echo '\\''hi'\\''\n' || exit $?\n"
        );
    }

    #[test]
    fn sequence_stops_at_the_first_failing_step_and_keeps_set_e() {
        let script = sequence(&[("one", "set -e\nfalse\necho not-reached\n".into()), ("two", "echo two\n".into())]);
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
    fn health_script() {
        let s = health(&Layout::new("/d"), &id(), &HookEnv::default(), "curl -fsS http://x/up", 30, "0.5");
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
        let script =
            read_secrets(&names) + &sequence(&[("restart", "printf '%s|%s|' \"$API_TOKEN\" \"$DB_PASS\"; cat".into())]);
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
rm -rf /d/.ship/staging/*; echo lock=taken; \
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
                "{}{}{}",
                mark_bad(&Layout::new("/d"), &id(), "{}"),
                "set -e\nprintf '%s\\n' L >> /d/.ship/log.jsonl\nrm -rf -- /d/releases/20250101000000\n",
                unlock(&Layout::new("/d"), "tok")
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
            "set -e\nprintf '%s\\n' '{\"event\":\"deploy\"}' >> /d/.ship/log.jsonl\nrm -rf -- /d/releases/20250101000000\n"
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
if ! curl -fsSL --proto =http,https --retry 2 --connect-timeout 30 -o {st}.tgz -K -; then rm -f {st}.tgz; \
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
        assert!(w.contains(&format!("if ! wget -nv --tries=3 --connect-timeout=30 -O {st}.tgz -i -; then")), "{w}");
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
        assert_eq!(
            abort(&Layout::new("/d"), &id()),
            "rm -rf /d/.ship/staging/20261122070102 /d/.ship/staging/20261122070102.fifo /d/.ship/staging/20261122070102.sha256 \
/d/.ship/staging/20261122070102.tgz\n\
if [ \"$(readlink -e /d/current 2>/dev/null)\" != \"$(readlink -e /d/releases/20261122070102 2>/dev/null)\" ]; \
then rm -rf /d/releases/20261122070102; fi\n"
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
