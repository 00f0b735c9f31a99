//! The services a host runs (the app's own, or its roles'), and what a
//! rollout with them cannot see: resolved once from hosts.toml, asked per
//! host by activation, the bake and `ship plan`/`check`.

use super::{HealthSettings, Settings, VerifySettings};
use crate::config::{Config, StrategyKind};
use crate::inventory::Host;
use std::time::Duration;

/// A service a host runs: the app's own (`[app] restart`, `[health]`,
/// `[verify]`) or a role's (`[roles.<name>]`).
#[derive(Debug, Clone)]
pub(crate) struct Service {
    /// `None` for the app's own.
    pub role: Option<String>,
    pub restart: Option<String>,
    pub health: HealthSettings,
    pub verify: Option<VerifySettings>,
}

/// The `[roles.<name>]` services. What a role's table leaves out it takes
/// from `[app]`, `[health]` and `[verify]` (`health`, `app_verify`): a
/// table added only for a role's health check keeps the app's restart.
pub(super) fn role_services(
    config: &Config,
    health: &HealthSettings,
    app_verify: &Option<VerifySettings>,
) -> Vec<Service> {
    config
        .roles
        .iter()
        .map(|(role, r)| {
            let own = r.health.command.is_some() || r.health.url.is_some();
            let health = if own { health_settings(&r.health) } else { health.clone() };
            Service {
                role: Some(role.clone()),
                restart: r.restart.clone().or_else(|| config.app.restart.clone()),
                verify: verify(&r.verify, &health).or_else(|| app_verify.clone()),
                health,
            }
        })
        .collect()
}

/// A `[health]` table (the app's or a role's) with defaults applied.
pub(super) fn health_settings(h: &crate::config::Health) -> HealthSettings {
    HealthSettings {
        command: h.command.clone(),
        url: h.http.clone(),
        timeout: h.timeout.unwrap_or(Duration::from_secs(30)),
        interval: h.interval.unwrap_or(Duration::from_secs(1)),
        expect_release: h.expect_release,
        bake: h.bake.unwrap_or_default(),
    }
}

/// `[verify]`, when it names a way to find the service's processes; its
/// timeout defaults to the health check's, at the health interval.
pub(super) fn verify(v: &crate::config::Verify, health: &HealthSettings) -> Option<VerifySettings> {
    v.is_set().then(|| VerifySettings {
        find: crate::remote::serving::Finder {
            pidfile: v.pidfile.as_ref().map(|p| p.get_ref().clone()),
            port: v.port,
            unit: v.unit.as_ref().map(|u| u.get_ref().clone()),
        },
        timeout: v.timeout.unwrap_or(health.timeout),
        interval: health.interval,
    })
}

impl Settings {
    /// The services `host` runs: those of its roles that have a
    /// `[roles.<name>]` table, else the app's own.
    pub(crate) fn services(&self, host: &Host) -> Vec<Service> {
        let mine: Vec<Service> =
            self.roles.iter().filter(|x| x.role.as_ref().is_some_and(|r| host.roles.contains(r))).cloned().collect();
        if !mine.is_empty() {
            return mine;
        }
        let app = Service {
            role: None,
            restart: self.config.app.restart.clone(),
            health: self.health.clone(),
            verify: self.verify.clone(),
        };
        vec![app]
    }

    /// Whether any service restarts (its step runs under `restart_timeout`).
    pub(crate) fn any_restart(services: &[Service]) -> bool {
        services.iter().any(|x| x.restart.is_some())
    }

    /// What a rolling deploy with these settings cannot see: without a
    /// health check a dead service passes, without `[verify]` a restart
    /// that kept the old code does. `ship plan` and `ship check` warn.
    pub(crate) fn blind_spots(&self) -> Vec<String> {
        if self.rollout.kind != StrategyKind::Rolling {
            return Vec::new();
        }
        let mut out = Vec::new();
        // Per host: each service it runs (the app's, or its roles').
        let checked = |h: &Host, x: &Service| {
            x.health.command.is_some() || x.health.url.is_some() || (x.role.is_none() && h.health_url.is_some())
        };
        let blind = |h: &&Host| !self.services(h).iter().all(|x| checked(h, x));
        if let Some(h) = self.hosts.iter().find(blind) {
            out.push(format!(
                "a rolling deploy without [health] (on {} and maybe others): this rollout cannot tell a dead service \
from a live one; add [health] command or url",
                h.name
            ));
        }
        let unverified = |h: &&Host| !self.services(h).iter().all(|x| x.verify.is_some());
        if self.hosts.iter().any(|h| unverified(&h)) {
            out.push(
                "a rolling deploy without [verify]: a restart that keeps running the old code passes; \
add [verify] pidfile, port or unit"
                    .to_string(),
            );
        }
        out
    }
}
