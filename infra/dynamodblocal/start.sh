#!/usr/bin/env bash
# Starts DynamoDB Local (com.amazonaws:DynamoDBLocal from Maven Central, run
# with this machine's Java) in memory on a free loopback port (or
# DYNAMODB_LOCAL_PORT), fetching it on first use into .cache/dynamodb-local.
# With DYNAMODB_LOCAL_FETCH_ONLY set it only fetches it.
# With DYNAMODB_LOCAL_FOREGROUND set it runs in the foreground until stopped
# (make dynamodb-local). Otherwise it prints shell assignments for eval:
#   DYNAMODB_ENDPOINT=http://127.0.0.1:<port>  DYNAMODB_LOCAL_PID=<pid>
# Stop it with: kill "$DYNAMODB_LOCAL_PID"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="${DYNAMODB_LOCAL_HOME:-$root/.cache/dynamodb-local}"
version=$(sed -n 's:.*<version>\(2\.[0-9.]*\)</version>.*:\1:p' "$here/pom.xml")
mkdir -p "$cache"
command -v java >/dev/null 2>&1 || { echo "DynamoDB Local needs Java (java on PATH)" >&2; exit 1; }
if [ ! -f "$cache/lib/DynamoDBLocal-$version.jar" ]; then
  if ! command -v mvn >/dev/null 2>&1; then
    # Maven is needed once, to fetch the artifact; install Debian's if we can.
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "installing Maven with apt-get to fetch DynamoDB Local (first run, about 1 min)..." >&2
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >&2
    else
      echo "Maven (mvn) is needed once to fetch DynamoDB Local from Maven Central; install it and retry" >&2
      exit 1
    fi
  fi
  echo "fetching DynamoDB Local $version from Maven Central (first run, about 30 s)..." >&2
  # Maven's own repository under .cache too, not ~/.m2. Its output goes to
  # a log, shown (without colour codes) only if it fails: Debian's Maven
  # writes colour resets even in quiet, colourless mode.
  if ! mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$root/.cache/m2" \
    -f "$here/pom.xml" dependency:copy-dependencies -DoutputDirectory="$cache/lib" >"$cache/maven.log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$cache/maven.log" >&2
    exit 1
  fi
fi
# DYNAMODB_LOCAL_FETCH_ONLY: fetch it (first use) and stop there, for a
# caller about to run it where nothing can be fetched (a network namespace).
[ -z "${DYNAMODB_LOCAL_FETCH_ONLY:-}" ] || exit 0
port=${DYNAMODB_LOCAL_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
log="$cache/dynamodb-local-$port.log"
# Telemetry off, and its working directory in the cache: DynamoDB Local
# writes dynamodb-local-metadata.json into the directory it runs in.
# -sharedDb: one database whatever the access key id and region, as
# sam local invoke needs (it gives each function its own credentials).
mkdir -p "$cache/work"
cd "$cache/work"
run=(java -Xmx1g -Djava.library.path="$cache/lib" -cp "$cache/lib/*"
  com.amazonaws.services.dynamodbv2.local.main.ServerRunner -inMemory -sharedDb -disableTelemetry -port "$port")
if [ -n "${DYNAMODB_LOCAL_FOREGROUND:-}" ]; then
  # DynamoDB Local has no option to bind one address: it listens on every
  # interface, which sam local's containers need (they reach it through
  # Docker's bridge). Say so.
  echo "DynamoDB Local on port $port of every interface (in memory, -sharedDb): http://127.0.0.1:$port from this machine, the Docker bridge's address from sam local's containers; Ctrl-C stops it" >&2
  exec "${run[@]}"
fi
"${run[@]}" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "DYNAMODB_ENDPOINT=http://127.0.0.1:$port"
    echo "DYNAMODB_LOCAL_PID=$pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "DynamoDB Local exited:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "DynamoDB Local did not listen on $port within 60s" >&2
kill "$pid" || true
exit 1
