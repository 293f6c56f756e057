package config

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// fakeSecrets stands in for Secrets Manager in this unit test of the loader.
type fakeSecrets struct {
	value *string
	err   error
	asked []string
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.asked = append(f.asked, aws.ToString(in.SecretId))
	return &secretsmanager.GetSecretValueOutput{SecretString: f.value}, f.err
}

func TestTenantsFromSecret(t *testing.T) {
	doc, err := os.ReadFile("../../infra/local/credentials.json")
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-tenants-AbCdEf"
	f := &fakeSecrets{value: aws.String(string(doc))}
	d, err := TenantsFromSecret(context.Background(), f, arn)
	if err != nil || len(d.Tenants()) != 4 || len(f.asked) != 1 || f.asked[0] != arn {
		t.Fatalf("%v %v %v", d, err, f.asked)
	}
	if _, err := TenantsFromSecret(context.Background(), &fakeSecrets{err: errors.New("AccessDenied")}, arn); err == nil {
		t.Error("a failed read gave tenants")
	}
	if _, err := TenantsFromSecret(context.Background(), &fakeSecrets{}, arn); err == nil {
		t.Error("a binary secret gave tenants")
	}
	if _, err := TenantsFromSecret(context.Background(), &fakeSecrets{value: aws.String(`{"tenants":[]}`)}, arn); err == nil {
		t.Error("an empty document gave tenants")
	}
}

func TestTenantsSources(t *testing.T) {
	doc, _ := os.ReadFile("../../infra/local/credentials.json")
	// The document and the file need no AWS configuration, so none is loaded.
	noAWS := func() (aws.Config, error) {
		t.Error("AWS configuration loaded for a source that needs none")
		return aws.Config{}, errors.New("not loaded")
	}
	t.Setenv("CREDENTIALS_SECRET_ARN", "")
	t.Setenv("CREDENTIALS_DOCUMENT", string(doc))
	t.Setenv("CREDENTIALS_FILE", "/nonexistent")
	if d, err := Tenants(context.Background(), noAWS); err != nil || len(d.Tenants()) != 4 {
		t.Fatalf("inline document: %v", err)
	}
	t.Setenv("CREDENTIALS_DOCUMENT", "")
	if _, err := Tenants(context.Background(), noAWS); err == nil {
		t.Fatal("a missing file gave tenants")
	}
	t.Setenv("CREDENTIALS_FILE", "../../infra/local/credentials.json")
	if d, err := Tenants(context.Background(), noAWS); err != nil || len(d.Tenants()) != 4 {
		t.Fatalf("file: %v", err)
	}
}
