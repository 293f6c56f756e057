// Package examples holds the Go code the README shows, compiled: the
// README's snippets are pieces of these files, word for word (the test in
// infra/readme holds them to it), so none can drift from the SDKs pinned
// in go.mod.
package examples

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// AWSClient is the official AWS SDK's KMS client, pointed at the local
// server with dev-a's credentials.
func AWSClient() *kms.Client {
	client := kms.New(kms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://127.0.0.1:8080"),
		Credentials: credentials.NewStaticCredentialsProvider(
			"AKIADEVA0000000000AA", "dev-a-aws-secret-do-not-use-in-production", ""),
	})
	return client
}
