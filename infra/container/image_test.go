//go:build image

// Package container_test runs the local server's image under Docker (make
// image-test builds it and names it in IMAGE) and drives it as a CI job
// would: health, a signed lifecycle in two dialects, the clock API, a key
// that outlives the container in its volume, and a clean stop.
package container_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/keydeletion/service/infra/devclient"
)

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// run starts the image on a free loopback port with the named volume as
// its data folder and waits until Docker calls it healthy.
func run(t *testing.T, image, volume string, env ...string) (name, url string) {
	t.Helper()
	return runWith(t, image, volume, nil, env...)
}

// runWith is run with more of docker run's options.
func runWith(t *testing.T, image, volume string, options []string, env ...string) (name, url string) {
	t.Helper()
	port := freePort(t)
	name = "keydeletion-test-" + strconv.Itoa(port)
	args := append([]string{"run", "-d", "--name", name, "--network", "host", "-v", volume + ":/data",
		"-e", "ADDR=127.0.0.1:" + strconv.Itoa(port)}, options...)
	for _, e := range env {
		args = append(args, "-e", e)
	}
	// Docker's own health events, subscribed to before the container
	// starts, say when it is healthy: nothing is polled.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a failure's deadline
	defer cancel()
	events := exec.CommandContext(ctx, "docker", "events", "--filter", "container="+name,
		"--filter", "event=health_status", "--format", "{{.Status}}")
	out, err := events.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := events.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); events.Wait() }()
	docker(t, append(args, image)...)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	healthy := false
	for sc := bufio.NewScanner(out); !healthy && sc.Scan(); {
		healthy = sc.Text() == "health_status: healthy"
	}
	if !healthy {
		t.Fatalf("not healthy (%v); logs:\n%s", ctx.Err(), docker(t, "logs", name))
	}
	return name, "http://127.0.0.1:" + strconv.Itoa(port)
}

func TestImage(t *testing.T) {
	image := os.Getenv("IMAGE")
	if image == "" {
		t.Fatal("IMAGE names the image to test (make image-test sets it)")
	}
	creds, err := devclient.Load("../local/credentials.json")
	if err != nil {
		t.Fatal(err)
	}
	a := creds["dev-a"]

	// What the image is: not root, /data a volume, the entrypoint the server.
	var cfg struct {
		User       string
		Volumes    map[string]any
		Entrypoint []string
	}
	if err := json.Unmarshal([]byte(docker(t, "inspect", "-f", "{{json .Config}}", image)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.User != "65532:65532" || cfg.Volumes["/data"] == nil || len(cfg.Entrypoint) != 1 || cfg.Entrypoint[0] != "/localserver" {
		t.Errorf("image config: %+v", cfg)
	}
	if out, err := exec.Command("docker", "run", "--rm", image, "-version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "localserver ") {
		t.Errorf("-version: %v %s", err, out)
	}

	volume := "keydeletion-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { exec.Command("docker", "volume", "rm", "-f", volume).Run() })
	name, url := run(t, image, volume, "SEED_FILE=/etc/keydeletion/seed.example.yaml")

	ctx := context.Background()
	client := devclient.AWSKMS(url, a)
	if out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/payments")}); err != nil || *out.KeyMetadata.KeyId != "11111111-1111-4111-8111-111111111111" {
		t.Fatalf("seeded key: %v %v", out, err)
	}
	out, err := client.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("in a container")})
	if err != nil {
		t.Fatal(err)
	}
	kept, gone := *out.KeyMetadata.KeyId, ""
	if out, err = client.CreateKey(ctx, &kms.CreateKeyInput{}); err != nil {
		t.Fatal(err)
	}
	gone = *out.KeyMetadata.KeyId
	if _, err := client.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: &gone, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	// The clock, signed with the Huawei token this time.
	req, _ := http.NewRequest("POST", url+"/_local/v1/clock", strings.NewReader(`{"advance":"7d"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Id", a.HuaweiProjID)
	devclient.SignHuawei(req, a)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var moved struct{ Finalized int }
	json.NewDecoder(resp.Body).Decode(&moved)
	resp.Body.Close()
	// The seed's PendingDeletion key has a 7-day window too.
	if resp.StatusCode != 200 || moved.Finalized != 2 {
		t.Fatalf("advance: %d, finalized %d, want 2", resp.StatusCode, moved.Finalized)
	}
	var nf *kmstypes.NotFoundException
	if _, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &gone}); !errors.As(err, &nf) {
		t.Errorf("after the window: %v, want NotFoundException", err)
	}

	// docker stop: SIGTERM, a clean exit.
	docker(t, "stop", "-t", "10", name)
	if code := docker(t, "inspect", "-f", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("exit code %s after docker stop; logs:\n%s", code, docker(t, "logs", name))
	}
	if logs := docker(t, "logs", name); !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("no clean stop in the logs:\n%s", logs)
	}

	// A new container on the same volume, under a memory limit, has the
	// key, and the deletion stands; the server gives Go three quarters of
	// the limit.
	name, url = runWith(t, image, volume, []string{"--memory", "128m"})
	if logs := docker(t, "logs", name); !strings.Contains(logs, `"goMemoryLimitMiB":96`) {
		t.Errorf("no soft memory limit of 96 MiB from the container's 128 MiB:\n%s", logs)
	}
	client = devclient.AWSKMS(url, a)
	if out, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &kept}); err != nil || *out.KeyMetadata.Description != "in a container" {
		t.Errorf("the key in the volume: %v %v", out, err)
	}
	if _, err := client.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &gone}); !errors.As(err, &nf) {
		t.Errorf("the deleted key in a new container: %v, want NotFoundException", err)
	}
}
