//! Client authentication against real sshd hosts: encrypted key files with
//! SHIP_KEY_PASSPHRASE, and a real ssh-agent.

use crate::support::Fleet;
use std::process::{Command, Stdio};

/// Replaces the fleet's client key with a passphrase-protected copy.
fn encrypt_key(f: &Fleet, passphrase: &str) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-p", "-N", passphrase, "-P", "", "-f"])
        .arg(&f.key)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn encrypted_key_is_decrypted_with_ship_key_passphrase() {
    let f = Fleet::start(2);
    encrypt_key(&f, "correct horse");
    f.ship_env(&[("SHIP_KEY_PASSPHRASE", "correct horse")], &["status"]).expect(0);
}

#[test]
fn encrypted_key_without_or_with_a_wrong_passphrase_is_a_clear_usage_error() {
    let f = Fleet::start(1);
    encrypt_key(&f, "correct horse");
    let run = f.ship_env(&[], &["status"]);
    run.expect(2);
    assert!(run.stderr.contains("is encrypted: set SHIP_KEY_PASSPHRASE"), "{}", run.stderr);
    let run = f.ship_env(&[("SHIP_KEY_PASSPHRASE", "battery staple")], &["status"]);
    run.expect(2);
    assert!(run.stderr.contains("wrong passphrase?"), "{}", run.stderr);
    assert!(!run.all().contains("battery staple"), "the passphrase must never be printed");
}

/// A real ssh-agent holding the fleet's key, stopped on drop.
struct Agent {
    pid: String,
    socket: std::path::PathBuf,
}

impl Agent {
    fn start(f: &Fleet) -> Agent {
        let socket = f.dir.path().join("agent.sock");
        let out = Command::new("ssh-agent").arg("-a").arg(&socket).arg("-s").output().expect("ssh-agent");
        let text = String::from_utf8(out.stdout).unwrap();
        let pid = text
            .split(';')
            .find_map(|p| p.trim().strip_prefix("SSH_AGENT_PID="))
            .expect("ssh-agent printed its pid")
            .to_string();
        let agent = Agent { pid, socket };
        let st = Command::new("ssh-add")
            .arg("-q")
            .arg(&f.key)
            .env("SSH_AUTH_SOCK", &agent.socket)
            .stdin(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "ssh-add failed");
        agent
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

#[test]
fn ssh_agent_is_used_when_no_identity_file_is_set() {
    let f = Fleet::start(1);
    let agent = Agent::start(&f);
    // Drop identity_file from hosts.toml.
    let cfg = std::fs::read_to_string(&f.config).unwrap();
    let cfg: String = cfg.lines().filter(|l| !l.starts_with("identity_file")).map(|l| format!("{l}\n")).collect();
    std::fs::write(&f.config, cfg).unwrap();
    // Hide the key file so only the agent can succeed.
    std::fs::rename(&f.key, f.dir.path().join("moved_key")).unwrap();
    let mut cmd = crate::support::fleet::ship_command(f.dir.path());
    cmd.arg("-c").arg(&f.config).arg("--no-progress").arg("status").env("SSH_AUTH_SOCK", &agent.socket);
    crate::support::fleet::run_with_timeout(cmd).expect(0);
    // Without the agent there is nothing to authenticate with.
    let run = f.ship_env(&[], &["status"]);
    run.expect(2);
    assert!(run.stderr.contains("no SSH identity"), "{}", run.stderr);
}
