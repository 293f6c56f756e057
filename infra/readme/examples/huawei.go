package examples

import (
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	hwkms "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2"
	hwmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2/model"
)

// HuaweiClient is the official Huawei Cloud SDK's KMS client, pointed at
// the local server with dev-a's AK/SK and project.
func HuaweiClient() (*hwkms.KmsClient, error) {
	cred, err := basic.NewCredentialsBuilder().
		WithAk("HWDEVA00000000000000").
		WithSk("dev-a-huawei-sk-do-not-use-in-production").
		WithProjectId("0c2b5f6e4f0b4c3f9d8e7a6b5c4d3e2f").
		SafeBuild()
	if err != nil {
		return nil, err
	}
	hc, err := hwkms.KmsClientBuilder().WithEndpoint("http://127.0.0.1:8080").WithCredential(cred).SafeBuild()
	if err != nil {
		return nil, err
	}
	client := hwkms.NewKmsClient(hc)
	return client, nil
}

// HuaweiSchedule schedules the deletion of key id in 7 days: the SDK's
// DeleteKey is the schedule operation, and its pending_days a string.
func HuaweiSchedule(client *hwkms.KmsClient, id string) error {
	_, err := client.DeleteKey(&hwmodel.DeleteKeyRequest{Body: &hwmodel.ScheduleKeyDeletionRequestBody{
		KeyId: id, PendingDays: "7"}})
	return err
}
