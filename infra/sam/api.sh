#!/usr/bin/env bash
# infra/sam/api.sh: sam local start-api serving every function of the
# template, in containers of the Docker daemon that answers (DOCKER_HOST),
# on 127.0.0.1:${SAM_API_PORT:-3000}, with DynamoDB Local on port
# ${DYNAMODB_LOCAL_PORT:-8000} behind it and the development credentials
# loaded as the functions load them; in the foreground until stopped (it
# stops DynamoDB Local with it). make sam-api runs it on a laptop; the
# sandbox (sandbox.sh) runs it inside its namespace. Point the official
# clients at http://127.0.0.1:3000 with the development credentials.
#
# It builds nothing that needs a network when the build and DynamoDB Local
# are there already (SAM_API_PREPARED=1: the sandbox did it): otherwise the
# functions (for this machine's architecture) and DynamoDB Local first.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
. "$root/infra/sam/arch.sh"
build=$root/.cache/sam-local
port=${SAM_API_PORT:-3000}
ddb_port=${DYNAMODB_LOCAL_PORT:-8000}
export SAM_CLI_TELEMETRY=0

if ! docker info >/dev/null 2>&1; then
  echo "api.sh needs a Docker daemon, and none answers (DOCKER_HOST=${DOCKER_HOST:-default}); or run it as root inside infra/sam/sandbox.sh" >&2
  exit 1
fi
if [ -z "${SAM_API_PREPARED:-}" ]; then
  [ -x .cache/venv/bin/sam ] || infra/sam-check.sh >&2
  echo "== sam build ($arch)" >&2
  mkdir -p "$build"
  LAMBDA_GOARCH=$goarch .cache/venv/bin/sam build --build-in-source --parameter-overrides "Architecture=$arch" \
    --build-dir "$build/build" >"$build.log" 2>&1 || { cat "$build.log" >&2; exit 1; }
  go build -o "$build/prepareevent" ./infra/prepareevent
fi

echo "== the emulation image ($arch)" >&2
infra/sam/image.sh "$arch" >/dev/null
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

echo "== DynamoDB Local on port $ddb_port" >&2
eval "$(DYNAMODB_LOCAL_PORT=$ddb_port infra/dynamodblocal/start.sh)"
trap 'kill "$DYNAMODB_LOCAL_PID" 2>/dev/null || true; rm -rf "$context"' EXIT
# The table, and the functions' environment: DynamoDB Local as the
# containers reach it (host.docker.internal, mapped to the daemon's host
# gateway), the development credentials document.
"$build/prepareevent" -endpoint "http://127.0.0.1:$ddb_port" -container-endpoint "http://host.docker.internal:$ddb_port" \
  -event huawei-schedule-key-deletion -out "$context/event.json" -env-out "$build/env.json" 2>/dev/null

echo "== sam local start-api on http://127.0.0.1:$port" >&2
.cache/venv/bin/sam local start-api --template "$build/build/template.yaml" --env-vars "$build/env.json" \
  --parameter-overrides "Architecture=$arch" --skip-pull-image --warm-containers LAZY \
  --add-host host.docker.internal:host-gateway --host 127.0.0.1 --port "$port" &
sam=$!
trap 'kill "$sam" 2>/dev/null; kill "$DYNAMODB_LOCAL_PID" 2>/dev/null || true; rm -rf "$context"' EXIT
wait "$sam"
