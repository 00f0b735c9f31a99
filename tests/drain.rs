//! Drain and undrain (issue 15): per host, in its wave, the load balancer
//! hooks run around its switch, in a documented order, on real sshd hosts.

use crate::support::Fleet;

/// A hosts.toml body where every hook and the restart append
/// `<what> <host>` to `log`.
fn logging(log: &std::path::Path, health: &str) -> String {
    let l = log.display();
    let hook = |what: &str| format!("['echo \"{what} $SHIP_HOST\" >> {l}']");
    format!(
        "restart = 'echo \"restart $SHIP_HOST\" >> {l}'\n\n[strategy]\nkind = \"rolling\"\nbatch = 1\n\n\
[health]\ncommand = '{health}'\ntimeout = \"2s\"\ninterval = \"200ms\"\n\n[hooks]\n\
before_switch = {}\ndrain = {}\nundrain = {}\nlocal_drain = {}\nlocal_undrain = {}\nafter_switch = {}\n",
        hook("before_switch"),
        hook("drain"),
        hook("undrain"),
        hook("local_drain"),
        hook("local_undrain"),
        hook("after_switch"),
    )
}

fn lines(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn each_host_is_drained_switched_checked_and_undrained_in_its_wave() {
    let f = Fleet::start(2);
    let log = f.dir.path().join("order.log");
    f.configure(&logging(&log, "true"), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let got = lines(&log);
    // Staging is parallel: the before_switch hooks come first, in any order.
    let mut first: Vec<&str> = got[..2].iter().map(String::as_str).collect();
    first.sort();
    assert_eq!(first, ["before_switch web1", "before_switch web2"], "{got:#?}");
    let per_host = |h: &str| {
        ["local_drain", "drain", "restart", "undrain", "local_undrain", "after_switch"].map(|w| format!("{w} {h}"))
    };
    let want: Vec<String> = per_host("web1").into_iter().chain(per_host("web2")).collect();
    assert_eq!(got[2..], want[..], "{got:#?}");
}

#[test]
fn a_host_reverted_after_a_failed_health_check_is_undrained_again() {
    let f = Fleet::start(2);
    let log = f.dir.path().join("order.log");
    f.configure(&logging(&log, "true"), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let old = f.current(1).unwrap();
    std::fs::remove_file(&log).unwrap();
    // web2 is unhealthy on v2 only: its revert to v1 passes.
    f.configure(&logging(&log, "test \"$SHIP_HOST-$(cat index.html)\" != web2-v2"), "");
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    assert_eq!(f.current(1).unwrap(), old, "web2 went back");
    let got = lines(&log);
    let web2: Vec<&str> = got.iter().filter(|l| l.ends_with(" web2")).map(String::as_str).collect();
    assert_eq!(
        web2,
        [
            "before_switch web2",
            "local_drain web2",
            "drain web2",
            "restart web2",
            "local_drain web2",
            "drain web2",
            "restart web2",
            "undrain web2",
            "local_undrain web2"
        ],
        "drained, restarted, failed its health check, drained again, reverted and restarted, then undrained:\n{got:#?}\n{}",
        run.all()
    );
}

#[test]
fn a_failed_drain_leaves_the_host_unswitched_and_puts_it_back() {
    let f = Fleet::start(1);
    let log = f.dir.path().join("order.log");
    f.configure(&logging(&log, "true"), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    f.ship(&["deploy", v1.to_str().unwrap()]).expect(0);
    let old = f.current(0).unwrap();
    std::fs::remove_file(&log).unwrap();
    let config = std::fs::read_to_string(&f.config).unwrap();
    std::fs::write(&f.config, config.replace("drain = ['echo \"drain", "drain = ['false && echo \"drain")).unwrap();
    let v2 = f.build("v2", &[("index.html", "v2")]);
    let run = f.ship(&["deploy", v2.to_str().unwrap()]);
    run.expect(1);
    assert!(run.stdout.contains("at drain:"), "{}", run.all());
    assert_eq!(f.current(0).unwrap(), old);
    let got = lines(&log);
    assert_eq!(got, ["before_switch web1", "local_drain web1", "undrain web1", "local_undrain web1"], "{}", run.all());
}
