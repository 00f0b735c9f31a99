//! Jump host specs: `[user@]host[:port]` (or `ssh://[user@]host[:port]`),
//! comma-separated for a chain, as OpenSSH's ProxyJump writes them. Each hop is reached through a
//! direct-tcpip channel of the one before it; every hop's host key is
//! verified like any other host's.

use super::values::is_address;

/// One hop of a jump chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hop {
    /// Login user; `None` means the host's own user.
    pub user: Option<String>,
    /// Address of the jump host.
    pub address: String,
    /// Its SSH port; `None` means not given (22, or ssh_config's Port).
    pub port: Option<u16>,
}

/// A jump chain, parsed once where it is read (hosts.toml, ssh_config,
/// an inventory default) and written back as its spec where it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain(Vec<Hop>);

impl Chain {
    pub(crate) fn parse(spec: &str) -> Result<Chain, String> {
        parse(spec).map(Chain)
    }

    pub(crate) fn from_hops(hops: Vec<Hop>) -> Chain {
        Chain(hops)
    }

    /// The hops, the first one connected to first.
    pub(crate) fn hops(&self) -> &[Hop] {
        &self.0
    }
}

impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&spec(&self.0))
    }
}

impl serde::Serialize for Chain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses `a,user@b:2222,[::1]:22`.
pub(crate) fn parse(spec: &str) -> Result<Vec<Hop>, String> {
    spec.split(',').map(|part| parse_hop(part.trim())).collect()
}

/// Writes hops back as a spec: `user@host:port`, `[v6]:port`.
pub(crate) fn spec(hops: &[Hop]) -> String {
    let one = |h: &Hop| {
        let user = h.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
        let address = if h.address.contains(':') { format!("[{}]", h.address) } else { h.address.clone() };
        match h.port {
            Some(p) => format!("{user}{address}:{p}"),
            None => format!("{user}{address}"),
        }
    };
    hops.iter().map(one).collect::<Vec<_>>().join(",")
}

fn parse_hop(s: &str) -> Result<Hop, String> {
    let bare = s.strip_prefix("ssh://").unwrap_or(s);
    let (user, rest) = match bare.rsplit_once('@') {
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
        Some(p) => Some(p.parse().map_err(|_| format!("jump host `{s}`: `{p}` is not a port"))?),
        None => None,
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
                Hop { user: None, address: "bastion".into(), port: None },
                Hop { user: Some("ops".into()), address: "10.0.0.1".into(), port: Some(2222) },
                Hop { user: None, address: "::1".into(), port: Some(2200) },
            ]
        );
        assert_eq!(parse("ssh://ops@b:22").unwrap(), parse("ops@b:22").unwrap());
    }

    #[test]
    fn specs_round_trip() {
        let text = "bastion,ops@10.0.0.1:2222,[::1]:2200";
        assert_eq!(spec(&parse(text).unwrap()), text);
    }

    #[test]
    fn refuses_option_like_and_broken_specs() {
        assert!(parse("-oProxyCommand=x").is_err());
        assert!(parse("host:port").is_err());
        assert!(parse("-u@host").is_err());
        assert!(parse("").is_err());
    }
}
