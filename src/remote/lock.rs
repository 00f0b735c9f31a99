//! Scripts that take and release the host lock (`mkdir`, atomic) and write
//! the host log: the end of a run (prune, log, unlock) in one round trip.

use super::*;

/// Takes the host's lock (`mkdir` is atomic) and writes who holds it;
/// prints `lock=taken`, or `lock=held <details>` when someone else has it.
/// Fails first, naming the user, when `deploy_to` cannot be written (a
/// read-only or foreign directory must not look like a held lock). Holding
/// the lock (said first), it moves staging left by a run that died into
/// the trash (renames: quick whatever their size; no one else stages
/// without the lock); [`empty_trash`] deletes them later.
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
echo lock=taken; {}; \
else printf 'lock=held %s\\n' \"$(head -c 4096 {} 2>/dev/null | tr -d '\\n')\"; fi\n",
        quote(&dir),
        quote(details_json),
        quote(&format!("{dir}/details.json")),
        quote(&dir),
        to_trash(l, &format!("{}/*", quote(&l.join(".ship/staging"))), "staging-"),
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
/// it failed), log, move the pruned releases out of `releases/`, release
/// our lock, and only then delete them (the slow part, last).
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
    s += &empty_trash(l);
    s
}

/// Breaks the lock whoever holds it, and logs that it did.
pub(crate) fn force_unlock(l: &Layout, log_line: &str) -> String {
    format!("rm -rf {}\nprintf '%s\\n' {} >> {}\n", quote(&l.join(".ship/lock")), quote(log_line), quote(&l.log()))
}

/// Appends one line to `.ship/log.jsonl`.
pub(crate) fn append_log(l: &Layout, line: &str) -> String {
    format!("printf '%s\\n' {} >> {}\n", quote(line), quote(&l.log()))
}

/// Appends one line to `.ship/log.jsonl` and moves the given releases out
/// of `releases/` into the trash (a rename: all or nothing per release);
/// [`empty_trash`] deletes them.
pub(crate) fn finish(l: &Layout, prune: &[ReleaseId], log_line: &str) -> String {
    let mut s = String::from("set -e\n");
    s += &format!("printf '%s\\n' {} >> {}\n", quote(log_line), quote(&l.log()));
    if !prune.is_empty() {
        s += &format!("{}\n", make_trash(l));
        for id in prune {
            s += &format!("mv -T -- {} {}.$$\n", quote(&l.release(id)), quote(&format!("{}/release-{id}", l.trash())));
        }
    }
    s
}

/// Deletes what [`finish`], [`abort`] or [`lock`] moved to the trash, in
/// the background: deleting a large release takes as long as the disk
/// does, and no run should wait for it (or fail at its time limit). What a
/// deletion cut short leaves is garbage in the trash, never half a release.
pub(crate) fn empty_trash(l: &Layout) -> String {
    let trash = quote(&l.trash());
    format!("if [ ! -L {trash} ]; then (rm -rf {trash}/* </dev/null >/dev/null 2>&1 &); fi\n")
}

/// Makes the trash a directory of ship's own: a symlink put there (to move
/// it to another disk, say) is removed, never followed, so nothing ship
/// deletes is outside `.ship/trash`.
fn make_trash(l: &Layout) -> String {
    let trash = quote(&l.trash());
    format!("{{ if [ -L {trash} ]; then rm -f {trash}; fi; mkdir -p {trash}; }}")
}

/// A loop that renames every existing path `glob` matches into the trash,
/// named `<prefix><name>.<pid>`: one statement, for `;`-joined scripts.
pub(crate) fn to_trash(l: &Layout, glob: &str, prefix: &str) -> String {
    let trash = quote(&l.trash());
    format!(
        "{} && for p in {glob}; do if [ -e \"$p\" ] || [ -L \"$p\" ]; then \
mv -T -- \"$p\" {trash}/{prefix}\"${{p##*/}}\".$$; fi; done",
        make_trash(l)
    )
}
