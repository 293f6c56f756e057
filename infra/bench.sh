#!/usr/bin/env bash
# What `make bench` runs: the Go benchmarks whose figures the README reports
# (the store, the routes, the listings at 100,000 keys on both stores, the
# functions' cold start), then the load run. DynamoDB Local is started for
# the listings on DynamoDB, and stopped after.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
eval "$(infra/dynamodblocal/start.sh)"
trap 'kill "$DYNAMODB_LOCAL_PID" 2>/dev/null || true' EXIT
export DYNAMODB_ENDPOINT REQUIRE_DYNAMODB=1
"$GO" test -run '^$' -bench . -benchmem ./infra/localserver/pebblestore/
"$GO" test -run '^$' -bench 'ScheduleCancel|Describe' -benchmem ./shared/routes/
# The listing benchmark seeds 100,000 keys per store once; its timings are
# its own interleaved rounds, reported as metrics (ms-median, ×aws, RCU/op).
# The cost benchmark reports units and dollars per million calls.
"$GO" test -run '^$' -bench 'ListPage|Cost' -benchtime 20x -timeout 30m ./shared/routes/
"$GO" test -run '^$' -bench ColdStart -benchtime 20x ./infra/lambdaharness/
"$GO" run ./infra/loadbench
