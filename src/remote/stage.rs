//! Scripts that put a release in place before any switch, all inside
//! `.ship/staging/<id>` until the rename (invariants 2 and 7): receive or
//! fetch the archive while hashing it, hard-link a delta's unchanged files,
//! link shared paths, promote into `releases/`; and abort, mark bad, pack.

use super::*;

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
            // A server that stalls (under 1 KiB/s for a minute) fails the download.
            (
                "curl",
                format!(
                    "curl -fsSL --proto =http,https --retry 2 --connect-timeout 30 --speed-limit 1024 --speed-time 60 \
-o {tgz} -K -"
                ),
            )
        }
        crate::config::pull::Fetcher::Wget => {
            ("wget", format!("wget -nv --tries=3 --connect-timeout=30 --read-timeout=60 -O {tgz} -i -"))
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

/// Writes release `id` as a gzip tarball to stdout (to copy it to a host
/// that lacks it).
pub(crate) fn pack_release(l: &Layout, id: &ReleaseId) -> String {
    format!("tar -czf - -C {} .\n", quote(&l.release(id)))
}

/// Undoes a staged-but-unswitched release: moves its staging files and its
/// `releases/<id>` directory (unless `current` already points at it) into
/// the trash, and deletes them in the background ([`empty_trash`]).
pub(crate) fn abort(l: &Layout, id: &ReleaseId) -> String {
    let stage = l.staging(id);
    let staged = [stage.clone(), format!("{stage}.fifo"), format!("{stage}.sha256"), format!("{stage}.tgz")];
    let staged: Vec<String> = staged.iter().map(|p| quote(p)).collect();
    format!(
        "{};\n\
if [ -d {} ] && [ \"$(readlink -e {} 2>/dev/null)\" != \"$(readlink -e {} 2>/dev/null)\" ]; then \
mv -T -- {} {}.$$; fi\n{}",
        to_trash(l, &staged.join(" "), "staging-"),
        quote(&l.release(id)),
        quote(&l.current()),
        quote(&l.release(id)),
        quote(&l.release(id)),
        quote(&format!("{}/release-{id}", l.trash())),
        empty_trash(l),
    )
}
