#!/usr/bin/env python3
"""Writes events/: an API Gateway HTTP API (payload 2.0) event for every route
of every dialect, success and failure cases, and DynamoDB stream events for
the expire function, plus events/manifest.json, which says for each event the
function that takes it, the key state to seed, how to sign it, and the
expected outcome.

API events are stored unsigned: signatures expire within minutes. Whoever
replays one signs it first as the manifest's "auth" says ("dev-a", the
tenant that owns the seeded key, unless stated; "dev-b", another tenant;
"none"; "wrong-secret"; "stale", signed 20 minutes ago): the tests do, and
`go run ./infra/prepareevent` does for `sam local invoke`.
Run from the repository root: python3 infra/eventgen/generate.py
"""
import hashlib, json, os, uuid

KEY_ID = "0d0466b0-e727-4d9c-b35d-f84bb474a37f"   # Huawei's documented example id
OTHER_ID = "bb6a3d22-dc93-47ac-b5bd-88df7ad35f1e"
PROJECT = "0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f"       # the default tenant's project
ACCOUNT, REGION = "111122223333", "us-east-1"
OWNER = "dev-a"                                     # the tenant of infra/local/credentials.json that owns KEY_ID
ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{KEY_ID}"

def key_tag(key_id):
    # Mirrors validation.KeyTagFor; the events test checks that they agree.
    digest = hashlib.sha256(("ncp-keytag/v1:" + key_id).encode()).hexdigest()[:32]
    return key_id.replace("-", "") + digest

TAG = key_tag(KEY_ID)
events, manifest = {}, {}

def api_event(name, function, method, route, path, body=None, headers=None, query="", seed="none", status=200, code="", path_params=None, auth="dev-a"):
    h = {"accept": "*/*", "host": "kms.example.com", "user-agent": "events/1.0"}
    h.update(headers or {})
    rid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    ev = {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": h,
        "requestContext": {
            "accountId": ACCOUNT, "apiId": "kmsapi", "domainName": "kms.example.com", "domainPrefix": "kms",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.10", "userAgent": "events/1.0"},
            "requestId": rid, "routeKey": f"{method} {route}", "stage": "$default",
            "time": "22/Nov/2026:09:00:00 +0000", "timeEpoch": 1795338000000,
        },
        "isBase64Encoded": False,
    }
    if query:
        ev["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    if path_params:
        ev["pathParameters"] = path_params
    if body is not None:
        ev["body"] = body if isinstance(body, str) else json.dumps(body)
    events[name] = ev
    manifest[name] = {"function": function, "seed": seed, "status": status, "code": code, "auth": auth}

def huawei(name, function, op, body, **kw):
    api_event(name, function, "POST", "/v1.0/{project_id}/kms/" + op, f"/v1.0/{PROJECT}/kms/{op}", body,
              {"content-type": "application/json;charset=UTF-8"}, path_params={"project_id": PROJECT}, **kw)

def aws(name, op, body, **kw):
    api_event(name, "aws", "POST", "/", "/", body,
              {"content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService." + op}, **kw)

def ncp(name, function, method, route, tag=TAG, body=None, query="", **kw):
    path = route.replace("{keyTag}", tag)
    headers = {"content-type": "application/json"} if body is not None else {}
    params = {"keyTag": tag} if "{keyTag}" in route else None
    api_event(name, function, method, route, path, body, headers, query, path_params=params, **kw)

K = {"key_id": KEY_ID}
huawei("huawei-create-key", "keys", "create-key", {"key_alias": "events-demo", "key_description": "created from events/"})
huawei("huawei-create-key-missing-alias", "keys", "create-key", {}, status=400, code="KMS.0204")
huawei("huawei-describe-key", "keys", "describe-key", K, seed="Enabled")
huawei("huawei-describe-key-not-found", "keys", "describe-key", K, status=404, code="KMS.0207")
huawei("huawei-list-keys", "keys", "list-keys", {"limit": "10"}, seed="Enabled")
huawei("huawei-enable-key", "keys", "enable-key", K, seed="Disabled")
huawei("huawei-enable-key-pending-deletion", "keys", "enable-key", K, seed="PendingDeletion", status=400, code="KMS.0210")
huawei("huawei-disable-key", "keys", "disable-key", K, seed="Enabled")
huawei("huawei-disable-key-already-disabled", "keys", "disable-key", K, seed="Disabled", status=400, code="KMS.1301")
huawei("huawei-schedule-key-deletion", "schedule", "schedule-key-deletion", {**K, "pending_days": "7"}, seed="Enabled")
huawei("huawei-schedule-key-deletion-pending-days-6", "schedule", "schedule-key-deletion", {**K, "pending_days": "6"}, seed="Enabled", status=400, code="KMS.1401")
huawei("huawei-schedule-key-deletion-already-pending", "schedule", "schedule-key-deletion", {**K, "pending_days": "7"}, seed="PendingDeletion", status=400, code="KMS.1402")
huawei("huawei-schedule-key-deletion-malformed-json", "schedule", "schedule-key-deletion", '{"key_id":', seed="Enabled", status=400, code="KMS.0202")
huawei("huawei-cancel-key-deletion", "cancel", "cancel-key-deletion", K, seed="PendingDeletion")
huawei("huawei-cancel-key-deletion-not-pending", "cancel", "cancel-key-deletion", K, seed="Enabled", status=400, code="KMS.1501")
huawei("huawei-schedule-key-deletion-unauthenticated", "schedule", "schedule-key-deletion", {**K, "pending_days": "7"}, seed="Enabled", status=401, code="APIGW.0301", auth="none")
huawei("huawei-describe-key-other-tenant", "keys", "describe-key", K, seed="Enabled", status=403, code="KMS.0305", auth="dev-b")

aws("aws-create-key", "CreateKey", {"Description": "created from events/"})
aws("aws-describe-key", "DescribeKey", {"KeyId": ARN}, seed="Enabled")
aws("aws-describe-key-not-found", "DescribeKey", {"KeyId": KEY_ID}, status=400, code="NotFoundException")
aws("aws-list-keys", "ListKeys", {"Limit": 10}, seed="Enabled")
aws("aws-enable-key", "EnableKey", {"KeyId": KEY_ID}, seed="Disabled")
aws("aws-disable-key", "DisableKey", {"KeyId": KEY_ID}, seed="Enabled")
aws("aws-schedule-key-deletion", "ScheduleKeyDeletion", {"KeyId": KEY_ID, "PendingWindowInDays": 7}, seed="Enabled")
aws("aws-schedule-key-deletion-window-6", "ScheduleKeyDeletion", {"KeyId": KEY_ID, "PendingWindowInDays": 6}, seed="Enabled", status=400, code="ValidationException")
aws("aws-schedule-key-deletion-already-pending", "ScheduleKeyDeletion", {"KeyId": KEY_ID}, seed="PendingDeletion", status=400, code="KMSInvalidStateException")
aws("aws-cancel-key-deletion", "CancelKeyDeletion", {"KeyId": ARN}, seed="PendingDeletion")
aws("aws-cancel-key-deletion-not-pending", "CancelKeyDeletion", {"KeyId": ARN}, seed="Enabled", status=400, code="KMSInvalidStateException")
aws("aws-unknown-operation", "Encrypt", {"KeyId": KEY_ID, "Plaintext": "aGk="}, status=400, code="UnknownOperationException")
aws("aws-schedule-key-deletion-unsigned", "ScheduleKeyDeletion", {"KeyId": KEY_ID, "PendingWindowInDays": 7}, seed="Enabled", status=403, code="MissingAuthenticationTokenException", auth="none")
aws("aws-schedule-key-deletion-wrong-secret", "ScheduleKeyDeletion", {"KeyId": KEY_ID, "PendingWindowInDays": 7}, seed="Enabled", status=400, code="InvalidSignatureException", auth="wrong-secret")
aws("aws-schedule-key-deletion-stale-signature", "ScheduleKeyDeletion", {"KeyId": KEY_ID, "PendingWindowInDays": 7}, seed="Enabled", status=400, code="InvalidSignatureException", auth="stale")
aws("aws-schedule-key-deletion-other-tenant", "ScheduleKeyDeletion", {"KeyId": KEY_ID, "PendingWindowInDays": 7}, seed="Enabled", status=400, code="NotFoundException", auth="dev-b")

ncp("ncp-create-key", "keys", "POST", "/kms/v1/keys", body=json.dumps({"keyName": "events-ncp", "keyType": "AES256", "isAutoRotation": False, "protectionType": "BASIC"}))
ncp("ncp-create-key-bad-name", "keys", "POST", "/kms/v1/keys", body=json.dumps({"keyName": "x", "keyType": "AES256", "isAutoRotation": False, "protectionType": "BASIC"}), status=400, code="100")
ncp("ncp-get-key", "keys", "GET", "/kms/v1/keys/{keyTag}", seed="Enabled")
ncp("ncp-get-key-not-found", "keys", "GET", "/kms/v1/keys/{keyTag}", status=404, code="300")
ncp("ncp-list-keys", "keys", "GET", "/kms/v1/keys", query="pageNo=1&pageSize=20", seed="Enabled")
ncp("ncp-enable-key", "keys", "POST", "/kms/v1/keys/{keyTag}/enable", seed="Disabled")
ncp("ncp-disable-key", "keys", "POST", "/kms/v1/keys/{keyTag}/disable", seed="Enabled")
ncp("ncp-request-deletion", "schedule", "POST", "/kms/v1/keys/{keyTag}/request-deletion", seed="Enabled")
ncp("ncp-request-deletion-unknown-tag", "schedule", "POST", "/kms/v1/keys/{keyTag}/request-deletion", tag=key_tag(OTHER_ID), seed="Enabled", status=404, code="300")
ncp("ncp-request-deletion-malformed-tag", "schedule", "POST", "/kms/v1/keys/{keyTag}/request-deletion", tag="not-a-tag", status=400, code="100")
ncp("ncp-cancel-deletion", "cancel", "POST", "/kms/v1/keys/{keyTag}/cancel-deletion", seed="PendingDeletion")
ncp("ncp-cancel-deletion-not-pending", "cancel", "POST", "/kms/v1/keys/{keyTag}/cancel-deletion", seed="Enabled", status=400, code="100")
ncp("ncp-delete-key", "schedule", "DELETE", "/kms/v1/keys/{keyTag}", seed="PendingDeletion")
ncp("ncp-delete-key-not-pending", "schedule", "DELETE", "/kms/v1/keys/{keyTag}", seed="Enabled", status=400, code="100")
ncp("ncp-request-deletion-unsigned", "schedule", "POST", "/kms/v1/keys/{keyTag}/request-deletion", seed="Enabled", status=401, code="200", auth="none")
ncp("ncp-request-deletion-other-tenant", "schedule", "POST", "/kms/v1/keys/{keyTag}/request-deletion", seed="Enabled", status=404, code="300", auth="dev-b")

# The audit trail (read with AWS SigV4 credentials here; any dialect's work).
api_event("trail-list-records", "keys", "GET", "/audit/v1/records", "/audit/v1/records", query=f"keyId={KEY_ID}&limit=10", seed="PendingDeletion")
api_event("trail-list-records-bad-limit", "keys", "GET", "/audit/v1/records", "/audit/v1/records", query="limit=0", status=400, code="InvalidParameter")

# The governance API (signed with AWS SigV4 here; any dialect's scheme works).
# dev-a has no approval rule, so its access key is no approver.
for verb, function in (("approve", "schedule"), ("reject", "cancel")):
    route = "/governance/v1/keys/{keyId}/" + verb + "-deletion"
    api_event(f"governance-{verb}-deletion-not-approver", function, "POST", route, route.replace("{keyId}", KEY_ID),
              path_params={"keyId": KEY_ID}, seed="PendingDeletion", status=403, code="AccessDenied")
api_event("governance-bulk-cancel-deletion-dry-run", "cancel", "POST", "/governance/v1/bulk-cancel-deletion",
          "/governance/v1/bulk-cancel-deletion", body={"filter": {"scheduledBy": "AKIADEVA0000000000AA"}, "dryRun": True},
          headers={"content-type": "application/json"}, seed="PendingDeletion")
api_event("governance-freeze-not-allowed", "cancel", "POST", "/governance/v1/freeze", "/governance/v1/freeze",
          body={"frozen": True}, headers={"content-type": "application/json"}, status=403, code="AccessDenied")
api_event("governance-freeze-state", "keys", "GET", "/governance/v1/freeze", "/governance/v1/freeze")
# dev-d's second AWS key (its approver, its responder) may freeze its tenant's deletions.
api_event("governance-freeze", "cancel", "POST", "/governance/v1/freeze", "/governance/v1/freeze",
          body={"frozen": True}, headers={"content-type": "application/json"}, auth="dev-d/AKIADEVDAPPROVER0000")
api_event("governance-guard-state", "keys", "GET", "/governance/v1/guard", "/governance/v1/guard")
api_event("governance-guard-release-none-tripped", "cancel", "POST", "/governance/v1/guard/release",
          "/governance/v1/guard/release", body={"scope": "AKIADEVB0000000000BB"}, headers={"content-type": "application/json"},
          status=404, code="NotTripped")
# dev-d counts its deletion requests (its guard) before a schedule: dev-a's key is not its own.
ncp("ncp-request-deletion-guarded-tenant", "schedule", "POST", "/kms/v1/keys/{keyTag}/request-deletion",
    seed="Enabled", status=404, code="300", auth="dev-d")
dry_run = "/governance/v1/keys/{keyId}/schedule-deletion/dry-run"
api_event("governance-schedule-deletion-dry-run", "keys", "POST", dry_run, dry_run.replace("{keyId}", KEY_ID),
          body={"pendingWindowInDays": 7}, headers={"content-type": "application/json"},
          path_params={"keyId": KEY_ID}, seed="Enabled")
api_event("governance-schedule-deletion-dry-run-unknown-member", "keys", "POST", dry_run, dry_run.replace("{keyId}", KEY_ID),
          body={"pendingWindowInDays": 7, "force": True}, headers={"content-type": "application/json"},
          path_params={"keyId": KEY_ID}, seed="Enabled", status=400, code="InvalidParameter")

# DynamoDB stream events for the expire function.
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/kms-keys/stream/2026-11-01T00:00:00.000"
TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}

def key_image(key_id, alias="", created="1793000000000", delete_at="1795000000"):
    img = {"pk": {"S": "T#" + OWNER}, "sk": {"S": "K#" + key_id}, "id": {"S": key_id}, "owner": {"S": OWNER},
           "spec": {"S": "AES_256"}, "usage": {"S": "ENCRYPT_DECRYPT"}, "origin": {"S": "KMS"},
           "state": {"S": "PendingDeletion"}, "createdAt": {"N": created}, "stateChangedAt": {"N": "1794395200000"},
           "deleteAt": {"N": delete_at}, "pendingDays": {"N": "7"}}
    if alias:
        img["alias"] = {"S": alias}
    return img

def record(seq, name, keys, old=None, new=None, identity=None):
    r = {"eventID": "ev-" + seq, "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
         "awsRegion": REGION, "eventSourceARN": STREAM_ARN,
         "dynamodb": {"ApproximateCreationDateTime": 1795000100, "Keys": keys, "SequenceNumber": seq,
                      "SizeBytes": 300, "StreamViewType": "NEW_AND_OLD_IMAGES"}}
    if old is not None:
        r["dynamodb"]["OldImage"] = old
    if new is not None:
        r["dynamodb"]["NewImage"] = new
    if identity:
        r["userIdentity"] = identity
    return r

def keys_of(key_id):
    return {"pk": {"S": "T#" + OWNER}, "sk": {"S": "K#" + key_id}}

ttl_record = record("100000000000000000001", "REMOVE", keys_of(KEY_ID), old=key_image(KEY_ID, alias="events-demo"), identity=TTL)
events["stream-ttl-removal"] = {"Records": [ttl_record]}
manifest["stream-ttl-removal"] = {"function": "expire", "failures": [], "tombstones": [KEY_ID], "aliasReleased": True}
events["stream-redelivered"] = {"Records": [ttl_record]}
manifest["stream-redelivered"] = {"function": "expire", "failures": [], "tombstones": [KEY_ID],
                                  "aliasReleased": True, "after": "stream-ttl-removal"}
events["stream-user-delete"] = {"Records": [record("100000000000000000002", "REMOVE", keys_of(OTHER_ID), old=key_image(OTHER_ID))]}
manifest["stream-user-delete"] = {"function": "expire", "failures": [], "tombstones": [], "aliasReleased": False}
bad = key_image(OTHER_ID, created="not-a-number")
bad["createdAt"] = {"S": "not-a-number"}
events["stream-batch-one-bad-record"] = {"Records": [
    record("100000000000000000003", "INSERT", keys_of(OTHER_ID), new=key_image(OTHER_ID)),
    record("100000000000000000004", "REMOVE", keys_of(OTHER_ID), old=bad, identity=TTL),
    record("100000000000000000005", "REMOVE", keys_of(KEY_ID), old=key_image(KEY_ID), identity=TTL),
]}
# The good TTL record's image names no alias, so the alias stays.
manifest["stream-batch-one-bad-record"] = {"function": "expire", "failures": ["100000000000000000004"], "tombstones": [KEY_ID],
                                           "aliasReleased": False}

# A new audit record on the stream: the expire function publishes its event.
RECORD_ID = "5f0c6f3e-4d0c-4c83-9a43-0d3b1d3c7e11"
record_sk = "L#1795000000000#" + RECORD_ID
record_image = {
    "pk": {"S": "T#" + OWNER}, "sk": {"S": record_sk}, "id": {"S": RECORD_ID}, "owner": {"S": OWNER},
    "keyId": {"S": KEY_ID}, "op": {"S": "ScheduleDeletion"}, "at": {"N": "1795000000000"},
    "by": {"M": {"dialect": {"S": "aws"}, "accessKey": {"S": "AKIADEVA0000000000AA"}, "source": {"S": "203.0.113.10"},
                 "requestId": {"S": "2f1d5c64-9a7e-4d55-8f53-4b8c9e2d7a10"}}},
    "deletionDate": {"N": "1795604800"}, "pendingDays": {"N": "7"}, "deleteAt": {"N": "1826536000"},
    "dueShard": {"S": "L#0"}, "dueAt": {"N": "1795000000000"},
}
events["stream-audit-record"] = {"Records": [record("100000000000000000006", "INSERT", {"pk": {"S": "T#" + OWNER}, "sk": {"S": record_sk}}, new=record_image)]}
manifest["stream-audit-record"] = {"function": "expire", "failures": [], "tombstones": [], "aliasReleased": False,
                                   "published": ["KMS Key Deletion Scheduled"]}

# The sweep function's scheduled invocation (an EventBridge Scheduler event):
# the seeded key's window ended a day ago and TTL has not removed it.
events["sweep-scheduled"] = {
    "version": "0", "id": "7d3c9d2e-1f5b-4b6a-8c1e-2a9d4e5f6a7b", "detail-type": "Scheduled Event",
    "source": "aws.scheduler", "account": ACCOUNT, "time": "2026-11-22T09:00:00Z", "region": REGION,
    "resources": [f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/kms-sweep"], "detail": {},
}
# The sweep publishes the schedule's event (older than its grace period) and
# finalizes the key; the final deletion's own event is the stream's, minutes
# later, or the next sweep's.
manifest["sweep-scheduled"] = {"function": "sweep", "seed": "PendingDeletionEnded", "tombstones": [KEY_ID],
                               "published": ["KMS Key Deletion Scheduled"]}

os.makedirs("events", exist_ok=True)
for name, ev in events.items():
    with open(f"events/{name}.json", "w") as f:
        json.dump(ev, f, indent=2)
        f.write("\n")
with open("events/manifest.json", "w") as f:
    json.dump({"keyId": KEY_ID, "keyTag": TAG, "events": manifest}, f, indent=2, sort_keys=True)
    f.write("\n")
print(f"wrote {len(events)} events")
