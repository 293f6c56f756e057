// Package validation holds every input rule of every dialect: identifier
// formats, waiting-period ranges, names, paging bounds, body size and content
// types. Dialects call it and translate its *Error into their own wire error;
// no other package re-checks these rules.
package validation

import (
	"errors"
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Problem says which rule an input broke, so a dialect can pick its error code.
type Problem int

const (
	Missing     Problem = iota + 1 // a required value is absent
	Format                         // the value does not have the required shape
	TooSmall                       // a number below its range
	TooLarge                       // a number above its range
	TooLong                        // a string or body longer than allowed
	Unsupported                    // a value outside an enumeration, or a content type we do not accept
	// OutsideRule: a number its type allows (an API model's range) but
	// the service's own rule does not; Detail is the service's sentence.
	OutsideRule
)

// Error is a broken input rule. Field is the dialect's own name of the input.
type Error struct {
	Field   string
	Value   string
	Problem Problem
	Limit   int    // the bound broken, for TooSmall, TooLarge and TooLong
	Detail  string // a human sentence for the error message
}

func (e *Error) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.Field, e.Detail)
}

// As reports whether err is (or wraps) a validation error and returns it.
func As(err error) (*Error, bool) {
	var v *Error
	ok := errors.As(err, &v)
	return v, ok
}

// Required reports a required input that is absent (present is false).
func Required(field string, present bool) error {
	if present {
		return nil
	}
	return missing(field)
}

func missing(field string) error {
	return &Error{Field: field, Problem: Missing, Detail: "must not be empty"}
}

func badFormat(field, value, detail string) error {
	return &Error{Field: field, Value: value, Problem: Format, Detail: detail}
}

// Waiting periods, in days, of each dialect. NCP's is fixed.
const (
	AWSMinWindowDays     = 7
	AWSMaxWindowDays     = 30
	AWSDefaultWindowDays = 30
	// AWS's API model types PendingWindowInDays as 1 to 365 (botocore's
	// PendingWindowInDaysType); KMS enforces 7 to 30 inside that.
	AWSModelMinWindowDays = 1
	AWSModelMaxWindowDays = 365
	HuaweiMinWindowDays   = 7
	HuaweiMaxWindowDays   = 1096
	NCPWindowHours        = 72
)

// MaxBodyBytes bounds every request body. KMS key-management requests are a
// few hundred bytes; 64 KiB leaves room for tags and descriptions.
const MaxBodyBytes = 64 << 10

var (
	keyIDPattern     = regexp.MustCompile(`^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$`)
	mrkIDPattern     = regexp.MustCompile(`^mrk-[0-9a-f]{32}$`)
	projectIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
	huaweiAlias      = regexp.MustCompile(`^[a-zA-Z0-9:/_-]{1,255}$`)
	awsAliasName     = regexp.MustCompile(`^alias/[a-zA-Z0-9:/_-]{1,250}$`)
	ncpKeyName       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{2,14}$`)
	sequencePattern  = regexp.MustCompile(`^[0-9A-Za-z-]{36}$`)
	awsAccountID     = regexp.MustCompile(`^[0-9]{12}$`)
	awsRegion        = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// KeyID checks a key id: the Huawei pattern, which every id this service
// issues (a lowercase UUID) satisfies.
func KeyID(field, id string) error {
	if id == "" {
		return missing(field)
	}
	if !keyIDPattern.MatchString(id) {
		return badFormat(field, id, "must match ^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$")
	}
	return nil
}

// ProjectID checks a Huawei IAM project id (32 lowercase hex characters).
func ProjectID(id string) error {
	if !projectIDPattern.MatchString(id) {
		return badFormat("project_id", id, "must be 32 lowercase hexadecimal characters")
	}
	return nil
}

// Sequence checks Huawei's optional 36-byte request serial number.
func Sequence(seq *string) error {
	if seq == nil {
		return nil
	}
	if !sequencePattern.MatchString(*seq) {
		return badFormat("sequence", *seq, "must be 36 characters of letters, digits and '-'")
	}
	return nil
}

// HuaweiAlias checks a Huawei key_alias.
func HuaweiAlias(alias string) error {
	if alias == "" {
		return missing("key_alias")
	}
	if !huaweiAlias.MatchString(alias) {
		return badFormat("key_alias", alias, "must match ^[a-zA-Z0-9:/_-]{1,255}$")
	}
	return nil
}

// NCPKeyName checks an NCP keyName: 3-15 letters, digits, '-' or '_', starting with a letter.
func NCPKeyName(name string) error {
	if name == "" {
		return missing("keyName")
	}
	if !ncpKeyName.MatchString(name) {
		return badFormat("keyName", name, "must be 3 to 15 letters, digits, '-' or '_', starting with a letter")
	}
	return nil
}

// Description checks a free-text description against a dialect's maximum length.
func Description(field, s string, max int) error {
	if len(s) > max {
		return &Error{Field: field, Value: s, Problem: TooLong, Limit: max,
			Detail: fmt.Sprintf("must be at most %d characters", max)}
	}
	return nil
}

// IntRange checks that n lies in [min, max].
func IntRange(field string, n, min, max int) error {
	v := strconv.Itoa(n)
	switch {
	case n < min:
		return &Error{Field: field, Value: v, Problem: TooSmall, Limit: min,
			Detail: fmt.Sprintf("must be greater than or equal to %d", min)}
	case n > max:
		return &Error{Field: field, Value: v, Problem: TooLarge, Limit: max,
			Detail: fmt.Sprintf("must be less than or equal to %d", max)}
	}
	return nil
}

// DecimalString parses a dialect's number-in-a-string (Huawei sends every
// value as a string) and checks its range. Only plain decimal digits pass.
func DecimalString(field, s string, min, max int) (int, error) {
	if s == "" {
		return 0, missing(field)
	}
	if len(s) > 9 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, badFormat(field, s, fmt.Sprintf("must be a whole number from %d to %d", min, max))
	}
	n, _ := strconv.Atoi(s)
	if err := IntRange(field, n, min, max); err != nil {
		return 0, err
	}
	return n, nil
}

// AWSWindow checks AWS PendingWindowInDays; nil means the default.
func AWSWindow(days *int) (int, error) {
	if days == nil {
		return AWSDefaultWindowDays, nil
	}
	if err := IntRange("pendingWindowInDays", *days, AWSModelMinWindowDays, AWSModelMaxWindowDays); err != nil {
		return *days, err // the model's validation, in its words
	}
	if *days < AWSMinWindowDays || *days > AWSMaxWindowDays {
		// KMS's own check, in its words (a response of the real service,
		// Skyscanner/kms-issuer#8).
		return *days, &Error{Field: "PendingWindowInDays", Value: strconv.Itoa(*days), Problem: OutsideRule,
			Detail: fmt.Sprintf("PendingWindowInDays must be between %d and %d", AWSMinWindowDays, AWSMaxWindowDays)}
	}
	return *days, nil
}

// HuaweiPendingDays checks Huawei pending_days, a string "7".."1096".
func HuaweiPendingDays(s string) (int, error) {
	return DecimalString("pending_days", s, HuaweiMinWindowDays, HuaweiMaxWindowDays)
}

// AWS tag limits: 1-128 characters of key, 0-256 of value; the "aws:"
// prefix is AWS's own.
const (
	AWSMaxTagKeyLength   = 128
	AWSMaxTagValueLength = 256
)

// AWSTag is one tag of an AWS request.
type AWSTag struct {
	Key   *string `json:"TagKey"`
	Value *string `json:"TagValue"`
}

// AWSTags checks a request's tags and returns them as a map. Every problem
// is an *Error on field "tags" (AWS answers TagException).
func AWSTags(tags []AWSTag) (map[string]string, error) {
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		if t.Key == nil || t.Value == nil {
			return nil, tagError("Each tag needs a TagKey and a TagValue.")
		}
		if err := AWSTagKey(*t.Key); err != nil {
			return nil, err
		}
		if n := len([]rune(*t.Value)); n > AWSMaxTagValueLength {
			return nil, tagError(fmt.Sprintf("Tag value of tag key %q is %d characters; the limit is %d.", *t.Key, n, AWSMaxTagValueLength))
		}
		if _, dup := out[*t.Key]; dup {
			return nil, tagError(fmt.Sprintf("Duplicate tag key %q: a key cannot have two tags with the same tag key.", *t.Key))
		}
		out[*t.Key] = *t.Value
	}
	return out, nil
}

// AWSTagKey checks one tag key.
func AWSTagKey(k string) error {
	if n := len([]rune(k)); n < 1 || n > AWSMaxTagKeyLength {
		return tagError(fmt.Sprintf("Tag key %q is %d characters; it must be 1 to %d.", k, n, AWSMaxTagKeyLength))
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return tagError(fmt.Sprintf("Tag key %q is reserved: keys beginning with \"aws:\" are AWS's.", k))
	}
	return nil
}

func tagError(detail string) error {
	return &Error{Field: "tags", Problem: Format, Detail: detail}
}

// KeyRefKind tells what an AWS KeyId parameter names.
type KeyRefKind int

const (
	RefKeyID KeyRefKind = iota + 1
	RefKeyARN
	RefAliasName
	RefAliasARN
)

// KeyRef is a parsed AWS KeyId parameter.
type KeyRef struct {
	Kind  KeyRefKind
	KeyID string // for RefKeyID and RefKeyARN
	// MultiRegion is set for a well-formed multi-Region key id ("mrk-"
	// and 32 hex digits): a key this service never issues.
	MultiRegion bool
	Alias       string // for aliases: the name without "alias/"
	Partition   string // for ARNs
	Region      string // for ARNs
	Account     string // for ARNs
}

// AWS partitions, by the region-name prefixes that place a region in each;
// a region matching none is in "aws".
var awsPartitions = []struct{ prefix, partition string }{
	{"cn-", "aws-cn"}, {"us-gov-", "aws-us-gov"}, {"us-iso-", "aws-iso"}, {"us-isob-", "aws-iso-b"},
	{"eu-isoe-", "aws-iso-e"}, {"us-isof-", "aws-iso-f"}, {"eusc-", "aws-eusc"},
}

// AWSPartition returns the partition a region belongs to.
func AWSPartition(region string) string {
	for _, p := range awsPartitions {
		if strings.HasPrefix(region, p.prefix) {
			return p.partition
		}
	}
	return "aws"
}

func isAWSPartition(s string) bool {
	if s == "aws" {
		return true
	}
	for _, p := range awsPartitions {
		if s == p.partition {
			return true
		}
	}
	return false
}

// ErrInvalidARN marks an AWS KeyId that starts like an ARN but is not a valid KMS ARN.
var ErrInvalidARN = errors.New("invalid ARN")

// MaxAWSKeyIDLength is the documented length bound of an AWS KeyId.
const MaxAWSKeyIDLength = 2048

// AWSKeyRef parses an AWS KeyId: a key id, a key ARN, an alias name
// ("alias/x"), or an alias ARN. allowAlias is false for the operations whose
// documentation accepts only a key id or key ARN. A malformed ARN wraps
// ErrInvalidARN; anything else that is not a key reference is a Format error.
func AWSKeyRef(ref string, allowAlias bool) (KeyRef, error) {
	const field = "keyId"
	if ref == "" {
		return KeyRef{}, missing(field)
	}
	if len(ref) > MaxAWSKeyIDLength {
		return KeyRef{}, &Error{Field: field, Value: ref, Problem: TooLong, Limit: MaxAWSKeyIDLength,
			Detail: fmt.Sprintf("Member must have length less than or equal to %d", MaxAWSKeyIDLength)}
	}
	if strings.HasPrefix(ref, "arn:") {
		return parseARN(ref, allowAlias)
	}
	if strings.HasPrefix(ref, "alias/") && allowAlias {
		if !awsAliasName.MatchString(ref) {
			return KeyRef{}, badFormat(field, ref, "alias names match ^alias/[a-zA-Z0-9:/_-]+$")
		}
		return KeyRef{Kind: RefAliasName, Alias: strings.TrimPrefix(ref, "alias/")}, nil
	}
	if keyIDPattern.MatchString(ref) || mrkIDPattern.MatchString(ref) {
		return KeyRef{Kind: RefKeyID, KeyID: ref, MultiRegion: mrkIDPattern.MatchString(ref)}, nil
	}
	return KeyRef{}, badFormat(field, ref, "is not a key id")
}

func parseARN(arn string, allowAlias bool) (KeyRef, error) {
	// arn:<partition>:kms:<region>:<account>:<resource>
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || !isAWSPartition(parts[1]) || parts[2] != "kms" ||
		!awsRegion.MatchString(parts[3]) || !awsAccountID.MatchString(parts[4]) {
		return KeyRef{}, fmt.Errorf("%w: %s", ErrInvalidARN, arn)
	}
	ref := KeyRef{Partition: parts[1], Region: parts[3], Account: parts[4]}
	resource := parts[5]
	switch {
	case strings.HasPrefix(resource, "key/") && keyIDPattern.MatchString(strings.TrimPrefix(resource, "key/")):
		ref.Kind, ref.KeyID = RefKeyARN, strings.TrimPrefix(resource, "key/")
	case strings.HasPrefix(resource, "key/") && mrkIDPattern.MatchString(strings.TrimPrefix(resource, "key/")):
		ref.Kind, ref.KeyID, ref.MultiRegion = RefKeyARN, strings.TrimPrefix(resource, "key/"), true
	case allowAlias && awsAliasName.MatchString(resource):
		ref.Kind, ref.Alias = RefAliasARN, strings.TrimPrefix(resource, "alias/")
	default:
		return KeyRef{}, fmt.Errorf("%w: %s", ErrInvalidARN, arn)
	}
	return ref, nil
}

// KeyARN renders the ARN of a key, in the region's partition; the inverse
// of AWSKeyRef for RefKeyARN.
func KeyARN(region, account, keyID string) string {
	return "arn:" + AWSPartition(region) + ":kms:" + region + ":" + account + ":key/" + keyID
}

// NamesAccount reports whether an ARN's partition, region and account are
// exactly those of the account in region: only then can it name one of the
// account's keys.
func (r KeyRef) NamesAccount(region, account string) bool {
	return r.Partition == AWSPartition(region) && r.Region == region && r.Account == account
}

// ContentType checks that a request's Content-Type has the wanted media type
// (parameters such as charset are allowed).
func ContentType(header string, want ...string) error {
	media, _, err := mime.ParseMediaType(header)
	if err == nil {
		for _, w := range want {
			if strings.EqualFold(media, w) {
				return nil
			}
		}
	}
	return &Error{Field: "Content-Type", Value: header, Problem: Unsupported,
		Detail: "must be " + strings.Join(want, " or ")}
}

// BodyTooLarge is the error for a body over MaxBodyBytes.
func BodyTooLarge() error {
	return &Error{Field: "body", Problem: TooLong, Limit: MaxBodyBytes,
		Detail: fmt.Sprintf("request body exceeds %d bytes", MaxBodyBytes)}
}

// OneOf checks that s is one of the allowed values.
func OneOf(field, s string, allowed ...string) error {
	for _, a := range allowed {
		if s == a {
			return nil
		}
	}
	return &Error{Field: field, Value: s, Problem: Unsupported,
		Detail: "must be one of " + strings.Join(allowed, ", ")}
}

// Duration reads a length of time as the local server's settings and clock
// API take it: whole days ("7d"), days and a Go duration ("7d12h"), or a
// Go duration ("36h", "90m", "-1h"). A leading minus applies to the whole.
func Duration(field, s string) (time.Duration, error) {
	bad := badFormat(field, s, `must be days ("7d"), days and a duration ("7d12h") or a Go duration ("36h", "90m")`)
	v, negative := strings.CutPrefix(strings.TrimSpace(s), "-")
	var d time.Duration
	if days, rest, ok := strings.Cut(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100_000 || strings.HasPrefix(days, "+") {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
		v = rest
		if v == "" {
			v = "0s"
		}
	}
	more, err := time.ParseDuration(v)
	if err != nil || strings.HasPrefix(v, "-") || strings.HasPrefix(v, "+") {
		return 0, bad
	}
	d += more
	if negative {
		d = -d
	}
	return d, nil
}
