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
	"github.com/aws/smithy-go/logging"

	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/jsonlog"
)

// Logger returns the process's logger (also slog's default, which the AWS
// SDK's messages go to): a JSON logger on stdout at LOG_LEVEL (debug, info, warn,
// error; default info); every line is written at once (a Lambda function
// may be frozen right after it answers). A LOG_LEVEL outside those values
// logs at info and says so in its first line.
func Logger() *slog.Logger {
	level, err := LogLevel()
	log := slog.New(jsonlog.New(os.Stdout, jsonlog.Options{Level: level}))
	slog.SetDefault(log)
	if err != nil {
		log.Warn("logging at info", "error", err.Error())
	}
	return log
}

// BufferedLogger is Logger for a long-running server, at level: its
// per-request lines are written at least every 100 ms and before any other
// line; flush writes what is waiting (at shutdown).
func BufferedLogger(level slog.Level) (log *slog.Logger, flush func()) {
	h := jsonlog.New(os.Stdout, jsonlog.Options{Level: level, Buffer: 100 * time.Millisecond})
	log = slog.New(h)
	slog.SetDefault(log)
	return log, h.Flush
}

// LogLevel reads LOG_LEVEL: debug, info (the default, also when empty),
// warn or error, in any case.
func LogLevel() (slog.Level, error) {
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv("LOG_LEVEL"))); v {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return slog.LevelInfo, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", v)
	}
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
	// The SDK's own warnings (a response checksum it could not check, say)
	// go into the JSON log, not to stderr in its plain-text format.
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithLogger(sdkLogger{})}
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
	return dynamodb.NewFromConfig(cfg, dynamostore.ClientOptions, func(o *dynamodb.Options) {
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

// sdkLogger writes the AWS SDK's messages to slog's default logger.
type sdkLogger struct{}

func (sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	slog.Default().Log(context.Background(), level, "aws sdk", "message", fmt.Sprintf(format, v...))
}
