//! Proof of serving: after a restart, the service's processes must run the
//! release `current` was just switched to. The script ([`serving`]) finds
//! them the ways `[verify]` names (a pidfile, the process listening on a
//! port, a systemd unit) plus all their descendants, and prints each one's
//! working directory, executable, command line and the files it maps from
//! under deploy_to; [`Serving::problem`] judges them.
//!
//! This catches what a health check cannot: a phased restart that re-execs
//! from the old directory, a reload that never happened, a worker that
//! kept its old cwd, an outgoing process still answering the probe, code
//! of a pruned release still mapped.

use super::{quote, Layout};
use crate::release::ReleaseId;

/// How `[verify]` finds the service's processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Finder {
    /// Relative to deploy_to.
    pub pidfile: Option<String>,
    pub port: Option<u16>,
    pub unit: Option<String>,
}

/// Prints `root=` (the real path of `releases/<id>`), `deploy=` (of
/// deploy_to), `missing=<way>` for a way that found nothing, and per
/// process `proc=<pid> <cwd> <exe> <cmdline>` (hex; the exe `-` when it
/// cannot be read), `unreadable=<pid>` when its cwd cannot be read though
/// it runs (not when it has just exited or is a zombie), and
/// `map=<pid> <path>` for every file it maps from under deploy_to.
pub(crate) fn serving(l: &Layout, id: &ReleaseId, find: &Finder) -> String {
    let mut s = format!(
        "ship_hex() {{ od -An -v -tx1 | tr -d ' \\n'; }}\n\
cd {} || exit 1\n\
root=$(pwd -P); deploy=$(cd {} && pwd -P) || exit 1; rels=$(cd {} && pwd -P) || exit 1\n\
printf root=; printf '%s' \"$root\" | ship_hex; echo\n\
printf deploy=; printf '%s' \"$deploy\" | ship_hex; echo\n\
printf releases=; printf '%s' \"$rels\" | ship_hex; echo\n\
pids=\n",
        quote(&l.release(id)),
        quote(l.root()),
        quote(&l.releases())
    );
    if let Some(p) = &find.pidfile {
        let f = quote(&l.join(p));
        s += &format!(
            "if [ -r {f} ]; then p=$(head -n 1 {f} | head -c 32 | tr -cd '0-9'); \
if [ -n \"$p\" ] && [ -d /proc/$p ] && ! sed 's/.*) //' /proc/$p/stat 2>/dev/null | grep -q '^[ZX]'; \
then pids=\"$pids $p\"; else echo missing=pidfile; fi; else echo missing=pidfile; fi\n"
        );
    }
    if let Some(port) = find.port {
        s += &format!(
            "inodes=$(awk 'FNR > 1 && $4 == \"0A\" && substr($2, length($2) - 3) == \"{port:04X}\" {{ print $10 }}' \
/proc/net/tcp /proc/net/tcp6 2>/dev/null)\n\
[ -n \"$inodes\" ] || echo missing=port\n\
for i in $inodes; do pids=\"$pids $(find /proc/[0-9]*/fd -maxdepth 1 -lname \"socket:\\[$i\\]\" 2>/dev/null | cut -d/ -f3 | tr '\\n' ' ')\"; done\n"
        );
    }
    if let Some(unit) = &find.unit {
        s += &format!(
            "cg=$(systemctl show -p ControlGroup --value {} 2>/dev/null)\n\
procs=/sys/fs/cgroup$cg/cgroup.procs; [ -r \"$procs\" ] || procs=/sys/fs/cgroup/systemd$cg/cgroup.procs\n\
if [ -n \"$cg\" ] && [ -r \"$procs\" ]; then pids=\"$pids $(tr '\\n' ' ' < \"$procs\")\"; else echo missing=unit; fi\n",
            quote(unit)
        );
    }
    // Every descendant too: a worker forked by the main process counts.
    s += "pids=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v roots=\"$pids\" '\
BEGIN { n = split(roots, r, \" \"); for (i = 1; i <= n; i++) want[r[i]] = 1 } \
{ pid = $1; sub(/.*\\) /, \"\"); parent[pid] = $2 } \
END { grown = 1; while (grown) { grown = 0; for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; grown = 1 } } \
for (p in want) if (p in parent) print p }')\n\
for p in $pids; do\n\
  if ! cwd=$(readlink /proc/$p/cwd); then\n\
    case $(sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f1) in ''|Z|X) ;; *) echo \"unreadable=$p\";; esac; continue\n\
  fi\n\
  exe=$(readlink /proc/$p/exe) || exe=-\n\
  printf 'proc=%s ' \"$p\"; printf '%s' \"$cwd\" | ship_hex; printf ' '; printf '%s' \"$exe\" | ship_hex; printf ' '\n\
  head -c 300 /proc/$p/cmdline | tr '\\0' ' ' | ship_hex\n\
  # Whether each path, as printed, names something on disk: a real name\n\
  # may end in \" (deleted)\" too.\n\
  if [ -e \"$cwd\" ]; then printf ' 1'; else printf ' 0'; fi; if [ -e \"$exe\" ]; then echo ' 1'; else echo ' 0'; fi\n\
  { sed -n 's#^[^/]*\\(/.*\\)$#\\1#p' /proc/$p/maps 2>/dev/null | sort -u | sed 's/^/map /'\n\
    for fd in /proc/$p/fd/*; do l=$(readlink \"$fd\") && printf 'fd %s\\n' \"$l\"; done; } | \
while IFS=' ' read -r kind m; do case $m in \"$deploy\"/*|\"$rels\"/*) printf '%s=%s ' \"$kind\" \"$p\"; printf '%s' \"$m\" | ship_hex; echo;; esac; done\n\
done\n";
    s
}

/// One process found by [`serving`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Process {
    pub pid: u32,
    pub cwd: String,
    /// `None` when it could not be read.
    pub exe: Option<String>,
    pub command: String,
    /// The cwd, as printed, names something on disk: a directory really
    /// named `… (deleted)` is not a removed one.
    pub cwd_on_disk: bool,
    /// The same for the executable.
    pub exe_on_disk: bool,
}

/// What [`serving`] printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Serving {
    /// The real path of the new release.
    pub root: String,
    /// The real path of deploy_to.
    pub deploy: String,
    /// The real path of `releases/` (another disk, when it is a symlink).
    pub releases: String,
    /// Ways of finding processes that found nothing.
    pub missing: Vec<String>,
    pub processes: Vec<Process>,
    /// Processes whose cwd could not be read (another user's).
    pub unreadable: Vec<u32>,
    /// Files mapped from under deploy_to or `releases/`, by pid.
    pub maps: Vec<(u32, String)>,
    /// Files held open under deploy_to or `releases/`, by pid.
    pub fds: Vec<(u32, String)>,
}

fn text(hex: &str) -> String {
    String::from_utf8_lossy(&crate::text::unhex(hex).unwrap_or_default()).into_owned()
}

const DELETED: &str = " (deleted)";

impl Serving {
    pub(crate) fn parse(out: &str) -> Serving {
        let mut s = Serving::default();
        let pid_and_path = |value: &str| {
            let (pid, path) = value.split_once(' ')?;
            Some((pid.parse::<u32>().ok()?, text(path)))
        };
        for line in out.lines() {
            let Some((key, value)) = line.split_once('=') else { continue };
            match key {
                "root" => s.root = text(value),
                "deploy" => s.deploy = text(value),
                "releases" => s.releases = text(value),
                "missing" => s.missing.push(value.to_string()),
                "unreadable" => s.unreadable.extend(value.parse::<u32>().ok()),
                "proc" => {
                    let f: Vec<&str> = value.split(' ').collect();
                    let (pid, cwd, exe, cmd, on_disk) = match f[..] {
                        [pid, cwd, exe, cmd, c, e] => (pid, cwd, exe, cmd, (c == "1", e == "1")),
                        [pid, cwd, exe, cmd] => (pid, cwd, exe, cmd, (false, false)),
                        _ => continue,
                    };
                    let Ok(pid) = pid.parse() else { continue };
                    let exe = text(exe);
                    s.processes.push(Process {
                        pid,
                        cwd: text(cwd),
                        exe: (exe != "-").then_some(exe),
                        command: text(cmd).trim().to_string(),
                        cwd_on_disk: on_disk.0,
                        exe_on_disk: on_disk.1,
                    });
                }
                "map" => s.maps.extend(pid_and_path(value)),
                "fd" => s.fds.extend(pid_and_path(value)),
                _ => {}
            }
        }
        if s.releases.is_empty() {
            s.releases = format!("{}/releases", s.deploy);
        }
        s
    }

    /// The release (other than the new one) a path belongs to: under
    /// `releases/` (by its real path too), or a pruned one, which lives on
    /// while deleted under `.ship/trash` as `release-<id>.<n>` (see
    /// [`crate::remote::finish`]). `None` for the new release and for
    /// anything else (`shared/`, system files).
    fn other_release(&self, path: &str) -> Option<String> {
        let path = path.strip_suffix(DELETED).unwrap_or(path);
        if self.inside_new(path) {
            return None;
        }
        let first = |rest: &str| rest.split('/').next().unwrap_or(rest).to_string();
        for base in [format!("{}/", self.releases), format!("{}/releases/", self.deploy)] {
            if let Some(rest) = path.strip_prefix(&base) {
                return Some(first(rest));
            }
        }
        let trashed = path.strip_prefix(&format!("{}/.ship/trash/release-", self.deploy)).map(first)?;
        trashed.rsplit_once('.').map(|(id, _)| id.to_string())
    }

    /// A path for messages: `release X`, or the path itself.
    fn named(&self, path: &str) -> String {
        match self.other_release(path) {
            Some(r) => format!("release {r}"),
            None => format!("`{}`", path.strip_suffix(DELETED).unwrap_or(path)),
        }
    }

    fn inside_new(&self, path: &str) -> bool {
        path == self.root || path.starts_with(&format!("{}/", self.root))
    }

    /// Why the processes do not prove that release `id` serves; `None`
    /// when every one runs it.
    pub(crate) fn problem(&self, id: &ReleaseId) -> Option<String> {
        if self.root.is_empty() {
            return Some(format!("release {id} is not on the host"));
        }
        // A pidfile named but missing is a service that is not running (or
        // a [verify] that names the wrong file), even when a port or unit
        // finds other processes.
        if self.missing.iter().any(|m| m == "pidfile") && !self.processes.is_empty() {
            return Some(
                "the [verify] pidfile is missing or names no running process: the service did not write it (not \
running?), or [verify] names the wrong file"
                    .to_string(),
            );
        }
        if self.processes.is_empty() && self.unreadable.is_empty() {
            let how = if self.missing.is_empty() { String::new() } else { format!(" ({})", self.missing.join(", ")) };
            return Some(format!(
                "no process of the service was found by [verify]{how}: is it running? fix [verify] or the restart command"
            ));
        }
        if let Some(pid) = self.unreadable.first() {
            return Some(format!(
                "cannot read /proc/{pid}/cwd: the SSH user cannot see the service's processes; \
connect as the user the service runs as (or root), or remove [verify]"
            ));
        }
        let who = |pid: u32| {
            let cmd = self.processes.iter().find(|p| p.pid == pid).map_or("", |p| p.command.as_str());
            format!("pid {pid} (`{cmd}`)")
        };
        for p in &self.processes {
            if p.cwd.ends_with(DELETED) && !p.cwd_on_disk {
                return Some(format!(
                    "{} runs in a deleted directory, {} (its release was removed): it still runs old code",
                    who(p.pid),
                    self.named(&p.cwd)
                ));
            }
            if !self.inside_new(&p.cwd) {
                return Some(format!(
                    "{} runs in {}, not in the new release {id}: it was not restarted from `current`",
                    who(p.pid),
                    self.named(&p.cwd)
                ));
            }
            if let Some(exe) = &p.exe {
                let deleted = exe.ends_with(DELETED) && !p.exe_on_disk;
                if let Some(other) = self.other_release(exe).filter(|_| deleted || !self.inside_new(exe)) {
                    return Some(format!("{} runs the executable of release {other}, not of release {id}", who(p.pid)));
                }
            }
            // An interpreter's script: its path on the command line (ruby,
            // perl and python read it, then close it).
            if let Some(other) =
                p.command.split_whitespace().filter(|w| w.starts_with('/')).find_map(|w| self.other_release(w))
            {
                return Some(format!(
                    "{} runs a program of release {other} (its command line names it), not of release {id}",
                    who(p.pid)
                ));
            }
        }
        for (pid, path) in &self.maps {
            if let Some(other) = self.other_release(path) {
                return Some(format!(
                    "{} has code of release {other} loaded ({path}), not only release {id}",
                    who(*pid)
                ));
            }
        }
        for (pid, path) in &self.fds {
            if let Some(other) = self.other_release(path) {
                return Some(format!(
                    "{} holds a file of release {other} open ({path}): it still runs code of that release, not only {id}",
                    who(*pid)
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::hex;

    fn id() -> ReleaseId {
        ReleaseId::parse("20261122070102").unwrap()
    }

    fn h(s: &str) -> String {
        hex(s.as_bytes())
    }

    fn out(procs: &[(u32, &str, &str)]) -> String {
        let mut o = format!("root={}\ndeploy={}\n", h("/d/releases/20261122070102"), h("/d"));
        for (pid, cwd, exe) in procs {
            o += &format!("proc={pid} {} {} {}\n", h(cwd), h(exe), h("ruby server.rb "));
        }
        o
    }

    #[test]
    fn every_process_must_run_the_new_release() {
        let ok = out(&[
            (10, "/d/releases/20261122070102", "/usr/bin/ruby"),
            (11, "/d/releases/20261122070102/lib", "/usr/bin/ruby"),
        ]);
        assert_eq!(Serving::parse(&ok).problem(&id()), None);
        let old = out(&[(10, "/d/releases/20261122070102", "/usr/bin/ruby"), (11, "/d/releases/57", "/usr/bin/ruby")]);
        assert_eq!(
            Serving::parse(&old).problem(&id()).unwrap(),
            "pid 11 (`ruby server.rb`) runs in release 57, not in the new release 20261122070102: it was not restarted from `current`"
        );
        let gone = out(&[(10, "/d/releases/20261122070101 (deleted)", "/usr/bin/ruby")]);
        assert!(Serving::parse(&gone).problem(&id()).unwrap().contains("deleted directory, release 20261122070101"));
        let trashed = out(&[(10, "/d/.ship/trash/release-20261122070101.4242/lib (deleted)", "/usr/bin/ruby")]);
        assert!(Serving::parse(&trashed).problem(&id()).unwrap().contains("deleted directory, release 20261122070101"));
        let exe = out(&[(10, "/d/releases/20261122070102", "/d/releases/57/bin/server")]);
        assert!(Serving::parse(&exe).problem(&id()).unwrap().contains("executable of release 57"));
        // A sibling whose name starts like the new one's is not inside it.
        let sib = out(&[(10, "/d/releases/20261122070102-old", "/usr/bin/ruby")]);
        assert!(Serving::parse(&sib).problem(&id()).is_some());
        let mapped = ok.clone() + &format!("map=11 {}\n", h("/d/releases/57/lib/native.so"));
        assert!(Serving::parse(&mapped).problem(&id()).unwrap().contains("code of release 57 loaded"));
        // An interpreter's script of another release, named on its command line.
        let script = format!(
            "root={}\ndeploy={}\nproc=10 {} {} {}\n",
            h("/d/releases/20261122070102"),
            h("/d"),
            h("/d/releases/20261122070102"),
            h("/usr/bin/perl"),
            h("perl /d/releases/57/server.pl ")
        );
        assert!(Serving::parse(&script).problem(&id()).unwrap().contains("runs a program of release 57"));
        // shared/ (linked dirs) belongs to no release.
        let shared = ok.clone() + &format!("map=11 {}\n", h("/d/shared/vendor/lib/native.so"));
        assert_eq!(Serving::parse(&shared).problem(&id()), None);
        // A script of the old release held open.
        let open = ok.clone() + &format!("fd=10 {}\n", h("/d/releases/57/server.sh"));
        assert!(Serving::parse(&open).problem(&id()).unwrap().contains("holds a file of release 57 open"));
        // releases/ on another disk: its real path counts too.
        let other = format!("releases={}\n", h("/data/rel")) + &ok + &format!("map=10 {}\n", h("/data/rel/57/bin/x"));
        assert!(Serving::parse(&other).problem(&id()).unwrap().contains("code of release 57"));
        // A directory really named `… (deleted)` is not a removed one.
        let named = format!(
            "root={}\ndeploy={}\nproc=10 {} {} {} 1 1\n",
            h("/d/releases/20261122070102"),
            h("/d"),
            h("/d/releases/20261122070102/cache (deleted)"),
            h("/usr/bin/ruby"),
            h("ruby")
        );
        assert_eq!(Serving::parse(&named).problem(&id()), None);
    }

    #[test]
    fn nothing_found_or_unreadable_is_a_failure_that_says_why() {
        let none = format!("root={}\ndeploy={}\nmissing=pidfile\n", h("/d/releases/20261122070102"), h("/d"));
        assert!(Serving::parse(&none)
            .problem(&id())
            .unwrap()
            .contains("no process of the service was found by [verify] (pidfile)"));
        let other = none.clone() + "unreadable=42\n";
        assert!(Serving::parse(&other).problem(&id()).unwrap().starts_with("cannot read /proc/42/cwd"));
        assert!(Serving::parse("").problem(&id()).unwrap().contains("not on the host"));
    }

    #[test]
    fn script_finds_processes_the_ways_asked() {
        let l = Layout::new("/d");
        let none = serving(&l, &id(), &Finder::default());
        assert!(!none.contains("pidfile") && !none.contains("/proc/net/tcp") && !none.contains("systemctl"));
        let all = serving(
            &l,
            &id(),
            &Finder {
                pidfile: Some("shared/tmp/server.pid".into()),
                port: Some(8080),
                unit: Some("app.service".into()),
            },
        );
        assert!(
            all.starts_with("ship_hex() { od -An -v -tx1 | tr -d ' \\n'; }\ncd /d/releases/20261122070102 || exit 1\n"),
            "{all}"
        );
        assert!(all.contains("if [ -r /d/shared/tmp/server.pid ]; then"), "{all}");
        assert!(all.contains("== \"1F90\""), "{all}");
        assert!(all.contains("systemctl show -p ControlGroup --value app.service"), "{all}");
    }

    /// The port way, under sh: this test process listens on a port, so it
    /// is the process found, and it does not run in the release.
    #[test]
    fn script_finds_the_process_listening_on_a_port() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("releases/20261122070102")).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let l = Layout::new(root.to_str().unwrap());
        let script = serving(&l, &id(), &Finder { port: Some(port), ..Finder::default() });
        let run = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let s = Serving::parse(&String::from_utf8_lossy(&run.stdout));
        assert!(s.processes.iter().any(|p| p.pid == std::process::id()), "{s:?}");
        assert!(s.problem(&id()).unwrap().contains("not in the new release"), "{s:?}");
        drop(listener);
    }

    /// The script under sh, against this very process tree: a child
    /// started in a directory is found by its pidfile, with its cwd.
    #[test]
    fn script_runs_under_sh_and_finds_a_pidfile_process() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let rel = root.join("releases/20261122070102");
        std::fs::create_dir_all(&rel).unwrap();
        std::fs::create_dir_all(root.join("shared")).unwrap();
        let mut child = std::process::Command::new("sleep").arg("30").current_dir(&rel).spawn().unwrap();
        std::fs::write(root.join("shared/app.pid"), format!("{}\n", child.id())).unwrap();
        let l = Layout::new(root.to_str().unwrap());
        let script = serving(&l, &id(), &Finder { pidfile: Some("shared/app.pid".into()), ..Finder::default() });
        let run = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let s = Serving::parse(&String::from_utf8_lossy(&run.stdout));
        assert_eq!(s.root, rel.to_str().unwrap());
        assert_eq!(s.processes.len(), 1, "{s:?}");
        assert_eq!(s.processes[0].cwd, rel.to_str().unwrap());
        assert_eq!(s.processes[0].command, "sleep 30");
        assert_eq!(s.problem(&id()), None);
    }
}
