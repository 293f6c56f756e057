#!/usr/bin/env bash
# infra/sam/sandbox.sh COMMAND [ARGS...]: runs COMMAND beside the deployed
# path as SAM runs it here -- sam local start-api serving every function in
# its own container -- all inside a network namespace this script creates
# (so that the containers' bridge and addresses exist only there), and
# cleans everything up, mounts included, whatever happens.
#
# Inside the namespace: a private Docker daemon (state in a temporary
# folder), and what api.sh starts on a laptop: the emulation image
# (Dockerfile.emulation, from the pinned SAM CLI's own emulator), DynamoDB
# Local on port 8000 (the containers reach it as host.docker.internal, the
# bridge's gateway), and `sam local start-api` on 127.0.0.1:3000 with the
# development credentials loaded as the functions load them. The namespace reaches no network: what COMMAND needs must be
# fetched or built before (make sam-test compiles its test binary first).
# COMMAND runs there with SAM_API_URL and CREDENTIALS_FILE set,
# and the script exits with its status. The functions are built for this
# machine's architecture (the template's Architecture parameter), so
# nothing runs under emulation.
#
# Needs root (a namespace, a daemon); installs Debian's docker.io and the
# pinned SAM CLI (infra/sam-check.sh's .cache/venv) if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. "$root/infra/sam/arch.sh"
build=$root/.cache/sam-local

if [ -z "${SANDBOX_STATE:-}" ]; then
  [ $# -gt 0 ] || { echo "usage: infra/sam/sandbox.sh COMMAND [ARGS...]" >&2; exit 2; }
  [ "$(id -u)" = 0 ] || { echo "sandbox.sh needs root: it makes a network namespace and runs a Docker daemon" >&2; exit 1; }
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "installing Debian's docker.io with apt-get (first run, about 1 min)..." >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  [ -x .cache/venv/bin/sam ] || infra/sam-check.sh >&2
  export SAM_CLI_TELEMETRY=0
  echo "== sam build ($arch)" >&2
  LAMBDA_GOARCH=$goarch .cache/venv/bin/sam build --build-in-source --parameter-overrides "Architecture=$arch" \
    --build-dir "$build/build" >"$build.log" 2>&1 || { cat "$build.log" >&2; exit 1; }
  # Everything fetched or compiled before the namespace, which reaches no
  # network: DynamoDB Local, the tools the commands run.
  DYNAMODB_LOCAL_FETCH_ONLY=1 infra/dynamodblocal/start.sh
  go build -o "$build/prepareevent" ./infra/prepareevent
  go build -o "$build/localserver" ./infra/localserver
  state=$(mktemp -d "${TMPDIR:-/tmp}/keydeletion-sam.XXXXXX")
  cleanup() {
    # Every process of the namespace goes with it (the daemon, DynamoDB
    # Local, SAM, their children), then what the daemon mounted.
    [ -f "$state/ns.pid" ] && kill -KILL "$(cat "$state/ns.pid")" 2>/dev/null || true
    for p in $(pgrep -f "$state" || true); do kill -KILL "$p" 2>/dev/null || true; done
    awk -v s="$state" '$5 == s || index($5, s "/") == 1 {print $5}' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$state"
  }
  trap cleanup EXIT
  status=0
  SANDBOX_STATE=$state unshare --net --mount --fork --kill-child "$0" "$@" || status=$?
  exit "$status"
fi

# Inside the namespace.
state=$SANDBOX_STATE
echo $$ >"$state/ns.pid"
mount --make-rprivate /
ip link set lo up
children=()
stop() { for p in "${children[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT
export DOCKER_HOST="unix://$state/docker.sock"
dockerd --host "$DOCKER_HOST" --data-root "$state/root" --exec-root "$state/exec" --pidfile "$state/docker.pid" \
  --iptables=false --ip-masq=false >"$state/dockerd.log" 2>&1 &
children+=($!)
for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
docker info >/dev/null 2>&1 || { echo "the Docker daemon did not start:" >&2; tail -20 "$state/dockerd.log" >&2; exit 1; }
# The bridge's own address: where the containers reach what runs here.
gateway=$(ip -4 -o addr show docker0 | awk '{split($4, a, "/"); print a[1]}')
[ -n "$gateway" ] || { echo "the Docker daemon made no bridge" >&2; exit 1; }

# start-api and what it needs, as on a laptop (api.sh), inside.
SAM_API_PREPARED=1 infra/sam/api.sh >"$state/sam.log" 2>&1 &
children+=($!)
for _ in $(seq 1 240); do
  (exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null && break
  sleep 0.5
done
(exec 3<>/dev/tcp/127.0.0.1/3000) 2>/dev/null || { echo "sam local start-api did not listen:" >&2; tail -30 "$state/sam.log" >&2; exit 1; }

export SAM_API_URL=http://127.0.0.1:3000 CREDENTIALS_FILE=$root/infra/local/credentials.json
export SAM_LOG=$state/sam.log SAM_TEMPLATE=$build/build/template.yaml SAM_ENV_VARS=$build/env.json SAM_ARCH=$arch \
  SAM_GATEWAY=$gateway SAM_CLI=$root/.cache/venv/bin/sam SAM_LOCALSERVER=$build/localserver
status=0
"$@" || status=$?
if [ "$status" != 0 ]; then
  echo "== sam local's log (last 40 lines)" >&2
  tail -40 "$state/sam.log" >&2
fi
exit "$status"
