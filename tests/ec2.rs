//! EC2 inventory against moto's server mode. moto's instances carry 10.x
//! addresses: they are listed, never connected to. The deploy test gives
//! instances loopback addresses through the `tag:NAME` address option.

use crate::support::fleet::{run_with_timeout, ship_command};
use crate::support::moto::Moto;
use crate::support::Fleet;

/// Creates instances: each `(Name, app tag, Role, extra tags…)`; prints ids.
const CREATE: &str = r#"
import boto3, json, sys
ec2 = boto3.client("ec2", region_name="eu-west-1", endpoint_url=sys.argv[1])
ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
specs = json.loads(sys.argv[2])
ids = []
for s in specs:
    tags = [{"Key": k, "Value": v} for k, v in s["tags"].items()]
    r = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                          TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    iid = r["Instances"][0]["InstanceId"]
    if s.get("stopped"):
        ec2.stop_instances(InstanceIds=[iid])
    ids.append(iid)
print(json.dumps(ids))
"#;

fn create(moto: &Moto, specs: serde_json::Value) -> Vec<String> {
    let script = CREATE.replace("json.loads(sys.argv[2])", &format!("json.loads({:?})", specs.to_string()));
    serde_json::from_str(moto.python(&script).trim()).unwrap()
}

fn ship_aws(f: &Fleet, args: &[&str]) -> crate::support::Run {
    let mut cmd = ship_command(f.dir.path());
    cmd.arg("-c")
        .arg(&f.config)
        .arg("--no-progress")
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL");
    run_with_timeout(cmd)
}

#[test]
fn ec2_lists_running_instances_across_pages_with_duplicate_names_kept() {
    let Some(moto) = Moto::start() else { return };
    let f = Fleet::start(1);
    let mut specs = Vec::new();
    for i in 0..6 {
        let name = if i < 2 { "web".to_string() } else { format!("app{i}") };
        specs.push(serde_json::json!({"tags": {"Name": name, "app": "demo", "Role": "web,api"}}));
    }
    specs.push(serde_json::json!({"tags": {"Name": "sleeper", "app": "demo"}, "stopped": true}));
    specs.push(serde_json::json!({"tags": {"Name": "other", "app": "other"}}));
    let ids = create(&moto, serde_json::Value::Array(specs));
    let mut cfg = std::fs::read_to_string(&f.config).unwrap();
    let cut = cfg.find("\n[[hosts]]").unwrap();
    cfg.truncate(cut);
    cfg += &format!(
        "\n[[inventory]]\nec2 = {{ region = \"eu-west-1\", filters = {{ \"tag:app\" = \"demo\" }}, address = \"private-ip\", \
name_tag = \"Name\", roles_tag = \"Role\", endpoint_url = \"{}\", page_size = 5 }}\n",
        moto.endpoint
    );
    std::fs::write(&f.config, cfg).unwrap();
    let run = ship_aws(&f, &["--format", "json", "hosts"]);
    run.expect(0);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let hosts = v.as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(hosts.len(), 6, "running demo instances only, over two pages: {names:?}");
    assert!(!names.contains(&"sleeper") && !names.contains(&"other"), "{names:?}");
    assert!(
        names.contains(&format!("web-{}", ids[0]).as_str()) && names.contains(&format!("web-{}", ids[1]).as_str()),
        "{names:?}"
    );
    for h in hosts {
        assert!(h["address"].as_str().unwrap().starts_with("10."), "{h}");
        assert_eq!(h["roles"], serde_json::json!(["web", "api"]));
        assert_eq!(h["source"], "ec2 eu-west-1");
    }
    // Filters and roles apply after merging; nothing above connected anywhere.
    let run = ship_aws(&f, &["--hosts", "app3", "hosts"]);
    run.expect(0);
    assert!(run.stdout.contains("app3") && !run.stdout.contains("app4"), "{}", run.stdout);
}

#[test]
fn deploy_to_hosts_found_in_ec2_through_an_address_tag() {
    let Some(moto) = Moto::start() else { return };
    let f = Fleet::start(2);
    let specs: Vec<serde_json::Value> = f
        .hosts
        .iter()
        .map(|h| {
            serde_json::json!({"tags": {"Name": h.name, "app": "demo",
                "SshAddress": format!("{}:{}", h.sshd.address, h.sshd.port),
                "DeployTo": h.deploy_to.display().to_string()}})
        })
        .collect();
    create(&moto, serde_json::Value::Array(specs));
    let mut cfg = std::fs::read_to_string(&f.config).unwrap();
    let cut = cfg.find("\n[[hosts]]").unwrap();
    cfg.truncate(cut);
    cfg += &format!(
        "\n[[inventory]]\nec2 = {{ region = \"eu-west-1\", filters = {{ \"tag:app\" = \"demo\" }}, address = \"tag:SshAddress\", \
deploy_to_tag = \"DeployTo\", endpoint_url = \"{}\" }}\n",
        moto.endpoint
    );
    std::fs::write(&f.config, cfg).unwrap();
    let build = f.build("app", &[("index.html", "from ec2")]);
    ship_aws(&f, &["deploy", build.to_str().unwrap()]).expect(0);
    for i in 0..2 {
        assert_eq!(f.read_current(i, "index.html"), "from ec2");
    }
}
