//! The hosts.toml schema, parsed with serde and checked before anything
//! connects. Errors name the file, the line and the key, and say what to do.
//!
//! Key names here are ship's public interface: `hosts.toml.example` at the
//! repository root documents each of them.

mod checks;
pub(crate) mod duration;
pub(crate) mod jump;
pub(crate) mod pull;
mod sections;
mod values;

use checks::{check_deploy_to, check_relative, overlap};
pub(crate) use checks::{is_deploy_path, is_name, not_a_name};
pub(crate) use sections::*;
pub(crate) use values::{is_address, HealthUrl, HttpUrl};

use crate::error::ConfigError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// hosts.toml as written, before defaults are applied.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// What is deployed and where it lives on each host.
    pub app: App,
    /// How to reach the hosts.
    #[serde(default)]
    pub ssh: Ssh,
    /// How hosts are released: all at once or in waves.
    #[serde(default)]
    pub strategy: Strategy,
    /// How ship decides that a restarted host is healthy.
    #[serde(default)]
    pub health: Health,
    /// How ship proves that the new release's processes serve.
    #[serde(default)]
    pub verify: Verify,
    /// Per-role services (`[roles.web]`, `[roles.worker]`).
    #[serde(default)]
    pub roles: std::collections::BTreeMap<String, RoleService>,
    /// Commands run at fixed points of a deploy.
    #[serde(default)]
    pub hooks: Hooks,
    /// Where deploys and rollbacks are announced.
    #[serde(default)]
    pub notify: Notify,
    /// Where hosts download the archive themselves (pull mode).
    #[serde(default)]
    pub artifact: ArtifactSource,
    /// The static host list.
    #[serde(default)]
    pub hosts: Vec<HostEntry>,
    /// Dynamic host sources, merged with `hosts`.
    #[serde(default)]
    pub inventory: Vec<Inventory>,
    /// `[env.<name>]` tables, merged over the rest by `-e/--env NAME`.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, toml::Table>,
    /// The selected environment asks before changing anything.
    #[serde(skip)]
    pub confirm: bool,
    /// The selected environment, if any.
    #[serde(skip)]
    pub env_name: Option<String>,
}

/// Keys an `[env.<name>]` table may set.
const ENV_KEYS: [&str; 12] = [
    "app",
    "ssh",
    "strategy",
    "health",
    "verify",
    "roles",
    "hooks",
    "notify",
    "artifact",
    "hosts",
    "inventory",
    "confirm",
];

/// Tables merge key by key; anything else (values, arrays such as
/// `[[hosts]]`) replaces what the base file had.
fn deep_merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => deep_merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Config {
    /// Reads, parses and validates a hosts.toml, with environment `env`
    /// (`[env.<env>]`) merged over it when given.
    pub(crate) fn load(path: &Path, env: Option<&str>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::file(path, format!("cannot read it ({e}); pass another file with -c/--config or SHIP_CONFIG"))
        })?;
        let base = Config::parse(path, &text)?;
        let Some(name) = env else { return Ok(base) };
        let Some(over) = base.env.get(name).cloned() else {
            let known: Vec<&str> = base.env.keys().map(String::as_str).collect();
            let known =
                if known.is_empty() { "none is defined".to_string() } else { format!("known: {}", known.join(", ")) };
            return Err(ConfigError::file(
                path,
                format!("no [env.{name}] table ({known}); check -e/--env or SHIP_ENV"),
            ));
        };
        let mut over = over;
        if let Some(k) = over.keys().find(|k| !ENV_KEYS.contains(&k.as_str())) {
            return Err(ConfigError::file(
                path,
                format!("[env.{name}]: unknown key `{k}`; an environment may set {}", ENV_KEYS.join(", ")),
            ));
        }
        let confirm = match over.remove("confirm") {
            None => false,
            Some(toml::Value::Boolean(b)) => b,
            Some(_) => return Err(ConfigError::file(path, format!("[env.{name}]: confirm must be true or false"))),
        };
        let mut merged: toml::Table =
            toml::from_str(&text).map_err(|e| ConfigError::file(path, e.message().trim().to_string()))?;
        merged.remove("env");
        // An environment that says where its hosts come from says it whole:
        // its `hosts` or `inventory` replaces both of the base's, so a
        // production inventory never keeps the base's staging hosts.
        if over.contains_key("hosts") || over.contains_key("inventory") {
            merged.remove("hosts");
            merged.remove("inventory");
        }
        deep_merge(&mut merged, over);
        let merged_text = toml::to_string(&merged).map_err(|e| ConfigError::file(path, e.to_string()))?;
        // Lines of the merged text are not lines of the file: name the environment instead.
        let mut config = Config::parse(path, &merged_text).map_err(|e| ConfigError {
            path: e.path,
            line: None,
            message: format!("with [env.{name}] applied: {}", e.message),
        })?;
        config.confirm = confirm;
        config.env_name = Some(name.to_string());
        Ok(config)
    }

    /// Parses and validates hosts.toml text; `path` is only used in errors.
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let l = Locator { path, text };
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let message = match e.span().and_then(|sp| key_at(text, sp.start)) {
                Some((key, label)) if !e.message().contains(&format!("`{key}`")) => {
                    format!("{label}: {}", e.message().trim())
                }
                _ => e.message().trim().to_string(),
            };
            l.at(e.span(), message)
        })?;
        check_app(&config, &l)?;
        check_linked(&config, &l)?;
        check_verify(&config, &l)?;
        parse_values(&mut config, &l)?;
        check_hosts(&config, &l)?;
        Ok(config)
    }

    /// The identity file, with `~` expanded and relative paths taken from the
    /// config file's directory.
    pub(crate) fn identity_file(&self, config_path: &Path, home: Option<&Path>) -> Option<PathBuf> {
        let f = self.ssh.identity_file.as_ref()?;
        Some(resolve_path(f.get_ref(), config_path, home))
    }
}

/// Expands `~/` and makes a relative path relative to the config file.
pub(crate) fn resolve_path(p: &str, config_path: &Path, home: Option<&Path>) -> PathBuf {
    if let (Some(rest), Some(home)) = (p.strip_prefix("~/"), home) {
        return home.join(rest);
    }
    let path = PathBuf::from(p);
    if path.is_absolute() {
        path
    } else {
        config_path.parent().unwrap_or(Path::new(".")).join(path)
    }
}

/// The key of the `key = value` line holding `offset`, and a label such as
/// ``key `port` in [[hosts]]``.
fn key_at(text: &str, offset: usize) -> Option<(String, String)> {
    let start = text[..offset.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let key = line.split_once('=')?.0.trim();
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let table = text[..start].lines().rev().map(str::trim).find(|l| l.starts_with('['));
    let label = match table {
        Some(t) => format!("key `{key}` in {t}"),
        None => format!("key `{key}`"),
    };
    Some((key.to_string(), label))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Turns a span of hosts.toml into an error naming the file and line.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn at(&self, span: Option<std::ops::Range<usize>>, message: String) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            line: span.filter(|s| s.end > 0).map(|s| line_of(self.text, s.start)),
            message,
        }
    }
}

fn check_app(config: &Config, l: &Locator<'_>) -> Result<(), ConfigError> {
    let name = &config.app.name;
    if !is_name(name.get_ref()) {
        return Err(l.at(Some(name.span()), not_a_name(&format!("app.name `{}`", name.get_ref()))));
    }
    check_deploy_to("app.deploy_to", &config.app.deploy_to).map_err(|m| l.at(Some(config.app.deploy_to.span()), m))?;
    if *config.app.keep_releases.get_ref() == 0 {
        return Err(l.at(
            Some(config.app.keep_releases.span()),
            "app.keep_releases must be at least 1 (the current release)".into(),
        ));
    }
    Ok(())
}

/// Linked paths are relative, and none inside another: a path inside
/// another one would be written through the other's symlink, i.e. into
/// shared/ itself.
fn check_linked(config: &Config, l: &Locator<'_>) -> Result<(), ConfigError> {
    let linked: Vec<(&str, &Spanned<String>)> = config
        .app
        .linked_dirs
        .iter()
        .map(|p| ("app.linked_dirs", p))
        .chain(config.app.linked_files.iter().map(|p| ("app.linked_files", p)))
        .collect();
    for (key, p) in &linked {
        check_relative(p.get_ref()).map_err(|m| l.at(Some(p.span()), format!("{key}: `{}` {m}", p.get_ref())))?;
    }
    for (i, (key, p)) in linked.iter().enumerate() {
        for (other_key, q) in &linked[..i] {
            if let Some(how) = overlap(q.get_ref(), p.get_ref()) {
                return Err(l.at(
                    Some(p.span()),
                    format!(
                        "{key}: `{}` {how} `{}` ({other_key}); linked paths may not repeat or nest: \
keep only the outer one (files under a linked dir are already shared)",
                        p.get_ref(),
                        q.get_ref()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `[verify]` names the service's processes in a way ship can use.
fn check_verify(config: &Config, l: &Locator<'_>) -> Result<(), ConfigError> {
    check_verify_table(&config.verify, "verify", l)?;
    for (role, service) in &config.roles {
        if !is_name(role) {
            return Err(l.at(None, not_a_name(&format!("[roles.{role}]: role `{role}`"))));
        }
        check_verify_table(&service.verify, &format!("roles.{role}.verify"), l)?;
    }
    if let Some(role) = &config.hooks.run_once_role {
        if !is_name(role) {
            return Err(l.at(None, not_a_name(&format!("hooks.run_once_role `{role}`"))));
        }
    }
    Ok(())
}

/// One `[verify]` table (`key` names it in errors).
fn check_verify_table(v: &Verify, key: &str, l: &Locator<'_>) -> Result<(), ConfigError> {
    if let Some(p) = &v.pidfile {
        check_relative(p.get_ref()).map_err(|m| {
            l.at(Some(p.span()), format!("{key}.pidfile: `{}` {m} (it is relative to deploy_to)", p.get_ref()))
        })?;
    }
    if v.port == Some(0) {
        return Err(l.at(None, format!("{key}.port must be the port the service listens on (1-65535)")));
    }
    if let Some(u) = &v.unit {
        let name = u.get_ref();
        let fine = !name.is_empty()
            && !name.starts_with('-')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"@._:-\\".contains(&b));
        if !fine {
            return Err(
                l.at(Some(u.span()), format!("{key}.unit `{name}` is not a systemd unit name (e.g. app.service)"))
            );
        }
    }
    if v.timeout.is_some() && !v.is_set() {
        return Err(l.at(
            None,
            format!("[{key}] has a timeout but no way to find the service's processes: set pidfile, port or unit"),
        ));
    }
    Ok(())
}

/// Values with a shape of their own, parsed once, here: the health URL,
/// the pull URL template, jump specs.
fn parse_values(config: &mut Config, l: &Locator<'_>) -> Result<(), ConfigError> {
    if let Some(url) = &config.health.url {
        let parsed = HealthUrl::parse(url.get_ref()).map_err(|m| l.at(Some(url.span()), format!("health.url: {m}")))?;
        config.health.http = Some(parsed);
    }
    for (role, service) in &mut config.roles {
        if let Some(url) = &service.health.url {
            let parsed = HealthUrl::parse(url.get_ref())
                .map_err(|m| l.at(Some(url.span()), format!("roles.{role}.health.url: {m}")))?;
            service.health.http = Some(parsed);
        }
    }
    for h in &mut config.hosts {
        if let Some(url) = &h.health_url {
            let parsed = HealthUrl::parse(url.get_ref())
                .map_err(|m| l.at(Some(url.span()), format!("host `{}`: health_url: {m}", h.name.get_ref())))?;
            h.health = Some(parsed);
        }
    }
    if let Some(url) = &config.artifact.url {
        let parsed = crate::config::pull::UrlTemplate::parse(url.get_ref())
            .map_err(|m| l.at(Some(url.span()), format!("artifact.url: {m}")))?;
        config.artifact.template = Some(parsed);
    }
    for j in config.ssh.jump.iter().chain(config.hosts.iter().filter_map(|h| h.jump.as_ref())) {
        crate::config::jump::parse(j.get_ref()).map_err(|m| l.at(Some(j.span()), m))?;
    }
    Ok(())
}

fn check_hosts(config: &Config, l: &Locator<'_>) -> Result<(), ConfigError> {
    let err = |s: std::ops::Range<usize>, m: String| Err(l.at(Some(s), m));
    let mut seen = std::collections::HashSet::new();
    for h in &config.hosts {
        let name = h.name.get_ref();
        if !is_name(name) {
            return err(h.name.span(), not_a_name(&format!("host name `{name}`")));
        }
        if !seen.insert(name.clone()) {
            return err(h.name.span(), format!("host name `{name}` is used twice; names must be unique"));
        }
        if !is_address(h.address.get_ref()) {
            return err(
                h.address.span(),
                format!("host `{name}`: address `{}` is not a host name or IP address", h.address.get_ref()),
            );
        }
        for r in &h.roles {
            if !is_name(r.get_ref()) {
                return err(r.span(), not_a_name(&format!("host `{name}`: role `{}`", r.get_ref())));
            }
        }
        if let Some(d) = &h.deploy_to {
            check_deploy_to("deploy_to", d).map_err(|m| l.at(Some(d.span()), format!("host `{name}`: {m}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const GOOD: &str = r#"
[app]
name = "demo"
deploy_to = "/srv/demo"
linked_dirs = ["log"]

[ssh]
user = "deploy"
connect_timeout = "5s"

[[hosts]]
name = "web1"
address = "127.0.0.1"
port = 2222
roles = ["web"]
"#;

    fn parse(t: &str) -> Result<Config, String> {
        Config::parse(Path::new("hosts.toml"), t).map_err(|e| e.to_string())
    }

    #[test]
    fn roles_have_their_own_services() {
        let base = "[app]\nname = \"a\"\ndeploy_to = \"/d\"\n";
        let c = parse(&format!(
            "{base}[roles.web]\nrestart = \"r\"\nhealth = {{ url = \"http://{{address}}:3000/up\" }}\n\
verify = {{ port = 3000 }}\n[roles.worker]\nrestart = \"w\"\n[hooks]\nrun_once_role = \"db\"\n"
        ))
        .unwrap();
        assert_eq!(c.roles.keys().collect::<Vec<_>>(), ["web", "worker"]);
        assert!(c.roles["web"].health.http.is_some() && c.roles["web"].verify.port == Some(3000));
        assert!(parse(&format!("{base}[roles.web]\nhealth = {{ url = \"https://x/\" }}\n"))
            .unwrap_err()
            .contains("roles.web.health.url"));
        assert!(parse(&format!("{base}[roles.web]\nverify = {{ pidfile = \"/abs\" }}\n"))
            .unwrap_err()
            .contains("roles.web.verify.pidfile"));
        assert!(parse(&format!("{base}[roles.web]\nrestat = \"x\"\n")).unwrap_err().contains("restat"));
    }

    #[test]
    fn verify_is_checked() {
        let base = "[app]\nname = \"a\"\ndeploy_to = \"/d\"\n[verify]\n";
        assert!(
            parse(&format!("{base}pidfile = \"shared/tmp/server.pid\"\nport = 8080\nunit = \"app.service\"\n")).is_ok()
        );
        assert!(parse(&format!("{base}pidfile = \"/run/app.pid\"\n")).unwrap_err().contains("verify.pidfile"));
        assert!(parse(&format!("{base}unit = \"a b\"\n")).unwrap_err().contains("not a systemd unit name"));
        assert!(parse(&format!("{base}port = 0\n")).unwrap_err().contains("verify.port"));
        assert!(parse(&format!("{base}timeout = \"5s\"\n")).unwrap_err().contains("no way to find"));
    }

    #[test]
    fn parses_the_documented_keys() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.app.name.get_ref(), "demo");
        assert_eq!(*c.app.keep_releases.get_ref(), 5);
        assert_eq!(c.ssh.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.hosts[0].port, Some(2222));
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = parse(&GOOD.replace("user = \"deploy\"", "user = \"deploy\"\ncolour = \"red\"")).unwrap_err();
        assert!(e.starts_with("hosts.toml:9: unknown field `colour`"), "{e}");
    }

    #[test]
    fn wrong_type_names_line() {
        let e = parse(&GOOD.replace("port = 2222", "port = \"x\"")).unwrap_err();
        assert!(e.starts_with("hosts.toml:14: key `port` in [[hosts]]: invalid type"), "{e}");
    }

    #[test]
    fn bad_duration_names_line() {
        let e = parse(&GOOD.replace("\"5s\"", "\"5 parsecs\"")).unwrap_err();
        assert!(e.starts_with("hosts.toml:9: key `connect_timeout` in [ssh]") && e.contains("unit"), "{e}");
    }

    #[test]
    fn relative_deploy_to_is_refused() {
        let e = parse(&GOOD.replace("/srv/demo", "srv/demo")).unwrap_err();
        assert!(e.starts_with("hosts.toml:4:") && e.contains("absolute"), "{e}");
    }

    #[test]
    fn option_like_host_name_is_just_a_bad_name() {
        let e = parse(&GOOD.replace("\"web1\"", "\"-oProxyCommand=touch /tmp/x\"")).unwrap_err();
        assert!(e.starts_with("hosts.toml:12:") && e.contains("host name"), "{e}");
    }

    #[test]
    fn linked_path_escaping_shared_is_refused() {
        let e = parse(&GOOD.replace("[\"log\"]", "[\"../etc\"]")).unwrap_err();
        assert!(e.starts_with("hosts.toml:5:") && e.contains(".."), "{e}");
    }

    #[test]
    fn repeated_or_nested_linked_paths_are_refused() {
        let nested =
            GOOD.replace("linked_dirs = [\"log\"]", "linked_dirs = [\"config\"]\nlinked_files = [\"config/db.yml\"]");
        let e = parse(&nested).unwrap_err();
        assert!(e.starts_with("hosts.toml:6:") && e.contains("`config/db.yml` is inside `config`"), "{e}");
        let twice = GOOD.replace("[\"log\"]", "[\"log\", \"log\"]");
        assert!(parse(&twice).unwrap_err().contains("`log` repeats `log`"));
        let outer_later = GOOD.replace("linked_dirs = [\"log\"]", "linked_dirs = [\"a/b\", \"a\"]");
        assert!(parse(&outer_later).unwrap_err().contains("`a` contains `a/b`"));
        assert!(parse(&GOOD.replace("[\"log\"]", "[\"log\", \"logs\", \"log2/x\"]")).is_ok());
    }

    #[test]
    fn duplicate_host_names_are_refused() {
        let twice = format!("{GOOD}\n[[hosts]]\nname = \"web1\"\naddress = \"127.0.0.2\"\n");
        assert!(parse(&twice).unwrap_err().contains("used twice"));
    }

    #[test]
    fn strategy_health_and_hooks_parse() {
        let t = format!(
            "{GOOD}\n[strategy]\nkind = \"rolling\"\nbatch = \"25%\"\ncanary = 1\npause = \"2s\"\non_failure = \"revert-wave\"\n\
[health]\nurl = \"http://127.0.0.1:8080/up\"\ntimeout = \"5s\"\n[hooks]\nrun_once = [\"./migrate\"]\n"
        );
        let c = parse(&t).unwrap();
        assert_eq!(c.strategy.kind, Some(StrategyKind::Rolling));
        assert_eq!(*c.strategy.batch.unwrap().get_ref(), Batch::Percent(25));
        assert_eq!(c.strategy.on_failure, Some(OnFailure::RevertWave));
        assert_eq!(c.hooks.run_once, ["./migrate"]);
        let n = parse(&format!("{GOOD}\n[strategy]\nbatch = 2\n")).unwrap();
        assert_eq!(*n.strategy.batch.unwrap().get_ref(), Batch::Count(2));
    }

    #[test]
    fn artifact_url_is_checked_and_names_the_line() {
        let ok = parse(&format!("{GOOD}\n[artifact]\nurl = \"https://cdn/app/{{sha256}}.tar.gz\"\n")).unwrap();
        assert_eq!(ok.artifact.url.unwrap().get_ref(), "https://cdn/app/{sha256}.tar.gz");
        let e = parse(&format!("{GOOD}\n[artifact]\nurl = \"https://cdn/{{version}}.tgz\"\n")).unwrap_err();
        assert!(e.starts_with("hosts.toml:18: artifact.url:") && e.contains("`{version}`"), "{e}");
    }

    #[test]
    fn bad_batch_and_url_name_the_line() {
        let e = parse(&format!("{GOOD}\n[strategy]\nbatch = \"0%\"\n")).unwrap_err();
        assert!(e.starts_with("hosts.toml:18:") && e.contains("1% and 100%"), "{e}");
        let e = parse(&format!("{GOOD}\n[health]\nurl = \"https://x/up\"\n")).unwrap_err();
        assert!(e.starts_with("hosts.toml:18: health.url") && e.contains("http://"), "{e}");
    }

    fn load_env(text: &str, env: Option<&str>) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(&p, env).map_err(|e| e.to_string())
    }

    #[test]
    fn environments_override_tables_and_replace_host_lists() {
        let t = format!(
            "{GOOD}\n[env.production]\nconfirm = true\napp = {{ keep_releases = 9 }}\nssh = {{ user = \"prod\" }}\n\
[[env.production.hosts]]\nname = \"prod1\"\naddress = \"127.0.0.9\"\n"
        );
        let base = load_env(&t, None).unwrap();
        assert_eq!(base.hosts[0].name.get_ref(), "web1");
        assert!(!base.confirm);
        let prod = load_env(&t, Some("production")).unwrap();
        assert_eq!(*prod.app.keep_releases.get_ref(), 9);
        assert_eq!(prod.app.deploy_to.get_ref(), "/srv/demo", "untouched keys stay");
        assert_eq!(prod.ssh.user.as_deref(), Some("prod"));
        assert_eq!(prod.ssh.connect_timeout, Some(Duration::from_secs(5)));
        assert_eq!(prod.hosts.len(), 1);
        assert_eq!(prod.hosts[0].name.get_ref(), "prod1");
        assert!(prod.confirm);
        assert!(load_env(&t, Some("staging")).unwrap_err().contains("no [env.staging] table (known: production)"));
    }

    #[test]
    fn environment_errors_name_the_environment() {
        let t = format!("{GOOD}\n[env.production]\napp = {{ colour = 1 }}\n");
        let e = load_env(&t, Some("production")).unwrap_err();
        assert!(e.contains("with [env.production] applied") && e.contains("colour"), "{e}");
        let t = format!("{GOOD}\n[env.production]\nregion = 1\n");
        assert!(load_env(&t, Some("production")).unwrap_err().contains("unknown key `region`"));
    }

    #[test]
    fn the_documented_example_parses() {
        // hosts.toml.example documents every key: it must stay valid.
        let c = Config::parse(Path::new("hosts.toml.example"), include_str!("../../hosts.toml.example")).unwrap();
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(c.strategy.kind, Some(StrategyKind::Rolling));
        assert!(c.health.url.is_some() && c.health.command.is_some());
        assert_eq!(c.hooks.run_once, ["./bin/migrate"]);
    }

    #[test]
    fn the_examples_hosts_toml_parses_with_its_environment() {
        let text = include_str!("../../examples/hosts.toml");
        let c = Config::parse(Path::new("examples/hosts.toml"), text).unwrap();
        assert_eq!(c.hosts.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hosts.toml");
        std::fs::write(&p, text).unwrap();
        let prod = Config::load(&p, Some("production")).unwrap();
        assert!(prod.confirm && prod.notify.slack_webhook.is_some());
    }

    #[test]
    fn resolve_path_expands_home_and_config_dir() {
        let cfg = Path::new("/etc/ship/hosts.toml");
        assert_eq!(resolve_path("~/.ssh/id", cfg, Some(Path::new("/home/u"))), PathBuf::from("/home/u/.ssh/id"));
        assert_eq!(resolve_path("keys/id", cfg, None), PathBuf::from("/etc/ship/keys/id"));
    }
}
