//! The remote side of [`crate::ssh`]'s shell loop: one `/bin/sh` per
//! connection that runs every script of a run, each framed by markers, in
//! a process group of its own under its time limit; and the script that
//! ends a step's whole process tree.

use super::*;

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
