//! What ship authenticates with: key files decrypted once per run (bcrypt
//! costs ~180 ms a key, ARCHITECTURE.md SSH pitfall 6), or the ssh-agent.

use russh::keys::{self, PrivateKey};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Authentication material shared by every host's connection.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// Decrypted private keys, tried in order.
    Keys(Vec<(PathBuf, Arc<PrivateKey>)>),
    /// An ssh-agent listening on this socket.
    Agent(PathBuf),
}

/// Where the credentials come from, as resolved by [`crate::settings`].
#[derive(Debug, Clone)]
pub(crate) struct CredentialSource {
    /// `[ssh] identity_file`, if set.
    pub identity_file: Option<PathBuf>,
    /// IdentityFile entries of ssh_config for the selected hosts.
    pub extra_identities: Vec<PathBuf>,
    /// `SHIP_KEY_PASSPHRASE`, if set.
    pub passphrase: Option<String>,
    /// `SSH_AUTH_SOCK`, if set.
    pub agent_socket: Option<PathBuf>,
    /// The user's home, for the default key files.
    pub home: Option<PathBuf>,
    /// Whether a passphrase may be asked for on the terminal.
    pub interactive: bool,
}

impl Credentials {
    /// Loads the identity file, else ssh_config's IdentityFiles, else uses
    /// the agent, else the default key files.
    pub(crate) fn load(src: &CredentialSource) -> Result<Credentials, String> {
        if let Some(path) = &src.identity_file {
            return Ok(Credentials::Keys(vec![(path.clone(), Arc::new(load_key(path, src)?))]));
        }
        let from_ssh_config: Vec<&PathBuf> = src.extra_identities.iter().filter(|p| p.exists()).collect();
        if !from_ssh_config.is_empty() {
            let keys = from_ssh_config
                .into_iter()
                .map(|p| load_key(p, src).map(|k| (p.clone(), Arc::new(k))))
                .collect::<Result<_, _>>()?;
            return Ok(Credentials::Keys(keys));
        }
        if let Some(sock) = &src.agent_socket {
            return Ok(Credentials::Agent(sock.clone()));
        }
        let defaults: Vec<PathBuf> = src
            .home
            .iter()
            .flat_map(|h| ["id_ed25519", "id_ecdsa", "id_rsa"].map(|n| h.join(".ssh").join(n)))
            .filter(|p| p.exists())
            .collect();
        if defaults.is_empty() {
            return Err(
                "no SSH identity: set [ssh] identity_file in hosts.toml, or start ssh-agent (SSH_AUTH_SOCK)".into()
            );
        }
        let keys =
            defaults.into_iter().map(|p| load_key(&p, src).map(|k| (p, Arc::new(k)))).collect::<Result<_, _>>()?;
        Ok(Credentials::Keys(keys))
    }
}

fn load_key(path: &Path, src: &CredentialSource) -> Result<PrivateKey, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read identity file {shown}: {e}; fix [ssh] identity_file"))?;
    match keys::decode_secret_key(&text, None) {
        Ok(k) => Ok(k),
        Err(keys::Error::KeyIsEncrypted) => {
            let pass = match &src.passphrase {
                Some(p) => p.clone(),
                None if src.interactive => rpassword::prompt_password(format!("Passphrase for {shown}: "))
                    .map_err(|e| format!("cannot read the passphrase for {shown}: {e}"))?,
                None => {
                    return Err(format!(
                        "identity file {shown} is encrypted: set SHIP_KEY_PASSPHRASE, or run on a terminal to be asked"
                    ))
                }
            };
            // The passphrase itself is never part of the message.
            keys::decode_secret_key(&text, Some(&pass))
                .map_err(|_| format!("cannot decrypt identity file {shown}: wrong passphrase?"))
        }
        Err(e) => Err(format!("identity file {shown} is not a private key ssh understands: {e}")),
    }
}
