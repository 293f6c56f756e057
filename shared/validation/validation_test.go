package validation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func problem(err error) Problem {
	if v, ok := As(err); ok {
		return v.Problem
	}
	return 0
}

func TestAWSWindow(t *testing.T) {
	for _, c := range []struct {
		days *int
		want int
		prob Problem
	}{
		// Inside the model's 1 to 365: KMS's own rule; outside: the model's.
		{nil, 30, 0}, {ptr(6), 0, OutsideRule}, {ptr(7), 7, 0}, {ptr(30), 30, 0}, {ptr(31), 0, OutsideRule},
		{ptr(1), 0, OutsideRule}, {ptr(365), 0, OutsideRule}, {ptr(366), 0, TooLarge},
		{ptr(0), 0, TooSmall}, {ptr(-7), 0, TooSmall},
	} {
		got, err := AWSWindow(c.days)
		if problem(err) != c.prob || (err == nil && got != c.want) {
			t.Errorf("AWSWindow(%v) = %d, %v", deref(c.days), got, err)
		}
	}
}

func TestHuaweiPendingDays(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		prob Problem
	}{
		{"6", 0, TooSmall}, {"7", 7, 0}, {"1096", 1096, 0}, {"1097", 0, TooLarge}, {"abc", 0, Format},
		{"", 0, Missing}, {"-7", 0, Format}, {"+7", 0, Format}, {" 7", 0, Format}, {"7.0", 0, Format},
		{"0007", 7, 0}, {"99999999999999999999", 0, Format}, {"0x10", 0, Format},
	} {
		got, err := HuaweiPendingDays(c.in)
		if problem(err) != c.prob || (err == nil && got != c.want) {
			t.Errorf("HuaweiPendingDays(%q) = %d, %v", c.in, got, err)
		}
		if err != nil {
			if v, _ := As(err); v.Field != "pending_days" {
				t.Errorf("field %q", v.Field)
			}
		}
	}
}

func TestKeyID(t *testing.T) {
	good := uuid.NewString()
	for _, c := range []struct {
		in   string
		prob Problem
	}{
		{good, 0}, {"0d0466b0-e727-4d9c-b35d-f84bb474a37f", 0}, {"", Missing},
		{strings.ToUpper(good), Format}, {good + "0", Format}, {good[:35], Format},
		{"0d0466b0e7274d9cb35df84bb474a37f", Format}, {"0d0466b0-e727-4d9c-b35d-f84bb474a37f\n", Format},
	} {
		if err := KeyID("key_id", c.in); problem(err) != c.prob {
			t.Errorf("KeyID(%q) = %v", c.in, err)
		}
	}
}

func TestAWSKeyRef(t *testing.T) {
	id := "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
	for _, c := range []struct {
		in         string
		allowAlias bool
		kind       KeyRefKind
		invalidARN bool
		prob       Problem
	}{
		{id, false, RefKeyID, false, 0},
		{"arn:aws:kms:us-east-1:111122223333:key/" + id, false, RefKeyARN, false, 0},
		{"arn:aws-cn:kms:cn-north-1:111122223333:key/" + id, false, RefKeyARN, false, 0},
		{"arn:aws:kms:us-east-1:111122223333:alias/app", true, RefAliasARN, false, 0},
		{"alias/app/x_y-z:1", true, RefAliasName, false, 0},
		{"alias/app", false, 0, false, Format},
		{"arn:aws:kms:us-east-1:111122223333:alias/app", false, 0, true, 0},
		{"arn:aws:kms:us-east-1:1111:key/" + id, false, 0, true, 0},
		{"arn:aws:s3:us-east-1:111122223333:key/" + id, false, 0, true, 0},
		{"arn:aws:kms:us-east-1:111122223333:key/nope", false, 0, true, 0},
		{"arn:aws:kms:useast1:111122223333:key/" + id, false, 0, true, 0},
		{"arn:", false, 0, true, 0},
		{"arn:awsx:kms:us-east-1:111122223333:key/" + id, false, 0, true, 0},
		{"arn:aws-moon:kms:us-east-1:111122223333:key/" + id, false, 0, true, 0},
		{"arn:AWS:kms:us-east-1:111122223333:key/" + id, false, 0, true, 0},
		{"", false, 0, false, Missing},
		{strings.Repeat("a", 2049), false, 0, false, TooLong},
		{"alias/bad name", true, 0, false, Format},
		{"key/" + id, false, 0, false, Format},
	} {
		ref, err := AWSKeyRef(c.in, c.allowAlias)
		if errors.Is(err, ErrInvalidARN) != c.invalidARN || problem(err) != c.prob || (err == nil && ref.Kind != c.kind) {
			t.Errorf("AWSKeyRef(%q, %v) = %+v, %v", c.in, c.allowAlias, ref, err)
		}
	}
	ref, _ := AWSKeyRef(KeyARN("eu-west-1", "123456789012", id), false)
	if ref.KeyID != id || ref.Region != "eu-west-1" || ref.Account != "123456789012" {
		t.Errorf("KeyARN round trip: %+v", ref)
	}
}

// An ARN names an account's key only in the account's partition, region
// and account, exactly.
func TestKeyRefNamesAccount(t *testing.T) {
	id := "0d0466b0-e727-4d9c-b35d-f84bb474a37f"
	for _, c := range []struct {
		arn, region, account string
		want                 bool
	}{
		{"arn:aws:kms:us-east-1:111122223333:key/" + id, "us-east-1", "111122223333", true},
		{"arn:aws-cn:kms:us-east-1:111122223333:key/" + id, "us-east-1", "111122223333", false},
		{"arn:aws-us-gov:kms:us-east-1:111122223333:key/" + id, "us-east-1", "111122223333", false},
		{"arn:aws:kms:us-east-2:111122223333:key/" + id, "us-east-1", "111122223333", false},
		{"arn:aws:kms:us-east-1:444455556666:key/" + id, "us-east-1", "111122223333", false},
		{"arn:aws-cn:kms:cn-north-1:111122223333:key/" + id, "cn-north-1", "111122223333", true},
		{"arn:aws:kms:cn-north-1:111122223333:key/" + id, "cn-north-1", "111122223333", false},
		{"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/" + id, "us-gov-west-1", "111122223333", true},
	} {
		ref, err := AWSKeyRef(c.arn, false)
		if err != nil {
			t.Fatalf("%s: %v", c.arn, err)
		}
		if got := ref.NamesAccount(c.region, c.account); got != c.want {
			t.Errorf("%s in %s/%s: %v, want %v", c.arn, c.region, c.account, got, c.want)
		}
	}
	if got := KeyARN("cn-north-1", "111122223333", id); got != "arn:aws-cn:kms:cn-north-1:111122223333:key/"+id {
		t.Errorf("KeyARN in China: %s", got)
	}
}

func TestKeyTag(t *testing.T) {
	for i := 0; i < 100; i++ {
		id := uuid.NewString()
		tag := KeyTagFor(id)
		if len(tag) != 64 || strings.ToLower(tag) != tag {
			t.Fatalf("tag %q", tag)
		}
		got, err := KeyTag(tag)
		if err != nil || got != id {
			t.Fatalf("KeyTag(KeyTagFor(%s)) = %s, %v", id, got, err)
		}
		if KeyTagFor(id) != tag {
			t.Fatal("tag is not stable")
		}
	}
	tag := KeyTagFor("0d0466b0-e727-4d9c-b35d-f84bb474a37f")
	flipped := []byte(tag)
	flipped[40] ^= 1 // 'x' ^ 1 stays hex only for some digits; pick one that does
	if flipped[40] < '0' || (flipped[40] > '9' && flipped[40] < 'a') || flipped[40] > 'f' {
		flipped[40] = '0'
		if tag[40] == '0' {
			flipped[40] = '1'
		}
	}
	for _, c := range []struct {
		in      string
		unknown bool
		prob    Problem
	}{
		{"", false, Missing}, {"abc", false, Format}, {strings.ToUpper(tag), false, Format}, {tag + "0", false, Format},
		{tag[:63] + "g", false, Format}, {string(flipped), true, 0},
		{KeyTagFor("0d0466b0-e727-4d9c-b35d-f84bb474a37e")[:32] + tag[32:], true, 0},
	} {
		_, err := KeyTag(c.in)
		if errors.Is(err, ErrUnknownKeyTag) != c.unknown || problem(err) != c.prob {
			t.Errorf("KeyTag(%q) = %v", c.in, err)
		}
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		fn   func(string) error
		in   string
		prob Problem
	}{
		{HuaweiAlias, "app/key_1:a-b", 0}, {HuaweiAlias, strings.Repeat("a", 255), 0},
		{HuaweiAlias, strings.Repeat("a", 256), Format}, {HuaweiAlias, "a b", Format}, {HuaweiAlias, "", Missing},
		{NCPKeyName, "abc", 0}, {NCPKeyName, "a" + strings.Repeat("b", 14), 0}, {NCPKeyName, "ab", Format},
		{NCPKeyName, "a" + strings.Repeat("b", 15), Format}, {NCPKeyName, "1abc", Format}, {NCPKeyName, "ab/c", Format},
		{ProjectID, strings.Repeat("a", 32), 0}, {ProjectID, strings.Repeat("a", 31), Format},
		{ProjectID, strings.Repeat("A", 32), Format}, {ProjectID, strings.Repeat("g", 32), Format},
	} {
		if err := c.fn(c.in); problem(err) != c.prob {
			t.Errorf("%q: %v", c.in, err)
		}
	}
}

func TestSequence(t *testing.T) {
	for _, c := range []struct {
		in   *string
		prob Problem
	}{
		{nil, 0}, {ptrS("919c82d4-8046-4722-9094-35c3c6524cff"), 0}, {ptrS(strings.Repeat("a", 35)), Format},
		{ptrS(strings.Repeat("a", 37)), Format}, {ptrS(""), Format}, {ptrS(strings.Repeat("é", 18)), Format},
	} {
		if err := Sequence(c.in); problem(err) != c.prob {
			t.Errorf("Sequence(%v) = %v", c.in, err)
		}
	}
}

func TestContentType(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"application/json", true}, {"application/json;charset=UTF-8", true}, {"Application/JSON; charset=utf-8", true},
		{"text/plain", false}, {"", false}, {"application/jsonx", false}, {"application/json;;", false},
	} {
		if err := ContentType(c.in, "application/json"); (err == nil) != c.ok {
			t.Errorf("ContentType(%q) = %v", c.in, err)
		}
	}
}

func ptr(n int) *int        { return &n }
func ptrS(s string) *string { return &s }
func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7d", 7 * day, true}, {"7d12h", 7*day + 12*time.Hour, true}, {"36h", 36 * time.Hour, true},
		{"90m", 90 * time.Minute, true}, {"0s", 0, true}, {"0d", 0, true}, {"-1h", -time.Hour, true},
		{"-2d", -2 * day, true}, {" 1d ", day, true}, {"1d1d", 0, false}, {"d", 0, false}, {"", 0, false},
		{"7", 0, false}, {"3 days", 0, false}, {"1d-1h", 0, false}, {"+1d", 0, false}, {"--1h", 0, false},
		{"100001d", 0, false}, {"1.5d", 0, false},
	} {
		got, err := Duration("advance", c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Duration(%q) = %v, %v", c.in, got, err)
		}
		if err != nil && problem(err) != Format {
			t.Errorf("Duration(%q): problem %v, want Format", c.in, problem(err))
		}
	}
}
