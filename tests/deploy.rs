//! The deployment files under `deploy/` against the code they deploy: no network, no
//! Python, no Docker. (`bash deploy/validate.sh` adds the schema and lint checks.)
//!
//! - every environment variable they set is one the daemon reads, and together the
//!   Kubernetes Deployment + example Secret + ConfigMap, and compose + env.example + the
//!   example config, give `run` everything it needs (`Settings::check_for_daemon`);
//! - every command line they run parses with the real CLI;
//! - probes and health checks hit routes the HTTP server has, on the port the config listens on;
//! - the Slack manifest has `/capacity`, interactivity and Socket Mode;
//! - the containers run as the image's non-root user, read-only, with no capabilities.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;

use capacity_bot::cli::{Cli, Command};
use capacity_bot::config::{self, LogFormat, Secrets, Settings};
use clap::Parser;
use serde_norway::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml(rel: &str) -> Value {
    serde_norway::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn text(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, found {v:?}"))
}

fn seq(v: &Value) -> &Vec<Value> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("expected a list, found {v:?}"))
}

fn strings(v: &Value) -> Vec<String> {
    seq(v).iter().map(|s| text(s).to_string()).collect()
}

/// The secrets the config module reads (from its own list, so a new one shows up here).
fn secret_variables() -> Vec<&'static str> {
    Secrets::default()
        .status()
        .iter()
        .map(|(name, _)| *name)
        .collect()
}

/// Every variable the daemon reads: the secrets and their `_FILE` forms, the config path,
/// the Slack API URL and the log filter.
fn known_variables() -> BTreeSet<String> {
    let mut known: BTreeSet<String> = secret_variables()
        .into_iter()
        .flat_map(|v| [v.to_string(), format!("{v}_FILE")])
        .collect();
    known.extend(
        [config::CONFIG_PATH_VAR, "SLACK_API_URL", "RUST_LOG"]
            .into_iter()
            .map(String::from),
    );
    known
}

/// Variables of the postgres image, set only for it (and in env.example for compose).
const POSTGRES_IMAGE_VARIABLES: [&str; 3] = ["POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"];

fn is_variable_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `NAME=value` lines of an env file, with `# NAME=value` ones when `commented` is true.
fn env_file_lines(contents: &str, commented: bool) -> Vec<(String, String)> {
    contents
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = match line.strip_prefix('#') {
                Some(rest) if commented => rest.trim(),
                Some(_) => return None,
                None => line,
            };
            let (name, value) = line.split_once('=')?;
            is_variable_name(name).then(|| (name.to_string(), value.to_string()))
        })
        .collect()
}

/// `${NAME}` and `${NAME:?message}` / `${NAME:-default}` replaced from `vars`, as compose does.
fn interpolate(value: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("unclosed ${") + start;
        let inner = &rest[start + 2..end];
        let name = inner.split(':').next().unwrap();
        out.push_str(
            vars.get(name)
                .unwrap_or_else(|| panic!("${{{name}}} is not set in env.example")),
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `${NAME…}` references in a text (a comment's `${…}` is not one).
fn interpolated_names(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .map(|s| s.split(['}', ':']).next().unwrap().to_string())
        .filter(|name| is_variable_name(name))
        .collect()
}

fn parse_cli(args: &[String]) -> Cli {
    let argv = std::iter::once("capacity-bot".to_string()).chain(args.iter().cloned());
    Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("capacity-bot {args:?}: {e}"))
}

fn kube_container(rel: &str) -> (Value, Value) {
    let doc = yaml(rel);
    let pod = doc["spec"]["template"]["spec"].clone();
    let containers = seq(&pod["containers"]);
    assert_eq!(containers.len(), 1, "{rel}: one container");
    (pod.clone(), containers[0].clone())
}

/// The container's environment, with each secretKeyRef resolved from secret.example.yaml.
fn kube_env(rel: &str, container: &Value) -> HashMap<String, String> {
    let secret = yaml("deploy/kubernetes/secret.example.yaml");
    let secret_name = text(&secret["metadata"]["name"]);
    let data = secret["stringData"].as_mapping().expect("stringData");
    let mut env = HashMap::new();
    for var in seq(&container["env"]) {
        let name = text(&var["name"]).to_string();
        if let Some(value) = var["value"].as_str() {
            env.insert(name, value.to_string());
            continue;
        }
        let reference = &var["valueFrom"]["secretKeyRef"];
        assert_eq!(
            text(&reference["name"]),
            secret_name,
            "{rel}: {name} refers to another Secret"
        );
        let key = text(&reference["key"]);
        assert_eq!(
            key, name,
            "{rel}: {name} comes from the Secret key of the same name"
        );
        match data.get(key) {
            Some(value) => {
                env.insert(name, text(value).to_string());
            }
            None => assert_eq!(
                reference["optional"].as_bool(),
                Some(true),
                "{rel}: {key} is not in secret.example.yaml and not optional"
            ),
        }
    }
    env
}

fn lookup(env: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    |name| env.get(name).cloned()
}

#[test]
fn the_config_module_reads_the_variables_the_deploy_files_document() {
    let secrets: BTreeSet<&str> = secret_variables().into_iter().collect();
    let expected: BTreeSet<&str> = [
        "SLACK_APP_TOKEN",
        "SLACK_BOT_TOKEN",
        "DATABASE_URL",
        "CAPACITY_SIGNAL_SECRET",
        "LINEAR_API_KEY",
    ]
    .into();
    assert_eq!(
        secrets, expected,
        "the secrets changed: update deploy/env.example, deploy/kubernetes/*, the compose file"
    );
    assert_eq!(config::CONFIG_PATH_VAR, "CAPACITY_BOT_CONFIG");
}

#[test]
fn every_variable_in_the_deploy_files_is_one_the_daemon_reads() {
    let known = known_variables();
    let mut seen: Vec<(&str, String)> = Vec::new();

    let env_example = read("deploy/env.example");
    for (name, _) in env_file_lines(&env_example, true) {
        if !POSTGRES_IMAGE_VARIABLES.contains(&name.as_str()) {
            seen.push(("deploy/env.example", name));
        }
    }

    let compose = yaml("deploy/docker-compose.yml");
    let bot = &compose["services"]["capacity-bot"];
    for (name, _) in bot["environment"].as_mapping().expect("environment map") {
        seen.push(("docker-compose.yml capacity-bot", text(name).to_string()));
    }
    for (name, _) in compose["services"]["postgres"]["environment"]
        .as_mapping()
        .expect("postgres environment map")
    {
        assert!(
            POSTGRES_IMAGE_VARIABLES.contains(&text(name)),
            "postgres: {name:?}"
        );
    }
    let env_example_names: BTreeSet<String> = env_file_lines(&env_example, true)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for name in interpolated_names(&read("deploy/docker-compose.yml")) {
        assert!(
            env_example_names.contains(&name),
            "docker-compose.yml uses ${{{name}}}, which env.example does not list"
        );
    }

    for rel in [
        "deploy/kubernetes/deployment.yaml",
        "deploy/kubernetes/job-migrate.yaml",
    ] {
        let (_, container) = kube_container(rel);
        for var in seq(&container["env"]) {
            seen.push((rel, text(&var["name"]).to_string()));
        }
        assert!(
            container["envFrom"].is_null(),
            "{rel}: name each variable (envFrom would pass any key of the Secret)"
        );
    }
    let secret = yaml("deploy/kubernetes/secret.example.yaml");
    for (name, _) in secret["stringData"].as_mapping().expect("stringData") {
        seen.push(("secret.example.yaml", text(name).to_string()));
    }
    // The commented-out keys and the `kubectl create secret` example too.
    for line in read("deploy/kubernetes/secret.example.yaml").lines() {
        let line = line.trim_start_matches(['#', ' ']);
        if let Some((name, _)) = line.split_once(':') {
            if is_variable_name(name) {
                seen.push(("secret.example.yaml (comment)", name.to_string()));
            }
        }
        for part in line.split("--from-literal=").skip(1) {
            let name = part.split('=').next().unwrap();
            seen.push(("secret.example.yaml (kubectl)", name.to_string()));
        }
    }

    for line in read("deploy/systemd/capacity-bot.service").lines() {
        if let Some(assignment) = line.strip_prefix("Environment=") {
            let name = assignment.split('=').next().unwrap();
            seen.push(("capacity-bot.service", name.to_string()));
        }
    }
    for line in read("deploy/Dockerfile").lines() {
        if let Some(assignment) = line.strip_prefix("ENV ") {
            let name = assignment.split('=').next().unwrap().trim();
            seen.push(("Dockerfile", name.to_string()));
        }
    }

    let unknown: Vec<String> = seen
        .iter()
        .filter(|(_, name)| !known.contains(name))
        .map(|(file, name)| format!("{file}: {name}"))
        .collect();
    assert!(
        unknown.is_empty(),
        "variables the daemon does not read (known: {known:?}):\n{}",
        unknown.join("\n")
    );
    // And the files do mention the ones an operator must set.
    let mentioned: BTreeSet<&str> = seen.iter().map(|(_, n)| n.as_str()).collect();
    for name in secret_variables() {
        assert!(mentioned.contains(name), "no deploy file mentions {name}");
        assert!(
            env_example_names.contains(&format!("{name}_FILE")),
            "env.example does not show {name}_FILE"
        );
    }
}

#[test]
fn kubernetes_deployment_secret_and_configmap_give_the_daemon_all_it_needs() {
    let rel = "deploy/kubernetes/deployment.yaml";
    let (pod, container) = kube_container(rel);
    let env = kube_env(rel, &container);

    // CAPACITY_BOT_CONFIG names the file the ConfigMap volume puts there.
    let config_path = env
        .get(config::CONFIG_PATH_VAR)
        .expect("CAPACITY_BOT_CONFIG is set");
    assert_eq!(config_path, "/etc/capacity-bot/config.toml");
    let configmap = yaml("deploy/kubernetes/configmap.yaml");
    let volume = seq(&pod["volumes"])
        .iter()
        .find(|v| !v["configMap"].is_null())
        .expect("a ConfigMap volume");
    assert_eq!(
        text(&volume["configMap"]["name"]),
        text(&configmap["metadata"]["name"])
    );
    let mount = seq(&container["volumeMounts"])
        .iter()
        .find(|m| m["name"] == volume["name"])
        .expect("the ConfigMap volume is mounted");
    assert_eq!(mount["readOnly"].as_bool(), Some(true));
    let item = &seq(&volume["configMap"]["items"])[0];
    assert_eq!(text(&item["key"]), "config.toml");
    assert_eq!(
        format!("{}/{}", text(&mount["mountPath"]), text(&item["path"])),
        *config_path
    );

    // The embedded TOML passes the real parser with the Secret's (placeholder) values, and
    // `run` would find every variable it needs.
    let toml = text(&configmap["data"]["config.toml"]);
    let settings = Settings::from_toml_str(toml, &lookup(&env))
        .unwrap_or_else(|e| panic!("configmap.yaml config.toml:\n{e}"));
    settings
        .check_for_daemon()
        .unwrap_or_else(|e| panic!("the Deployment's environment is not enough for `run`:\n{e}"));
    assert_eq!(
        settings.http.listen,
        "0.0.0.0:8080".parse::<SocketAddr>().unwrap(),
        "inside a pod [http] listen must be 0.0.0.0:8080"
    );
    assert_eq!(settings.log.format, LogFormat::Json);

    // The probes and the Service use the port the config listens on.
    let port = seq(&container["ports"])
        .iter()
        .find(|p| p["name"].as_str() == Some("http"))
        .expect("a port named http");
    assert_eq!(
        port["containerPort"].as_u64(),
        Some(u64::from(settings.http.listen.port()))
    );
    let service = yaml("deploy/kubernetes/service.yaml");
    assert_eq!(text(&service["spec"]["type"]), "ClusterIP");
    let service_port = &seq(&service["spec"]["ports"])[0];
    assert_eq!(text(&service_port["targetPort"]), "http");
    let annotations = &service["metadata"]["annotations"];
    assert_eq!(text(&annotations["prometheus.io/scrape"]), "true");
    assert_eq!(text(&annotations["prometheus.io/path"]), "/metrics");
    assert_eq!(text(&annotations["prometheus.io/port"]), "8080");
    for (key, value) in service["spec"]["selector"].as_mapping().unwrap() {
        assert_eq!(
            &pod_labels(rel)[key],
            value,
            "the Service selects the Deployment's pods"
        );
    }
}

fn pod_labels(rel: &str) -> Value {
    yaml(rel)["spec"]["template"]["metadata"]["labels"].clone()
}

#[test]
fn kubernetes_workloads_run_the_real_commands_safely() {
    let deployment = yaml("deploy/kubernetes/deployment.yaml");
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(2));
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"].as_u64(),
        Some(0)
    );
    let (pod, container) = kube_container("deploy/kubernetes/deployment.yaml");
    let args = strings(&container["args"]);
    assert!(
        matches!(parse_cli(&args).command, Command::Run { no_migrate: true }),
        "the Deployment runs `run --no-migrate`: {args:?}"
    );
    assert_eq!(pod["terminationGracePeriodSeconds"].as_u64(), Some(30));
    assert_eq!(
        text(&container["readinessProbe"]["httpGet"]["path"]),
        "/readyz"
    );
    assert_eq!(
        text(&container["readinessProbe"]["httpGet"]["port"]),
        "http"
    );
    assert_eq!(
        text(&container["livenessProbe"]["httpGet"]["path"]),
        "/healthz"
    );
    assert_eq!(text(&container["livenessProbe"]["httpGet"]["port"]), "http");
    for resource in ["cpu", "memory"] {
        assert!(!container["resources"]["requests"][resource].is_null());
        assert!(!container["resources"]["limits"][resource].is_null());
    }

    let (job_pod, job) = kube_container("deploy/kubernetes/job-migrate.yaml");
    let job_args = strings(&job["args"]);
    assert!(
        matches!(parse_cli(&job_args).command, Command::Migrate),
        "the Job runs `migrate`: {job_args:?}"
    );
    assert_eq!(text(&job_pod["restartPolicy"]), "Never");
    assert_eq!(
        text(&job["image"]),
        text(&container["image"]),
        "the Job migrates with the image the Deployment runs"
    );
    let job_env = kube_env("deploy/kubernetes/job-migrate.yaml", &job);
    Secrets::from_env(&lookup(&job_env)).expect("the Job's DATABASE_URL is valid");
    assert!(job_env.contains_key("DATABASE_URL"));

    let uid = dockerfile_uid();
    for (rel, pod, container) in [
        ("deployment.yaml", &pod, &container),
        ("job-migrate.yaml", &job_pod, &job),
    ] {
        assert_eq!(
            pod["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{rel}"
        );
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"].as_bool(),
            Some(true),
            "{rel}"
        );
        assert_eq!(
            pod["securityContext"]["runAsUser"].as_u64(),
            Some(uid),
            "{rel}: the image's uid"
        );
        let sc = &container["securityContext"];
        assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true), "{rel}");
        assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{rel}");
        assert_eq!(
            sc["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{rel}"
        );
        assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{rel}");
    }

    let pdb = yaml("deploy/kubernetes/poddisruptionbudget.yaml");
    assert_eq!(pdb["spec"]["minAvailable"].as_u64(), Some(1));
    for (key, value) in pdb["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
        assert_eq!(&pod_labels("deploy/kubernetes/deployment.yaml")[key], value);
    }
}

#[test]
fn kustomization_applies_every_manifest_but_the_example_secret() {
    let kustomization = yaml("deploy/kubernetes/kustomization.yaml");
    let resources: BTreeSet<String> = strings(&kustomization["resources"]).into_iter().collect();
    let mut manifests = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("deploy/kubernetes")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yaml") && name != "kustomization.yaml" && name != "secret.example.yaml"
        {
            manifests.insert(name);
        }
    }
    assert_eq!(resources, manifests);
    let image = &seq(&kustomization["images"])[0];
    let (_, container) = kube_container("deploy/kubernetes/deployment.yaml");
    assert_eq!(
        text(&container["image"]).rsplit_once(':').unwrap().0,
        text(&image["name"])
    );
}

fn dockerfile_uid() -> u64 {
    let dockerfile = read("deploy/Dockerfile");
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("the Dockerfile sets USER");
    user.split(':')
        .next()
        .unwrap()
        .trim()
        .parse()
        .expect("a numeric uid")
}

#[test]
fn the_image_runs_the_daemon_as_a_non_root_user_with_a_health_check() {
    let dockerfile = read("deploy/Dockerfile");
    assert_ne!(dockerfile_uid(), 0);
    let instruction = |name: &str| {
        dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{name} ")))
            .next_back()
            .unwrap_or_else(|| panic!("the Dockerfile has no {name}"))
            .to_string()
    };
    let exec_form = |name: &str| -> Vec<String> {
        serde_json::from_str(&instruction(name))
            .unwrap_or_else(|e| panic!("{name} is not in exec (JSON) form: {e}"))
    };
    assert_eq!(exec_form("ENTRYPOINT"), ["capacity-bot"]);
    let cmd = exec_form("CMD");
    assert!(matches!(
        parse_cli(&cmd).command,
        Command::Run { no_migrate: false }
    ));
    assert_eq!(instruction("EXPOSE"), "8080");
    assert!(dockerfile.contains("http://127.0.0.1:8080/healthz"));
    assert!(
        dockerfile.contains("--fail"),
        "the HEALTHCHECK fails on an HTTP error"
    );
    assert!(dockerfile.contains("cargo build --release --locked"));
    assert!(dockerfile.contains("/usr/local/bin/capacity-bot"));
    assert!(dockerfile.contains(&format!(
        "ENV {}=/etc/capacity-bot/config.toml",
        config::CONFIG_PATH_VAR
    )));
}

#[test]
fn compose_with_env_example_and_the_example_config_gives_the_daemon_all_it_needs() {
    let compose = yaml("deploy/docker-compose.yml");
    let bot = &compose["services"]["capacity-bot"];
    assert!(matches!(
        parse_cli(&strings(&bot["command"])).command,
        Command::Run { no_migrate: false }
    ));
    assert_eq!(
        text(&bot["depends_on"]["postgres"]["condition"]),
        "service_healthy"
    );
    let healthcheck = strings(&compose["services"]["postgres"]["healthcheck"]["test"]).join(" ");
    assert!(healthcheck.contains("pg_isready"), "{healthcheck}");
    assert!(compose["services"]["postgres"]["image"]
        .as_str()
        .unwrap()
        .starts_with("postgres:15"));
    assert_eq!(strings(&bot["env_file"]), [".env"]);
    assert_eq!(strings(&bot["ports"]), ["127.0.0.1:8080:8080"]);
    assert_eq!(text(&bot["stop_grace_period"]), "30s");
    assert_eq!(text(&bot["build"]["dockerfile"]), "deploy/Dockerfile");

    // The container's environment: .env (from env.example), then `environment:` over it.
    let env_example: HashMap<String, String> = env_file_lines(&read("deploy/env.example"), false)
        .into_iter()
        .collect();
    let mut env = env_example.clone();
    for (name, value) in bot["environment"].as_mapping().unwrap() {
        env.insert(
            text(name).to_string(),
            interpolate(text(value), &env_example),
        );
    }
    let config_path = &env[config::CONFIG_PATH_VAR];
    let volumes = strings(&bot["volumes"]);
    assert!(
        volumes.contains(&format!("./config.toml:{config_path}:ro")),
        "the config is mounted read-only at {config_path}: {volumes:?}"
    );
    let settings = Settings::from_toml_str(&read("deploy/config.example.toml"), &lookup(&env))
        .unwrap_or_else(|e| panic!("config.example.toml with compose's environment:\n{e}"));
    settings
        .check_for_daemon()
        .unwrap_or_else(|e| panic!("compose's environment is not enough for `run`:\n{e}"));
    let database_url = &env["DATABASE_URL"];
    assert!(
        database_url.contains("@postgres:5432/"),
        "DATABASE_URL points at the postgres service: {database_url}"
    );
}

#[test]
fn the_systemd_unit_runs_the_daemon_and_stops_it_gracefully() {
    let unit = read("deploy/systemd/capacity-bot.service");
    let value = |key: &str| -> Vec<&str> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .collect()
    };
    assert_eq!(value("Type"), ["exec"]);
    assert_eq!(value("User"), ["capacity-bot"]);
    assert_eq!(value("EnvironmentFile"), ["/etc/capacity-bot/env"]);
    assert_eq!(
        value("Environment"),
        [format!("{}=/etc/capacity-bot/config.toml", config::CONFIG_PATH_VAR).as_str()]
    );
    let exec = value("ExecStart");
    assert_eq!(exec.len(), 1);
    let mut words = exec[0].split_whitespace().map(String::from);
    assert_eq!(words.next().as_deref(), Some("/usr/local/bin/capacity-bot"));
    let args: Vec<String> = words.collect();
    assert!(matches!(parse_cli(&args).command, Command::Run { .. }));
    assert_eq!(value("Restart"), ["on-failure"]);
    assert_eq!(value("KillSignal"), ["SIGTERM"]);
    assert_eq!(value("TimeoutStopSec"), ["30"]);
    for hardening in ["NoNewPrivileges", "ProtectHome", "PrivateTmp"] {
        assert_eq!(value(hardening), ["yes"], "{hardening}");
    }
    assert_eq!(value("ProtectSystem"), ["strict"]);
}

#[test]
fn probes_and_health_checks_hit_routes_the_http_server_serves() {
    let server = read("src/http/mod.rs");
    for route in ["/healthz", "/readyz", "/metrics"] {
        assert!(
            server.contains(&format!(".route(\"{route}\"")),
            "src/http/mod.rs no longer serves {route}: update deploy/"
        );
    }
}

#[test]
fn the_slack_manifest_uses_socket_mode_and_the_capacity_command() {
    let manifest = yaml("deploy/slack-app-manifest.yaml");
    let commands: Vec<&str> = seq(&manifest["features"]["slash_commands"])
        .iter()
        .map(|c| text(&c["command"]))
        .collect();
    assert_eq!(commands, ["/capacity"]);
    assert_eq!(
        manifest["settings"]["socket_mode_enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        manifest["settings"]["interactivity"]["is_enabled"].as_bool(),
        Some(true)
    );
    let raw = read("deploy/slack-app-manifest.yaml");
    assert!(
        !raw.contains("request_url") && !raw.contains("url:"),
        "Socket Mode needs no request URLs"
    );
    // `doctor` compares the token's scopes with this list: the manifest and the code agree.
    let scopes = strings(&manifest["oauth_config"]["scopes"]["bot"]);
    let known: Vec<&str> = capacity_bot::slack::scopes::BOT_SCOPES
        .iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(
        scopes, known,
        "deploy/slack-app-manifest.yaml's bot scopes and src/slack/scopes.rs differ"
    );
    // Ways in (DESIGN, second wave): the two shortcuts and the message events.
    let shortcuts: Vec<(String, String)> = manifest["features"]["shortcuts"]
        .as_sequence()
        .expect("shortcuts")
        .iter()
        .map(|s| {
            (
                s["type"].as_str().unwrap_or_default().to_string(),
                s["callback_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        shortcuts,
        [
            ("message".into(), "capacity_request_from_message".into()),
            ("global".into(), "capacity_request_new".into())
        ]
    );
    let events = strings(&manifest["settings"]["event_subscriptions"]["bot_events"]);
    for event in ["message.channels", "message.groups"] {
        assert!(events.iter().any(|e| e == event), "bot event {event}");
    }
}
