//! Notifications against a real local HTTP server: the documented body on
//! start, success, failure (reverted) and rollback; Slack's text; a server
//! that errors or never answers only warns, and the deploy still succeeds.

use crate::support::fleet::RESTART;
use crate::support::http::HttpServer;
use crate::support::Fleet;
use serde_json::Value;

fn events(server: &HttpServer) -> Vec<Value> {
    server.requests().iter().map(|(_, body)| serde_json::from_str(body).expect("a JSON body")).collect()
}

#[test]
fn deploy_failure_and_rollback_are_announced() {
    let hook = HttpServer::start(200);
    let slack = HttpServer::start(200);
    let f = Fleet::start(2);
    let notify = format!(
        "\n[notify]\nwebhook = \"{}/hook\"\nslack_webhook = \"{}/services/T0/B0/s3cretpath\"\n",
        hook.url, slack.url
    );
    let healthy = "\n[health]\ncommand = 'test -f healthy'\ntimeout = \"1s\"\ninterval = \"200ms\"\n";
    f.configure(&format!("keep_releases = 5\nrestart = '{RESTART}'\n{healthy}{notify}"), "");
    let v1 = f.build("v1", &[("index.html", "v1"), ("healthy", "")]);
    f.ship(&["deploy", v1.to_str().unwrap(), "--version", "v1.0"]).expect(0);
    let v2 = f.build("v2", &[("index.html", "v2"), ("healthy", "")]);
    f.ship(&["deploy", v2.to_str().unwrap(), "--version", "v2.0"]).expect(0);
    let v3 = f.build("v3", &[("index.html", "v3")]);
    f.ship(&["deploy", v3.to_str().unwrap(), "--version", "v3.0"]).expect(1);
    f.ship(&["rollback"]).expect(0);

    let got = events(&hook);
    let names: Vec<&str> = got.iter().map(|e| e["event"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "deploy.reverted",
            "deploy.started",
            "deploy.started",
            "deploy.started",
            "deploy.succeeded",
            "deploy.succeeded",
            "rollback.succeeded"
        ],
        "{got:?}"
    );
    let ok = got.iter().find(|e| e["event"] == "deploy.succeeded" && e["version"] == "v2.0").expect("v2 success");
    assert_eq!(ok["app"], "demo");
    assert_eq!(ok["hosts"], serde_json::json!(["web1", "web2"]));
    assert_eq!(ok["release"].as_str().unwrap().len(), 14);
    assert!(ok["duration_s"].as_f64().unwrap() > 0.0 && ok["who"].as_str().unwrap().contains('@'), "{ok}");
    let bad = got.iter().find(|e| e["event"] == "deploy.reverted").unwrap();
    assert_eq!(bad["failed_hosts"], serde_json::json!(["web1", "web2"]), "{bad}");
    assert_eq!(bad["version"], "v3.0");
    let texts: Vec<String> = events(&slack).iter().map(|e| e["text"].as_str().unwrap().to_string()).collect();
    assert!(texts.iter().any(|t| t.contains("FAILED to deploy (reverted) demo") && t.contains("(v3.0)")), "{texts:?}");
    assert!(slack.requests().iter().all(|(line, _)| line.starts_with("POST /services/T0/B0/s3cretpath")));
}

#[test]
fn a_failing_or_silent_notification_server_only_warns() {
    let broken = HttpServer::start(500);
    let silent = HttpServer::start(0);
    let f = Fleet::start(1);
    let notify = format!(
        "\n[notify]\nwebhook = \"{}/hook\"\nslack_webhook = \"{}/services/s3cretpath\"\ntimeout = \"1s\"\n",
        broken.url, silent.url
    );
    f.configure(&format!("restart = '{RESTART}'\n{notify}"), "");
    let v1 = f.build("v1", &[("index.html", "v1")]);
    let t0 = std::time::Instant::now();
    let run = f.ship(&["deploy", v1.to_str().unwrap()]);
    run.expect(0);
    assert!(t0.elapsed() < std::time::Duration::from_secs(30), "a silent server held the deploy up");
    assert!(run.stderr.contains("[notify] webhook: deploy.succeeded not sent: HTTP status 500"), "{}", run.stderr);
    assert!(run.stderr.contains("[notify] slack_webhook: deploy.started not sent"), "{}", run.stderr);
    assert!(!run.all().contains("s3cretpath"), "a webhook URL was printed:\n{}", run.all());
    assert_eq!(f.read_current(0, "index.html"), "v1");
}
