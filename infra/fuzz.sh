#!/usr/bin/env bash
# Open-ended fuzzing, kept out of `make test`: `make test` replays every
# corpus in testdata/fuzz as ordinary tests, which always gives one answer;
# a fuzzing run explores, and Go's fuzz coordinator can end a bounded run
# with "context deadline exceeded" and no failing input (golang/go#75804).
# Each Fuzz target in the module runs for FUZZTIME (default 1m); a failing
# input is written to the package's testdata/fuzz, to be committed with its fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-1m}"
status=0
for pkg in $(go list ./...); do
  for name in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "== fuzz $pkg $name ($fuzztime)"
    go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "$pkg" || status=1
  done
done
exit $status
