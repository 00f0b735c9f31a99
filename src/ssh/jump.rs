//! Jump host specs: `[user@]host[:port]`, comma-separated for a chain, as
//! OpenSSH's ProxyJump writes them. Each hop is reached through a
//! direct-tcpip channel of the one before it; every hop's host key is
//! verified like any other host's.

use crate::config::is_address;

/// One hop of a jump chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Login user; `None` means the host's own user.
    pub user: Option<String>,
    /// Address of the jump host.
    pub address: String,
    /// Its SSH port.
    pub port: u16,
}

/// Parses `a,user@b:2222,[::1]:22`.
pub fn parse(spec: &str) -> Result<Vec<Hop>, String> {
    spec.split(',').map(|part| parse_hop(part.trim())).collect()
}

fn parse_hop(s: &str) -> Result<Hop, String> {
    let (user, rest) = match s.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, s),
    };
    if let Some(u) = &user {
        if u.is_empty() || u.starts_with('-') || !u.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
            return Err(format!("jump host `{s}`: `{u}` is not a user name"));
        }
    }
    let (address, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (a, after) = inner.split_once(']').ok_or_else(|| format!("jump host `{s}`: unclosed `[`"))?;
        (a, after.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((a, p)) if !a.contains(':') => (a, Some(p)),
            _ => (rest, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("jump host `{s}`: `{p}` is not a port"))?,
        None => 22,
    };
    if !is_address(address) {
        return Err(format!("jump host `{s}`: `{address}` is not a host name or IP address"));
    }
    Ok(Hop { user, address: address.to_string(), port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chains_users_ports_and_ipv6() {
        assert_eq!(
            parse("bastion, ops@10.0.0.1:2222,[::1]:2200").unwrap(),
            [
                Hop { user: None, address: "bastion".into(), port: 22 },
                Hop { user: Some("ops".into()), address: "10.0.0.1".into(), port: 2222 },
                Hop { user: None, address: "::1".into(), port: 2200 },
            ]
        );
    }

    #[test]
    fn refuses_option_like_and_broken_specs() {
        assert!(parse("-oProxyCommand=x").is_err());
        assert!(parse("host:port").is_err());
        assert!(parse("-u@host").is_err());
        assert!(parse("").is_err());
    }
}
