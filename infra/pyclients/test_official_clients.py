"""Official clients of a second language against the service: boto3 and the
AWS CLI (botocore's signer and parsers) and the Huawei Cloud Python SDK
(huaweicloudsdkkms, its own signer). None of them was written here.

`go test ./shared/routes -run PythonClients` runs this file with pytest from
the clients environment (infra/clients.sh), once per store, against a server
at KMS_ENDPOINT; the development tenant dev-a of infra/local/credentials.json
is the caller.
"""
import json
import os
import pathlib
import re
import subprocess
import uuid

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions as hwexc
from huaweicloudsdkkms.v2 import (
    CancelKeyDeletionRequest, CreateKeyRequest, CreateKeyRequestBody, DeleteKeyRequest, DisableKeyRequest,
    EnableKeyRequest, KmsClient, ListKeyDetailRequest, ListKeysRequest, ListKeysRequestBody, OperateKeyRequestBody,
    ScheduleKeyDeletionRequestBody,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENDPOINT = os.environ["KMS_ENDPOINT"]
DEV_A = json.loads((ROOT / "infra/local/credentials.json").read_text())["tenants"][0]
AWS_KEY = DEV_A["aws"]["accessKeys"][0]
REGION, ACCOUNT = DEV_A["aws"]["region"], DEV_A["aws"]["accountId"]
PROJECT = DEV_A["huawei"]["projectIds"][0]
HW_KEY = DEV_A["huawei"]["accessKeys"][0]


def arn(key_id, region=REGION):
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}"


@pytest.fixture
def kms():
    return boto3.client(
        "kms", endpoint_url=ENDPOINT, region_name=REGION,
        aws_access_key_id=AWS_KEY["id"], aws_secret_access_key=AWS_KEY["secret"],
        # A 5xx retried would hide a bug.
        config=botocore.config.Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def error(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def test_boto3_lifecycle(kms):
    created = kms.create_key(Description="boto3", Tags=[{"TagKey": "team", "TagValue": "py"}])["KeyMetadata"]
    key_id = created["KeyId"]
    assert created["Arn"] == arn(key_id) and created["KeyState"] == "Enabled" and created["Enabled"]
    assert created["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"] and created["MultiRegion"] is False
    assert re.fullmatch(r"[a-f0-9]{64}", created["CurrentKeyMaterialId"])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "py"}]

    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingDeletion" and scheduled["PendingWindowInDays"] == 7
    pending = kms.describe_key(KeyId=arn(key_id))["KeyMetadata"]
    assert pending["KeyState"] == "PendingDeletion" and pending["DeletionDate"] == scheduled["DeletionDate"]
    assert "PendingDeletionWindowInDays" not in pending

    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn(key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.disable_key(KeyId=key_id)  # already disabled: AWS succeeds
    kms.enable_key(KeyId=key_id)
    kms.enable_key(KeyId=key_id)  # already enabled: AWS succeeds
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"

    sign = kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert sign["SigningAlgorithms"] == ["ECDSA_SHA_384"] and "EncryptionAlgorithms" not in sign

    listed = {k["KeyId"] for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1}) for k in page["Keys"]}
    assert {key_id, sign["KeyId"]} <= listed


def test_boto3_tags(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": f"k{i:02}", "TagValue": str(i)} for i in range(50)])
    tags = [t for page in kms.get_paginator("list_resource_tags").paginate(KeyId=key_id, PaginationConfig={"PageSize": 7})
            for t in page["Tags"]]
    assert [t["TagKey"] for t in tags] == [f"k{i:02}" for i in range(50)]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k00", "TagValue": "again"}])  # an overwrite at the limit
    with pytest.raises(ClientError) as e:
        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "k50", "TagValue": "one too many"}])
    assert error(e)[0] == "LimitExceededException"
    with pytest.raises(ClientError) as e:
        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])
    assert error(e)[0] == "TagException"
    kms.untag_resource(KeyId=key_id, TagKeys=["k00", "never-there"])
    assert len(kms.list_resource_tags(KeyId=key_id)["Tags"]) == 49


@pytest.mark.parametrize("call, code, message", [
    # KMS's own check inside the model's 1-365 (a real response: Skyscanner/kms-issuer#8).
    (lambda kms, k: kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=6), "ValidationException",
     "PendingWindowInDays must be between 7 and 30"),
    (lambda kms, k: kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=366), "ValidationException",
     "1 validation error detected: Value '366' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 365"),
    (lambda kms, k: kms.describe_key(KeyId="0d0466b0-e727-4d9c-b35d-f84bb474a37f"), "NotFoundException",
     f"Key '{arn('0d0466b0-e727-4d9c-b35d-f84bb474a37f')}' does not exist"),
    (lambda kms, k: kms.describe_key(KeyId="not-a-key"), "NotFoundException", "Invalid keyId 'not-a-key'"),
    (lambda kms, k: kms.describe_key(KeyId="mrk-1234abcd12ab34cd56ef1234567890ab"), "NotFoundException",
     f"Key '{arn('mrk-1234abcd12ab34cd56ef1234567890ab')}' does not exist"),
    (lambda kms, k: kms.describe_key(KeyId=arn(k, "eu-west-1")), "NotFoundException", "Invalid arn eu-west-1"),
    (lambda kms, k: kms.list_keys(Marker="not-a-marker"), "InvalidMarkerException", None),
    (lambda kms, k: kms.create_key(MultiRegion=True), "UnsupportedOperationException", None),
    (lambda kms, k: kms.create_key(KeySpec="RSA_2048"), "ValidationException",
     "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
    (lambda kms, k: kms.cancel_key_deletion(KeyId=k), "KMSInvalidStateException", f"{arn('KEY')} is not pending deletion."),
])
def test_boto3_errors(kms, call, code, message):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        call(kms, key_id)
    got_code, got_message = error(e)
    assert got_code == code
    if message is not None:
        assert got_message == message.replace("KEY", key_id)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def aws_cli(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=AWS_KEY["id"], AWS_SECRET_ACCESS_KEY=AWS_KEY["secret"],
               AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    cli = pathlib.Path(os.environ.get("AWS_CLI", ROOT / ".cache/clients/bin/aws"))
    return subprocess.run([str(cli), "kms", "--endpoint-url", ENDPOINT, "--region", REGION, "--output", "json", *args],
                          capture_output=True, text=True, env=env)


def test_aws_cli_lifecycle_and_errors():
    out = aws_cli("create-key", "--description", "cli", "--tags", "TagKey=via,TagValue=cli")
    assert out.returncode == 0, out.stderr
    key_id = json.loads(out.stdout)["KeyMetadata"]["KeyId"]
    out = aws_cli("schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "7")
    assert out.returncode == 0 and json.loads(out.stdout)["KeyState"] == "PendingDeletion", out.stderr
    out = aws_cli("enable-key", "--key-id", key_id)
    assert out.returncode != 0 and "KMSInvalidStateException" in out.stderr and "is pending deletion." in out.stderr
    assert aws_cli("cancel-key-deletion", "--key-id", key_id).returncode == 0
    out = aws_cli("list-resource-tags", "--key-id", key_id)
    assert json.loads(out.stdout)["Tags"] == [{"TagKey": "via", "TagValue": "cli"}], out.stderr
    out = aws_cli("schedule-key-deletion", "--key-id", key_id, "--pending-window-in-days", "31")
    assert out.returncode != 0 and "ValidationException" in out.stderr
    out = aws_cli("describe-key", "--key-id", key_id)
    assert json.loads(out.stdout)["KeyMetadata"]["KeyState"] == "Disabled"


@pytest.fixture
def hw():
    creds = BasicCredentials(HW_KEY["id"], HW_KEY["secret"], PROJECT)
    return KmsClient.new_builder().with_credentials(creds).with_endpoint(ENDPOINT).build()


def describe(hw, key_id):
    return hw.list_key_detail(ListKeyDetailRequest(body=OperateKeyRequestBody(key_id=key_id))).key_info


def test_huawei_lifecycle(hw):
    alias = "py-" + uuid.uuid4().hex[:8]
    key_id = hw.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=alias))).key_info.key_id
    assert describe(hw, key_id).key_state == "2"
    scheduled = hw.delete_key(DeleteKeyRequest(body=ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="7")))
    assert scheduled.key_state == "4"
    info = describe(hw, key_id)
    assert info.key_state == "4" and info.scheduled_deletion_date != ""
    assert hw.cancel_key_deletion(CancelKeyDeletionRequest(body=OperateKeyRequestBody(key_id=key_id))).key_state == "3"
    assert hw.enable_key(EnableKeyRequest(body=OperateKeyRequestBody(key_id=key_id))).key_info.key_state == "2"
    with pytest.raises(hwexc.ClientRequestException) as e:
        hw.enable_key(EnableKeyRequest(body=OperateKeyRequestBody(key_id=key_id)))
    assert (e.value.status_code, e.value.error_code) == (400, "KMS.1201")
    assert hw.disable_key(DisableKeyRequest(body=OperateKeyRequestBody(key_id=key_id))).key_info.key_state == "3"

    rsa = hw.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=alias + "-rsa", key_spec="RSA_2048"))).key_info.key_id
    assert describe(hw, rsa).key_usage == "SIGN_VERIFY"


def test_huawei_list_keys(hw):
    def totals():
        return (hw.list_keys(ListKeysRequest(body=ListKeysRequestBody(key_spec="ALL"))).total,
                hw.list_keys(ListKeysRequest(body=ListKeysRequestBody())).total)
    all_before, aes_before = totals()
    prefix = "pylist-" + uuid.uuid4().hex[:6]
    ids = sorted(hw.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=f"{prefix}-{i}"))).key_info.key_id for i in range(3))
    hw.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=prefix + "-ec", key_spec="EC_P256")))
    # Without key_spec, AES_256 keys only; "ALL", every key.
    assert totals() == (all_before + 4, aes_before + 3)
    aes = hw.list_keys(ListKeysRequest(body=ListKeysRequestBody()))
    seen, marker = [], "0"
    while True:
        page = hw.list_keys(ListKeysRequest(body=ListKeysRequestBody(limit="2", marker=marker)))
        seen += page.keys
        if page.truncated == "false":
            break
        assert page.next_marker == str(len(seen))
        marker = page.next_marker
    assert set(ids) <= set(seen) and len(seen) == aes.total
    with pytest.raises(hwexc.ClientRequestException) as e:
        hw.list_keys(ListKeysRequest(body=ListKeysRequestBody(limit="0")))
    assert (e.value.status_code, e.value.error_code) == (400, "KMS.1601")
    with pytest.raises(hwexc.ClientRequestException) as e:
        hw.list_keys(ListKeysRequest(body=ListKeysRequestBody(marker="abc")))
    assert (e.value.status_code, e.value.error_code) == (400, "KMS.1602")


def test_huawei_errors(hw):
    alias = "pyerr-" + uuid.uuid4().hex[:8]
    key_id = hw.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=alias))).key_info.key_id
    for request, status, code in [
        (lambda: hw.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias=alias))), 400, "KMS.1104"),
        (lambda: hw.create_key(CreateKeyRequest(body=CreateKeyRequestBody(key_alias="bad alias"))), 400, "KMS.1101"),
        (lambda: hw.delete_key(DeleteKeyRequest(body=ScheduleKeyDeletionRequestBody(key_id=key_id, pending_days="6"))), 400, "KMS.1401"),
        (lambda: hw.cancel_key_deletion(CancelKeyDeletionRequest(body=OperateKeyRequestBody(key_id=key_id))), 400, "KMS.1501"),
        (lambda: describe(hw, "0d0466b0-e727-4d9c-b35d-f84bb474a37f"), 404, "KMS.0207"),
    ]:
        with pytest.raises(hwexc.ClientRequestException) as e:
            request()
        assert (e.value.status_code, e.value.error_code) == (status, code)
    wrong = KmsClient.new_builder().with_credentials(BasicCredentials(HW_KEY["id"], "wrong-sk", PROJECT)).with_endpoint(ENDPOINT).build()
    with pytest.raises(hwexc.ClientRequestException) as e:
        describe(wrong, key_id)
    assert (e.value.status_code, e.value.error_code) == (401, "APIGW.0301")
    assert e.value.error_msg.startswith("Incorrect IAM authentication information: ")
    assert describe(hw, key_id).key_state == "2"
