//! Hosts from AWS EC2, through the official SDK and the standard credential
//! chain (env, profile, SSO, instance role). Only `running` instances unless
//! the filters say otherwise, every page of results, and the SSH address
//! taken from private-ip | public-ip | private-dns | public-dns | `tag:NAME`
//! (a tag may hold `host` or `host:port`, as fleets behind NAT do).

use super::command::Defaults;
use super::Host;
use crate::config::{is_address, is_name, Ec2Source};
use aws_sdk_ec2::types::{Filter, Instance};
use std::collections::BTreeMap;

/// Lists the matching instances as hosts.
pub(crate) async fn hosts(src: &Ec2Source, defaults: &Defaults) -> Result<Vec<Host>, String> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = &src.region {
        loader = loader.region(aws_config::Region::new(r.clone()));
    }
    if let Some(e) = &src.endpoint_url {
        loader = loader.endpoint_url(e.clone());
    }
    let client = aws_sdk_ec2::Client::new(&loader.load().await);
    let mut filters: Vec<Filter> =
        src.filters.iter().map(|(k, v)| Filter::builder().name(k).set_values(Some(v.values())).build()).collect();
    if !src.filters.contains_key("instance-state-name") {
        filters.push(Filter::builder().name("instance-state-name").values("running").build());
    }
    let mut pages = client
        .describe_instances()
        .set_filters(Some(filters))
        .max_results(src.page_size.unwrap_or(1000).clamp(5, 1000) as i32)
        .into_paginator()
        .send();
    let mut instances = Vec::new();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| format!("EC2 DescribeInstances failed: {}", aws_sdk_ec2::error::DisplayErrorContext(e)))?;
        for r in page.reservations() {
            instances.extend(r.instances().iter().cloned());
        }
    }
    to_hosts(&instances, src, defaults)
}

/// Instances -> hosts: names from `name_tag` (else the instance id; two
/// instances with one Name both stay, suffixed with their ids), roles from
/// the comma-separated `roles_tag`.
pub(crate) fn to_hosts(instances: &[Instance], src: &Ec2Source, defaults: &Defaults) -> Result<Vec<Host>, String> {
    let name_tag = src.name_tag.as_deref().unwrap_or("Name");
    let tag = |i: &Instance, key: &str| {
        i.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_string)
    };
    let base = |i: &Instance| tag(i, name_tag).unwrap_or_else(|| i.instance_id().unwrap_or("unnamed").to_string());
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for i in instances {
        *count.entry(base(i)).or_default() += 1;
    }
    let mode = src.address.as_deref().unwrap_or("private-ip");
    let mut hosts = Vec::new();
    for i in instances {
        let id = i.instance_id().unwrap_or("?");
        let mut name = base(i);
        if count[&name] > 1 {
            name = format!("{name}-{id}");
        }
        if !is_name(&name) {
            return Err(crate::config::not_a_name(&format!("EC2 instance {id}: name `{name}`")));
        }
        let raw = match mode {
            "private-ip" => i.private_ip_address().map(str::to_string),
            "public-ip" => i.public_ip_address().map(str::to_string),
            "private-dns" => i.private_dns_name().map(str::to_string),
            "public-dns" => i.public_dns_name().map(str::to_string),
            m => match m.strip_prefix("tag:") {
                Some(t) => tag(i, t),
                None => {
                    return Err(format!(
                        "ec2.address `{m}`: use private-ip, public-ip, private-dns, public-dns or tag:NAME"
                    ))
                }
            },
        }
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("EC2 instance {id} ({name}) has no {mode}"))?;
        let (address, port) = match raw.rsplit_once(':') {
            Some((a, p)) if mode.starts_with("tag:") && !a.contains(':') => {
                (a.to_string(), p.parse().map_err(|_| format!("EC2 instance {id}: `{raw}` has a bad port"))?)
            }
            _ => (raw.clone(), defaults.port),
        };
        if !is_address(&address) {
            return Err(format!("EC2 instance {id} ({name}): `{address}` is not a host name or IP address"));
        }
        let roles: Vec<String> = src
            .roles_tag
            .as_deref()
            .and_then(|t| tag(i, t))
            .map(|v| v.split(',').map(|r| r.trim().to_string()).filter(|r| is_name(r)).collect())
            .unwrap_or_default();
        let deploy_to =
            src.deploy_to_tag.as_deref().and_then(|t| tag(i, t)).unwrap_or_else(|| defaults.deploy_to.clone());
        if !crate::config::is_deploy_path(&deploy_to) {
            return Err(format!("EC2 instance {id} ({name}): deploy_to `{deploy_to}` must be an absolute path"));
        }
        let user = defaults.user.clone().ok_or_else(|| format!("EC2 host `{name}` has no SSH user: set [ssh] user"))?;
        hosts.push(Host {
            name,
            address,
            port,
            user,
            roles,
            deploy_to,
            source: format!("ec2 {}", src.region.as_deref().unwrap_or("(default region)")),
            jump: defaults.jump.clone(),
            health_url: None,
        });
    }
    hosts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(hosts)
}
