package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/keydeletion/service/shared/tenant"
)

// DefaultCredentialsFile is where the local server finds its tenants: two
// documented development tenants.
const DefaultCredentialsFile = "infra/local/credentials.json"

// SecretGetter is the part of the Secrets Manager client Tenants uses.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Tenants loads the tenants and their credentials: from the Secrets Manager
// secret CREDENTIALS_SECRET_ARN names (the Lambda functions, once per cold
// start); else from CREDENTIALS_DOCUMENT, the document itself (sam local
// invoke, whose container sees no project files); else from the file
// CREDENTIALS_FILE names (default infra/local/credentials.json).
func Tenants(ctx context.Context, awsConfig AWSConfig) (*tenant.Directory, error) {
	if arn := os.Getenv("CREDENTIALS_SECRET_ARN"); arn != "" {
		cfg, err := awsConfig()
		if err != nil {
			return nil, err
		}
		return TenantsFromSecret(ctx, secretsmanager.NewFromConfig(cfg), arn)
	}
	if doc := os.Getenv("CREDENTIALS_DOCUMENT"); doc != "" {
		d, err := tenant.Parse([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("CREDENTIALS_DOCUMENT: %w", err)
		}
		return d, nil
	}
	path := os.Getenv("CREDENTIALS_FILE")
	if path == "" {
		path = DefaultCredentialsFile
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("credentials file %s not found: run from the repository's root, or name the file with -credentials (CREDENTIALS_FILE)", path)
		}
	}
	d, err := tenant.LoadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	return d, nil
}

// TenantsFromSecret reads the credentials document from a secret.
func TenantsFromSecret(ctx context.Context, sm SecretGetter, arn string) (*tenant.Directory, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("read credentials secret %s: %w", arn, err)
	}
	if out.SecretString == nil {
		return nil, fmt.Errorf("credentials secret %s holds no string", arn)
	}
	d, err := tenant.Parse([]byte(*out.SecretString))
	if err != nil {
		return nil, fmt.Errorf("credentials secret %s: %w", arn, err)
	}
	return d, nil
}

// MustTenants is Tenants for a Lambda main: without tenants the function
// cannot authenticate anyone, so it logs why and exits.
func MustTenants(ctx context.Context, awsConfig AWSConfig, log *slog.Logger) *tenant.Directory {
	d, err := Tenants(ctx, awsConfig)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	return d
}
