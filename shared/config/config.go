// Package config turns the process environment into the logger and key
// store the local server and the Lambda functions run on.
package config

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/jsonlog"
)

// Logger returns a JSON logger on stdout at LOG_LEVEL (debug, info, warn,
// error; default info); every line is written at once (a Lambda function
// may be frozen right after it answers).
func Logger() *slog.Logger {
	return slog.New(jsonlog.New(os.Stdout, jsonlog.Options{Level: logLevel()}))
}

// BufferedLogger is Logger for a long-running server: its per-request lines
// are written at least every 100 ms and before any other line; flush writes
// what is waiting (at shutdown).
func BufferedLogger() (log *slog.Logger, flush func()) {
	h := jsonlog.New(os.Stdout, jsonlog.Options{Level: logLevel(), Buffer: 100 * time.Millisecond})
	return slog.New(h), h.Flush
}

func logLevel() slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.TrimSpace(os.Getenv("LOG_LEVEL")))); err != nil {
		level = slog.LevelInfo
	}
	return level
}

// AWSConfig returns the process's AWS configuration, loading it on the
// first call only. Loading the default configuration (credential chain,
// shared config files) costs milliseconds of a cold start, so a process
// loads it once, and not at all if nothing needs AWS.
type AWSConfig func() (aws.Config, error)

// AWS returns the process's AWSConfig.
func AWS(ctx context.Context) AWSConfig {
	return sync.OnceValues(func() (aws.Config, error) { return loadAWS(ctx) })
}

func loadAWS(ctx context.Context) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if os.Getenv("DYNAMODB_ENDPOINT") != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		// DynamoDB Local accepts any credentials; do not go looking for real ones.
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

// DynamoDB returns a DynamoDB client; DYNAMODB_ENDPOINT, if set, points it
// elsewhere (DynamoDB Local).
func DynamoDB(awsConfig AWSConfig) (*dynamodb.Client, error) {
	cfg, err := awsConfig()
	if err != nil {
		return nil, err
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	}), nil
}

// DynamoStore returns the store on the table named by TABLE_NAME.
func DynamoStore(awsConfig AWSConfig) (*dynamostore.Store, error) {
	table := os.Getenv("TABLE_NAME")
	if table == "" {
		return nil, fmt.Errorf("TABLE_NAME is not set")
	}
	db, err := DynamoDB(awsConfig)
	if err != nil {
		return nil, err
	}
	retention, err := TrailRetention()
	if err != nil {
		return nil, err
	}
	st := dynamostore.New(db, table)
	st.SetRetention(retention)
	return st, nil
}

// MustDynamoStore is DynamoStore for a Lambda main: without its table the
// function cannot serve, so it logs why and exits (Lambda reports an init error).
func MustDynamoStore(awsConfig AWSConfig, log *slog.Logger) *dynamostore.Store {
	st, err := DynamoStore(awsConfig)
	if err != nil {
		log.Error("configuration", "error", err.Error())
		os.Exit(1)
	}
	return st
}
