//! Host key verification during the handshake: only key types on file are
//! offered, a key is checked against every known_hosts file (our own
//! matcher, ARCHITECTURE.md SSH pitfall 7), and `accept-new` records an
//! unknown host.

use super::known_hosts::{self, KnownHosts, Verdict};
use super::session::Target;
use crate::config::HostKeyChecking;
use russh::client;
use russh::keys::{PublicKey, PublicKeyOrCertificate};
use std::sync::{Arc, Mutex};

/// The russh handler: judges the host key against known_hosts.
pub(crate) struct Verifier {
    pub(super) target: Target,
    pub(super) known: Arc<Mutex<KnownHosts>>,
    pub(super) checking: HostKeyChecking,
    pub(super) refusal: Arc<Mutex<Option<String>>>,
}

/// The refusal of a host that offers no host key of a type on file for it.
pub(super) fn other_key_types(
    address: &str,
    port: u16,
    offered: &[String],
    on_file: &[(String, String, String)],
    remove: &str,
) -> String {
    let name = known_hosts::host_name(address, port);
    let lines: Vec<String> = on_file.iter().map(|(kind, fp, at)| format!("{kind} {fp} at {at}")).collect();
    format!(
        "HOST KEY CHANGED for {name}: it offers only {} host keys, but known_hosts has {}. This may be an attack. \
If the host was really rebuilt, {remove} and verify the new key",
        offered.join(", "),
        lines.join(", ")
    )
}

/// What to run to remove `name`'s old lines from `files` (those that hold
/// them): `remove the old line (ssh-keygen -R 'name' -f FILE)`.
pub(super) fn remove_old(name: &str, files: &[&std::path::Path]) -> String {
    let commands: Vec<String> = files.iter().map(|f| format!("ssh-keygen -R '{name}' -f {}", f.display())).collect();
    match commands.len() {
        0 | 1 => format!("remove the old line ({})", commands.join("")),
        _ => format!("remove the old lines ({})", commands.join("; ")),
    }
}

impl client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(&mut self, offered: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                *self.refusal.lock().unwrap() =
                    Some("host offered a certificate; ship verifies plain host keys only".into());
                return Ok(false);
            }
        };
        let verdict = self.judge(key);
        if let Err(msg) = &verdict {
            *self.refusal.lock().unwrap() = Some(msg.clone());
        }
        Ok(verdict.is_ok())
    }
}

impl Verifier {
    fn judge(&self, key: &PublicKey) -> Result<(), String> {
        let Target { address, port, .. } = &self.target;
        let name = known_hosts::host_name(address, *port);
        let fp = known_hosts::fingerprint(key);
        let mut known = self.known.lock().unwrap();
        let file = known.path_for(address, *port).display().to_string();
        match known.check(address, *port, key) {
            Verdict::Known => Ok(()),
            // Refused whatever host_key_checking says, `off` included.
            Verdict::Revoked { at } => Err(format!(
                "host key {fp} of {name} is marked @revoked in {at}; ship will never use it: have the host's key replaced"
            )),
            _ if self.checking == HostKeyChecking::Off => Ok(()),
            Verdict::Changed { expected } => {
                let lines: Vec<String> = expected.iter().map(|(f, at)| format!("{f} at {at}")).collect();
                Err(format!(
                    "HOST KEY CHANGED for {name}: it offered {fp}, but known_hosts has {}. This may be an attack. \
If the host was really rebuilt, {} and verify the new key",
                    lines.join(", "),
                    remove_old(&name, &known.files_on_file(address, *port))
                ))
            }
            Verdict::Unknown if self.checking == HostKeyChecking::AcceptNew => known
                .record(address, *port, key)
                .map_err(|e| format!("cannot record the key of {name} in {file}: {e}")),
            Verdict::Unknown => Err(format!(
                "unknown host key for {name} ({fp}) and host_key_checking is strict: verify the fingerprint, then add it to {file} \
(e.g. ssh-keyscan -p {port} {address} >> {file}), or run once with host_key_checking = \"accept-new\""
            )),
        }
    }
}
