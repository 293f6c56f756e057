#!/usr/bin/env bash
# The whole test run behind `make test`: format, vet and staticcheck, the
# template's checks, then every Go test with DynamoDB Local (started here,
# stopped on exit) required. Every check runs even if one before it failed;
# the run ends with one line, "N passed, M failed, K skipped", over the
# checks and every test and subtest. Everything it downloads goes under
# .cache/ (Go's own module and build caches aside).
set -uo pipefail
cd "$(dirname "$0")/.."

STATICCHECK_VERSION=v0.8.2
checks_passed=0
checks_failed=0

# check NAME COMMAND...: runs one check, counting it.
check() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    checks_passed=$((checks_passed + 1))
  else
    echo "FAIL: $name" >&2
    checks_failed=$((checks_failed + 1))
  fi
}

gofmt_clean() {
  local unformatted
  unformatted=$(gofmt -l ./functions ./shared ./infra) || return 1
  if [ -n "$unformatted" ]; then
    echo "gofmt would change: $unformatted" >&2
    return 1
  fi
}

check gofmt gofmt_clean
check "go vet" go vet ./...
check "staticcheck $STATICCHECK_VERSION" go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ./...
check "the template (sam validate, cfn-lint, sam build)" infra/sam-check.sh

# Tools the tests drive; a missing one is an error, not a failed check.
set -e
echo "== tools the tests drive"
infra/clients.sh >/dev/null
if ! command -v strace >/dev/null 2>&1; then
  # The durability test traces the server's system calls; Debian's strace.
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing strace with apt-get (first run, about 10 s)..."
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
set +e

# The race detector needs cgo and a C compiler; use it where there is one.
race=()
if command -v "${CC:-gcc}" >/dev/null 2>&1; then
  race=(-race)
fi
echo "== go test ${race[*]}"
go build -o .cache/bin/testreport ./infra/testreport || exit 1
# Every fuzz corpus (testdata/fuzz) is replayed here as ordinary tests;
# open-ended fuzzing is `make fuzz`.
go test -json "${race[@]}" -count=1 ./... 2>&1 |
  .cache/bin/testreport -checks-passed "$checks_passed" -checks-failed "$checks_failed"
