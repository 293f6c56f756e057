// Package devclient signs requests as the development tenants' clients do,
// and makes the official AWS and Huawei KMS clients with their credentials,
// for tests and for preparing events: SigV4 with the AWS SDK's own signer,
// Huawei's X-Auth-Token, and NCP's signature v2 written here from NCP's
// description (not from this service's verifier). Credentials come from the
// credentials document, infra/local/credentials.json.
package devclient

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	hwkms "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/kms/v2"
)

// Creds are one tenant's credentials in every dialect.
type Creds struct {
	Tenant       string
	AWSAccountID string
	AWSRegion    string
	AWSKey       string
	AWSSecret    string
	HuaweiAK     string
	HuaweiSK     string
	HuaweiToken  string
	HuaweiProjID string
	HuaweiDomain string
	NCPKey       string
	NCPSecret    string
}

type keyPair struct{ ID, Secret string }

// Load reads the credentials document at path and returns each tenant's
// first credentials, by tenant id.
func Load(path string) (map[string]Creds, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Tenants []struct {
			ID  string
			AWS struct {
				AccountID  string `json:"accountId"`
				Region     string
				AccessKeys []keyPair `json:"accessKeys"`
			}
			Huawei struct {
				ProjectIDs []string  `json:"projectIds"`
				DomainID   string    `json:"domainId"`
				AccessKeys []keyPair `json:"accessKeys"`
				Tokens     []struct{ Token string }
			}
			NCP struct {
				AccessKeys []keyPair `json:"accessKeys"`
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	out := map[string]Creds{}
	for _, t := range doc.Tenants {
		c := Creds{Tenant: t.ID, AWSAccountID: t.AWS.AccountID, AWSRegion: t.AWS.Region, HuaweiDomain: t.Huawei.DomainID}
		if len(t.AWS.AccessKeys) > 0 {
			c.AWSKey, c.AWSSecret = t.AWS.AccessKeys[0].ID, t.AWS.AccessKeys[0].Secret
		}
		if len(t.Huawei.AccessKeys) > 0 {
			c.HuaweiAK, c.HuaweiSK = t.Huawei.AccessKeys[0].ID, t.Huawei.AccessKeys[0].Secret
		}
		if len(t.Huawei.Tokens) > 0 {
			c.HuaweiToken = t.Huawei.Tokens[0].Token
		}
		if len(t.Huawei.ProjectIDs) > 0 {
			c.HuaweiProjID = t.Huawei.ProjectIDs[0]
		}
		if len(t.NCP.AccessKeys) > 0 {
			c.NCPKey, c.NCPSecret = t.NCP.AccessKeys[0].ID, t.NCP.AccessKeys[0].Secret
		}
		out[t.ID] = c
		// Each further AWS key of the tenant, as "<tenant>/<key id>": a
		// second credential of one tenant (an approver, a responder).
		for _, k := range t.AWS.AccessKeys[min(1, len(t.AWS.AccessKeys)):] {
			other := c
			other.AWSKey, other.AWSSecret = k.ID, k.Secret
			out[t.ID+"/"+k.ID] = other
		}
	}
	return out, nil
}

// SignAWS signs r (whose body is body) with SigV4 for KMS, as the AWS SDK does.
func SignAWS(r *http.Request, body []byte, c Creds, at time.Time) error {
	sum := sha256.Sum256(body)
	return v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.AWSKey, SecretAccessKey: c.AWSSecret},
		r, hex.EncodeToString(sum[:]), "kms", c.AWSRegion, at)
}

// SignHuawei authenticates r with the tenant's X-Auth-Token.
func SignHuawei(r *http.Request, c Creds) {
	r.Header.Set("X-Auth-Token", c.HuaweiToken)
}

// SignNCP signs r with NCP's signature v2: base64 of HMAC-SHA256, keyed with
// the secret key, over "METHOD URI\ntimestamp\naccessKey", where URI is the
// path with its query string and the timestamp is epoch milliseconds.
func SignNCP(r *http.Request, c Creds, at time.Time) {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	uri := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	mac := hmac.New(sha256.New, []byte(c.NCPSecret))
	fmt.Fprintf(mac, "%s %s\n%s\n%s", r.Method, uri, ts, c.NCPKey)
	r.Header.Set("x-ncp-apigw-timestamp", ts)
	r.Header.Set("x-ncp-iam-access-key", c.NCPKey)
	r.Header.Set("x-ncp-apigw-signature-v2", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
}

// Sign authenticates r by its dialect, told from its path.
func Sign(r *http.Request, body []byte, c Creds, at time.Time) error {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1.0/"):
		SignHuawei(r, c)
	case strings.HasPrefix(r.URL.Path, "/kms/"):
		SignNCP(r, c, at)
	default:
		return SignAWS(r, body, c, at)
	}
	return nil
}

// SignEvent returns an API Gateway HTTP API (payload 2.0) event signed by
// c at time at, as the client's request would have reached API Gateway.
func SignEvent(event []byte, c Creds, at time.Time) ([]byte, error) {
	var ev map[string]any
	if err := json.Unmarshal(event, &ev); err != nil {
		return nil, err
	}
	headers, _ := ev["headers"].(map[string]any)
	if headers == nil {
		headers = map[string]any{}
	}
	body, _ := ev["body"].(string)
	path, _ := ev["rawPath"].(string)
	if q, _ := ev["rawQueryString"].(string); q != "" {
		path += "?" + q
	}
	method, _ := ev["requestContext"].(map[string]any)["http"].(map[string]any)["method"].(string)
	host, _ := headers["host"].(string)
	r, err := http.NewRequest(method, "https://"+host+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range headers {
		r.Header.Set(k, fmt.Sprint(v))
	}
	if err := Sign(r, []byte(body), c, at); err != nil {
		return nil, err
	}
	for k := range r.Header {
		headers[strings.ToLower(k)] = r.Header.Get(k)
	}
	if body != "" {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	ev["headers"] = headers
	return json.Marshal(ev)
}

// AWSKMS is the official AWS SDK's KMS client, unchanged but for its
// endpoint, with c's AWS credentials and region.
func AWSKMS(url string, c Creds) *kms.Client {
	return kms.New(kms.Options{Region: c.AWSRegion, BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(c.AWSKey, c.AWSSecret, "")})
}

// HuaweiKMS is the official Huawei Cloud SDK's KMS client (kms/v2),
// unchanged but for its endpoint, signing with c's AK/SK for c's project.
func HuaweiKMS(url string, c Creds) (*hwkms.KmsClient, error) {
	cred, err := basic.NewCredentialsBuilder().WithAk(c.HuaweiAK).WithSk(c.HuaweiSK).WithProjectId(c.HuaweiProjID).SafeBuild()
	if err != nil {
		return nil, err
	}
	hc, err := hwkms.KmsClientBuilder().WithEndpoint(url).WithCredential(cred).SafeBuild()
	if err != nil {
		return nil, err
	}
	return hwkms.NewKmsClient(hc), nil
}
