//! Authentication: the run's credentials tried in order (a key file,
//! the default keys, the ssh-agent), with one clear error when none works.

use super::credentials::Credentials;
use super::session::SshError;
use super::verify::Verifier;
use russh::client::Handle;
use russh::keys::PrivateKeyWithHashAlg;

pub(super) async fn authenticate(
    handle: &mut Handle<Verifier>,
    user: &str,
    creds: &Credentials,
) -> Result<(), SshError> {
    let auth_err = |detail: String| SshError::Auth { user: user.to_string(), detail };
    match creds {
        Credentials::Keys(keys) => {
            let rsa_hash = handle.best_supported_rsa_hash().await?.flatten();
            for (_, key) in keys {
                let k = PrivateKeyWithHashAlg::new(key.clone(), rsa_hash);
                if handle.authenticate_publickey(user, k).await?.success() {
                    return Ok(());
                }
            }
            let names: Vec<String> = keys.iter().map(|(p, _)| p.display().to_string()).collect();
            Err(auth_err(format!("tried key {}", names.join(", "))))
        }
        Credentials::Agent(sock) => {
            let mut agent = russh::keys::agent::client::AgentClient::connect_uds(sock)
                .await
                .map_err(|e| auth_err(format!("cannot reach ssh-agent at {}: {e}", sock.display())))?;
            let ids = agent.request_identities().await.map_err(|e| auth_err(format!("ssh-agent: {e}")))?;
            let rsa_hash = handle.best_supported_rsa_hash().await?.flatten();
            let mut tried = 0;
            for id in ids {
                let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = id else {
                    continue;
                };
                tried += 1;
                if let Ok(r) = handle.authenticate_publickey_with(user, key, rsa_hash, &mut agent).await {
                    if r.success() {
                        return Ok(());
                    }
                }
            }
            Err(auth_err(format!("tried {tried} key(s) from ssh-agent")))
        }
    }
}
