//! Hosts from any executable that prints Ansible inventory JSON (the
//! `ansible-inventory --list` contract): groups as lists or
//! `{hosts, vars, children}`, `_meta.hostvars`, `ansible_host`,
//! `ansible_port`, `ansible_user` (and `ship_deploy_to`) honoured, and every
//! group a host is in, directly or through `children`, becomes a role.

use super::Host;
use crate::config::{is_address, is_name};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Defaults for fields the inventory does not set.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    /// SSH user.
    pub user: Option<String>,
    /// SSH port.
    pub port: u16,
    /// deploy_to.
    pub deploy_to: String,
    /// `[ssh] jump`.
    pub jump: Option<crate::config::jump::Chain>,
}

/// Runs `command` under `/bin/sh` with a time limit and reads its hosts.
pub(crate) fn hosts(
    command: &str,
    timeout: Duration,
    defaults: &Defaults,
    stopped: &dyn Fn() -> bool,
) -> Result<Vec<Host>, String> {
    let stdout = run_capped(command, timeout, OUTPUT_CAP, stopped)?;
    parse(&stdout, defaults, &format!("inventory: {command}")).map_err(|e| {
        let head: String = stdout.lines().take(3).collect::<Vec<_>>().join(" | ");
        format!("inventory command `{command}`: {e}; it printed: {}", if head.is_empty() { "(nothing)" } else { &head })
    })
}

/// The most an inventory command may print: far beyond any real inventory
/// (tens of thousands of hosts with their vars), small enough that a
/// runaway command cannot exhaust memory.
pub(crate) const OUTPUT_CAP: usize = 64 << 20;

/// How much of its stderr is kept, for messages.
const STDERR_TAIL: usize = 64 << 10;

/// Runs `command` in a process group of its own, so the time limit ends
/// everything it started. Whatever of that group is still running when
/// `/bin/sh` exits is stopped too: a leftover holding stdout would
/// otherwise keep ship waiting for the end of the output.
/// Ctrl-C or SIGTERM (`stopped`) ends the group at once too: nothing has
/// been contacted yet. (One wait loop over the child, its two readers, the
/// deadline and `stopped`: they share the exit status and what was read.)
fn run_capped(command: &str, timeout: Duration, cap: usize, stopped: &dyn Fn() -> bool) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("inventory command `{command}` could not start: {e}"))?;
    let group = child.id();
    let kill_group = || kill_group(group);
    // Both streams are read by threads into shared buffers (at most `cap`
    // bytes of stdout, the tail of stderr), and say when they reach the end.
    let (tx, rx) = mpsc::channel::<Read>();
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let err_buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx_out, out_w, err_w) = (tx.clone(), out_buf.clone(), err_buf.clone());
    std::thread::spawn(move || read_head(&mut out, &out_w, cap, &tx_out));
    std::thread::spawn(move || read_tail(&mut err, &err_w, &tx));
    let deadline = Instant::now() + timeout;
    let late = || {
        format!(
            "inventory command `{command}` did not finish within {}s (inventory timeout); its process group was stopped",
            timeout.as_secs_f64()
        )
    };
    let mut status = None;
    let (mut out_done, mut err_done) = (false, false);
    // Once `/bin/sh` has exited and its group is gone, a pipe still open is
    // held by something that left the group (`setsid`, a daemon): what was
    // printed by then is the output; ship does not wait for the helper.
    let mut drained_by = None;
    while status.is_none() || !out_done || !err_done {
        if status.is_none() {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                status = Some(st);
                // What the shell left behind ends with it.
                kill_group();
                drained_by = Some(Instant::now() + EXIT_GRACE);
            }
        }
        if drained_by.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        if stopped() {
            kill_group();
            let _ = child.wait();
            return Err(format!(
                "inventory command `{command}` was stopped by Ctrl-C or SIGTERM, with its process group; no host was contacted"
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            kill_group();
            let _ = child.wait();
            return Err(late());
        }
        match rx.recv_timeout(left.min(Duration::from_millis(20))) {
            Ok(Read::StdoutDone) => out_done = true,
            Ok(Read::StderrDone) => err_done = true,
            Ok(Read::TooMuch) => {
                kill_group();
                let _ = child.wait();
                return Err(format!(
                    "inventory command `{command}` printed more than {} MiB; it was stopped. \
An inventory is JSON describing hosts: check that the command prints only that",
                    cap >> 20
                ));
            }
            Err(_) => {}
        }
    }
    let Some(status) = status else { unreachable!() };
    let stdout = String::from_utf8_lossy(&std::mem::take(&mut *out_buf.lock().unwrap())).into_owned();
    let stderr = String::from_utf8_lossy(&std::mem::take(&mut *err_buf.lock().unwrap())).into_owned();
    if !status.success() {
        let head: Vec<&str> = stderr.lines().chain(stdout.lines()).take(5).collect();
        return Err(format!("inventory command `{command}` failed ({status}): {}", head.join(" | ")));
    }
    Ok(stdout)
}

/// Kills process group `group`. The shell's own `kill` reaches a whole
/// group (no unsafe code, no extra tool).
fn kill_group(group: u32) {
    let _ = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("kill -KILL -{group} 2>/dev/null"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Reads `from` into `into` until its end ([`Read::StdoutDone`]), or until
/// it would pass `cap` bytes ([`Read::TooMuch`]).
fn read_head(
    from: &mut impl std::io::Read,
    into: &std::sync::Mutex<Vec<u8>>,
    cap: usize,
    done: &std::sync::mpsc::Sender<Read>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut v = into.lock().unwrap();
                if v.len() + n > cap {
                    let _ = done.send(Read::TooMuch);
                    return;
                }
                v.extend_from_slice(&buf[..n]);
            }
        }
    }
    let _ = done.send(Read::StdoutDone);
}

/// Reads `from` to its end, keeping about its last [`STDERR_TAIL`] bytes.
fn read_tail(from: &mut impl std::io::Read, into: &std::sync::Mutex<Vec<u8>>, done: &std::sync::mpsc::Sender<Read>) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let mut v = into.lock().unwrap();
                v.extend_from_slice(&buf[..n]);
                if v.len() > 2 * STDERR_TAIL {
                    let cut = v.len() - STDERR_TAIL;
                    v.drain(..cut);
                }
            }
        }
    }
    let _ = done.send(Read::StderrDone);
}

/// What a reader thread of [`run_capped`] reports.
enum Read {
    /// Stdout reached its end.
    StdoutDone,
    /// Stderr reached its end.
    StderrDone,
    /// Stdout went past the cap.
    TooMuch,
}

/// How long output may still arrive after `/bin/sh` exited and its group
/// was stopped.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// A group: its hosts, vars and child groups.
#[derive(Default)]
struct Group {
    hosts: Vec<String>,
    vars: Map<String, Value>,
    children: Vec<String>,
}

/// Parses Ansible inventory JSON into hosts, sorted by name.
pub(crate) fn parse(json: &str, defaults: &Defaults, source: &str) -> Result<Vec<Host>, String> {
    let root: Value = serde_json::from_str(json).map_err(|e| format!("not JSON ({e})"))?;
    let root = root.as_object().ok_or("not an Ansible inventory: the top level must be an object of groups")?;
    let hostvars =
        root.get("_meta").and_then(|m| m.get("hostvars")).and_then(Value::as_object).cloned().unwrap_or_default();
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (name, g) in root.iter().filter(|(k, _)| *k != "_meta") {
        let group = match g {
            Value::Array(list) => Group { hosts: strings(list, name)?, ..Group::default() },
            Value::Object(o) => Group {
                hosts: o.get("hosts").map(|h| as_list(h, name)).transpose()?.unwrap_or_default(),
                vars: o.get("vars").and_then(Value::as_object).cloned().unwrap_or_default(),
                children: o.get("children").map(|c| as_list(c, name)).transpose()?.unwrap_or_default(),
            },
            _ => return Err(format!("group `{name}` is neither a list of hosts nor an object")),
        };
        groups.insert(name.clone(), group);
    }
    // Every group a host belongs to, directly or through children.
    let mut member_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in groups.keys() {
        let mut seen = BTreeSet::new();
        collect(&groups, name, &mut seen, &mut |h| {
            member_of.entry(h.to_string()).or_default().insert(name.clone());
        });
    }
    for h in hostvars.keys() {
        member_of.entry(h.clone()).or_default();
    }
    let mut hosts = Vec::new();
    for (name, in_groups) in member_of {
        // Host vars win over group vars (Ansible's precedence, simplified).
        let var = |key: &str| -> Option<Value> {
            hostvars
                .get(&name)
                .and_then(|v| v.get(key))
                .cloned()
                .or_else(|| in_groups.iter().filter(|g| *g != "all").find_map(|g| groups[g].vars.get(key).cloned()))
                .or_else(|| groups.get("all").and_then(|g| g.vars.get(key).cloned()))
        };
        let text = |key: &str| var(key).and_then(|v| v.as_str().map(str::to_string));
        if !is_name(&name) {
            return Err(crate::config::not_a_name(&format!("host name `{name}`")));
        }
        let address = text("ansible_host").unwrap_or_else(|| name.clone());
        if !is_address(&address) {
            return Err(format!("host `{name}`: ansible_host `{address}` is not a host name or IP address"));
        }
        let port = match var("ansible_port") {
            None => defaults.port,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| format!("host `{name}`: ansible_port {v} is not a port number"))?,
        };
        let user = text("ansible_user")
            .or_else(|| defaults.user.clone())
            .ok_or_else(|| format!("host `{name}` has no SSH user: set ansible_user or [ssh] user"))?;
        let deploy_to = text("ship_deploy_to").unwrap_or_else(|| defaults.deploy_to.clone());
        if !crate::config::is_deploy_path(&deploy_to) {
            return Err(format!("host `{name}`: ship_deploy_to `{deploy_to}` must be an absolute path"));
        }
        let roles: Vec<String> =
            in_groups.into_iter().filter(|g| g != "all" && g != "ungrouped" && is_name(g)).collect();
        hosts.push(Host {
            name,
            address,
            port,
            user,
            roles,
            deploy_to,
            source: source.to_string(),
            jump: defaults.jump.clone(),
            health_url: None,
        });
    }
    Ok(hosts)
}

fn collect(groups: &BTreeMap<String, Group>, name: &str, seen: &mut BTreeSet<String>, add: &mut dyn FnMut(&str)) {
    if !seen.insert(name.to_string()) {
        return; // a cycle of children
    }
    if let Some(g) = groups.get(name) {
        g.hosts.iter().for_each(|h| add(h));
        for c in &g.children {
            collect(groups, c, seen, add);
        }
    }
}

fn as_list(v: &Value, group: &str) -> Result<Vec<String>, String> {
    match v {
        Value::Array(a) => strings(a, group),
        // `hosts` as an object keyed by host name (YAML-style inventories).
        Value::Object(o) => Ok(o.keys().cloned().collect()),
        _ => Err(format!("group `{group}` has hosts/children that are not a list")),
    }
}

fn strings(list: &[Value], group: &str) -> Result<Vec<String>, String> {
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("group `{group}` lists something that is not a name: {v}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d() -> Defaults {
        Defaults { user: Some("deploy".into()), port: 22, deploy_to: "/srv/app".into(), jump: None }
    }

    #[test]
    fn groups_hostvars_and_children() {
        let json = r#"{
          "_meta": {"hostvars": {"web1": {"ansible_host": "127.0.0.5", "ansible_port": 2201},
                                 "db1": {"ansible_user": "pg", "ship_deploy_to": "/srv/db"}}},
          "all": {"children": ["ungrouped", "web", "db"], "vars": {"ansible_port": 2222}},
          "web": {"hosts": ["web1", "web2"], "children": ["web_eu"]},
          "web_eu": ["web3"],
          "db": {"hosts": ["db1"], "vars": {"ansible_user": "dba"}}
        }"#;
        let hosts = parse(json, &d(), "inventory: x").unwrap();
        let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["db1", "web1", "web2", "web3"]);
        let web1 = &hosts[1];
        assert_eq!((web1.address.as_str(), web1.port, web1.user.as_str()), ("127.0.0.5", 2201, "deploy"));
        assert_eq!(web1.roles, ["web"]);
        assert_eq!(hosts[2].port, 2222, "all:vars apply");
        assert_eq!(hosts[3].roles, ["web", "web_eu"], "children make parents' roles");
        assert_eq!(hosts[0].user, "pg", "host vars beat group vars");
        assert_eq!(hosts[0].deploy_to, "/srv/db");
    }

    #[test]
    fn garbage_and_hostile_values_are_errors() {
        assert!(parse("not json", &d(), "x").unwrap_err().contains("not JSON"));
        assert!(parse("[1]", &d(), "x").unwrap_err().contains("top level"));
        let bad = r#"{"web": ["-oProxyCommand=x"]}"#;
        assert!(parse(bad, &d(), "x").unwrap_err().contains("host name"));
        let bad = r#"{"_meta": {"hostvars": {"w": {"ansible_host": "$(id)"}}}, "web": ["w"]}"#;
        assert!(parse(bad, &d(), "x").unwrap_err().contains("ansible_host"));
    }

    #[test]
    fn failing_and_hanging_commands_are_named() {
        let e = hosts("echo boom >&2; exit 3", Duration::from_secs(5), &d(), &|| false).unwrap_err();
        assert!(e.contains("`echo boom >&2; exit 3` failed") && e.contains("boom"), "{e}");
        let e = hosts("sleep 5", Duration::from_millis(200), &d(), &|| false).unwrap_err();
        assert!(e.contains("did not finish within 0.2s"), "{e}");
        let e = hosts("echo '{oops'", Duration::from_secs(5), &d(), &|| false).unwrap_err();
        assert!(e.contains("not JSON") && e.contains("{oops"), "{e}");
    }

    #[test]
    fn a_leftover_holding_stdout_is_stopped_when_the_shell_exits() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        let cmd = format!("(sleep 60 & echo $! > {}); echo '{{\"web\": [\"a\"]}}'", pid.display());
        let t0 = Instant::now();
        let hosts = hosts(&cmd, Duration::from_secs(30), &d(), &|| false).unwrap();
        assert_eq!(hosts.len(), 1);
        assert!(t0.elapsed() < Duration::from_secs(20), "waited for the leftover");
        let pid = std::fs::read_to_string(&pid).unwrap();
        assert!(!alive(pid.trim()), "the leftover sleep {pid} still runs");
    }

    #[test]
    fn the_time_limit_stops_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let pid = dir.path().join("pid");
        let cmd = format!("sleep 60 & echo $! > {}; sleep 60", pid.display());
        let e = hosts(&cmd, Duration::from_millis(300), &d(), &|| false).unwrap_err();
        assert!(e.contains("did not finish within 0.3s") && e.contains("its process group was stopped"), "{e}");
        let pid = std::fs::read_to_string(&pid).unwrap();
        assert!(!alive(pid.trim()), "the background sleep {pid} still runs");
    }

    #[test]
    fn output_beyond_the_cap_is_an_error() {
        let e =
            run_capped("head -c 3000000 /dev/zero; sleep 60", Duration::from_secs(30), 1 << 20, &|| false).unwrap_err();
        assert!(e.contains("printed more than 1 MiB") && e.contains("it was stopped"), "{e}");
        assert!(run_capped("head -c 1000 /dev/zero", Duration::from_secs(30), 1 << 20, &|| false).is_ok());
    }

    /// Whether process `pid` exists and is not a zombie, waiting up to 5 s
    /// for a killed one to go.
    fn alive(pid: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
            let running = state.is_some_and(|s| s.rsplit(") ").next().is_some_and(|r| !r.starts_with('Z')));
            if !running || Instant::now() > deadline {
                return running;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
