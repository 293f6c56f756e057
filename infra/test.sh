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

echo "== clients of other languages"
infra/clients.sh >/dev/null
export REQUIRE_CLIENTS=1 # a test that drives such a client fails, never skips, without it

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
