#!/usr/bin/env bash
# The whole test run behind `make test`: format, vet and staticcheck, then
# every Go test with DynamoDB Local (started here, stopped on exit) required.
set -euo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2

echo "== gofmt"
unformatted=$(gofmt -l ./functions ./shared ./infra)
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
echo "== go vet"
go vet ./...
echo "== staticcheck $STATICCHECK_VERSION"
go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...

infra/sam-check.sh

echo "== tools the tests drive"
infra/clients.sh >/dev/null
if ! command -v strace >/dev/null 2>&1; then
  # The durability test traces the server's system calls; Debian's strace.
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing strace (apt-get)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
  else
    echo "strace is needed by the durability test; install it and retry" >&2
    exit 1
  fi
fi
export REQUIRE_TOOLS=1 # a test that needs one of these tools fails, never skips, without it

echo "== DynamoDB Local"
eval "$(infra/dynamodblocal/start.sh)"
trap 'kill "$DYNAMODB_LOCAL_PID" 2>/dev/null || true' EXIT
echo "DynamoDB Local at $DYNAMODB_ENDPOINT (pid $DYNAMODB_LOCAL_PID)"
export DYNAMODB_ENDPOINT
export REQUIRE_DYNAMODB=1 # a test that needs DynamoDB fails, never skips, without it

# The race detector needs cgo and a C compiler; use it where there is one.
race=()
if command -v "${CC:-gcc}" >/dev/null 2>&1; then
  race=(-race)
fi
echo "== go test ${race[*]}"
# Every fuzz corpus (testdata/fuzz) is replayed here as ordinary tests;
# open-ended fuzzing is `make fuzz`.
go test "${race[@]}" -count=1 ./...
