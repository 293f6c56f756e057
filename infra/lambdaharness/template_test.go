package lambdaharness_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/keydeletion/service/shared/dynamostore"
	"github.com/keydeletion/service/shared/httpapi"
	"github.com/keydeletion/service/shared/keys"
	"github.com/keydeletion/service/shared/routes"
	"github.com/keydeletion/service/shared/tenant"
)

const root = "../.."

type resource struct {
	Type       string         `yaml:"Type"`
	Metadata   map[string]any `yaml:"Metadata"`
	Properties map[string]any `yaml:"Properties"`
}

type samTemplate struct {
	Parameters map[string]map[string]any `yaml:"Parameters"`
	Globals    map[string]map[string]any `yaml:"Globals"`
	Resources  map[string]resource       `yaml:"Resources"`
}

type function struct {
	logicalID string
	dir       string // functions/<dir>
	routes    []string
	streams   []map[string]any // DynamoDB event source properties
	schedules []map[string]any // ScheduleV2 event properties
	actions   []string         // table actions in inline policies
	policies  []string         // SAM policy templates used
}

func readTemplate(t *testing.T) samTemplate {
	t.Helper()
	raw, err := os.ReadFile(root + "/template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl samTemplate
	if err := yaml.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// functions returns the template's functions by logical id. A function's
// code is functions/<logical id, lowercased, without "Function">: the
// Makefile's build-<LogicalId> target builds that folder.
func (tpl samTemplate) functions(t *testing.T) map[string]*function {
	out := map[string]*function{}
	for id, r := range tpl.Resources {
		if r.Type != "AWS::Serverless::Function" {
			continue
		}
		f := &function{logicalID: id, dir: strings.ToLower(strings.TrimSuffix(id, "Function"))}
		events, _ := r.Properties["Events"].(map[string]any)
		for name, e := range events {
			ev := e.(map[string]any)
			props := ev["Properties"].(map[string]any)
			switch ev["Type"] {
			case "HttpApi":
				f.routes = append(f.routes, fmt.Sprint(props["Method"], " ", props["Path"]))
			case "DynamoDB":
				f.streams = append(f.streams, props)
			case "ScheduleV2":
				f.schedules = append(f.schedules, props)
			default:
				t.Errorf("%s: event %s of unexpected type %v", id, name, ev["Type"])
			}
		}
		sort.Strings(f.routes)
		policies, _ := r.Properties["Policies"].([]any)
		for _, p := range policies {
			pm, ok := p.(map[string]any)
			if !ok {
				f.policies = append(f.policies, fmt.Sprint(p))
				continue
			}
			stmts, ok := pm["Statement"].([]any)
			if !ok {
				for name := range pm {
					f.policies = append(f.policies, name)
				}
				continue
			}
			for _, s := range stmts {
				// A statement on an index grants its actions there alone
				// (Recorder's "on index/<name>").
				on := ""
				if _, index, ok := strings.Cut(fmt.Sprint(s.(map[string]any)["Resource"]), "/index/"); ok {
					on = " on index/" + index
				}
				switch a := s.(map[string]any)["Action"].(type) {
				case string:
					f.actions = append(f.actions, a+on)
				case []any:
					for _, x := range a {
						f.actions = append(f.actions, fmt.Sprint(x)+on)
					}
				}
			}
		}
		sort.Strings(f.actions)
		out[id] = f
	}
	return out
}

// tableActions are the function's dynamodb: actions; otherActions the rest.
func (f *function) tableActions() []string {
	var out []string
	for _, a := range f.actions {
		if strings.HasPrefix(a, "dynamodb:") {
			out = append(out, a)
		}
	}
	return out
}

func (f *function) otherActions() []string {
	var out []string
	for _, a := range f.actions {
		if !strings.HasPrefix(a, "dynamodb:") {
			out = append(out, a)
		}
	}
	return out
}

// handlerRoutes returns "METHOD path" of every route a function's handler
// serves (its dialects' fallbacks aside), as API Gateway route keys.
func handlerRoutes(actions []httpapi.Action) []string {
	dir, err := tenant.LoadFile(root + "/infra/local/credentials.json")
	if err != nil {
		panic(err)
	}
	h := routes.Handler(keys.NewService(nil, nil), dir, slog.New(slog.NewJSONHandler(io.Discard, nil)), actions...)
	var out []string
	for _, r := range h.Routes() {
		if r.Action != httpapi.Fallback {
			out = append(out, r.Method+" "+strings.TrimSuffix(r.Path, "{$}"))
		}
	}
	sort.Strings(out)
	return out
}

// The template agrees with the code: every route the template wires to a
// function is served by that function's handler, and every route a handler
// serves is in the template, wired to it.
func TestTemplateRoutesMatchHandlers(t *testing.T) {
	fns := readTemplate(t).functions(t)
	seen := map[string]bool{}
	for id, f := range fns {
		if len(f.routes) == 0 {
			continue
		}
		actions, ok := routes.APIFunctions[f.dir]
		if !ok {
			t.Errorf("%s routes HTTP requests to functions/%s, which serves no API routes", id, f.dir)
			continue
		}
		seen[f.dir] = true
		served := handlerRoutes(actions)
		for _, r := range f.routes {
			if !slices.Contains(served, r) {
				t.Errorf("template wires %s to %s, whose handler does not serve it", r, id)
			}
		}
		for _, r := range served {
			if !slices.Contains(f.routes, r) {
				t.Errorf("functions/%s serves %s, but the template does not wire it to %s", f.dir, r, id)
			}
		}
	}
	for dir := range routes.APIFunctions {
		if !seen[dir] {
			t.Errorf("functions/%s serves API routes but no template function routes to it", dir)
		}
	}
}

// What the issue requires of the template, beyond what cfn-lint checks.
func TestTemplateShape(t *testing.T) {
	tpl := readTemplate(t)
	g := tpl.Globals["Function"]
	if g["Runtime"] != "provided.al2023" || g["Handler"] != "bootstrap" || fmt.Sprint(g["Architectures"]) != "[Architecture]" {
		t.Errorf("Globals.Function: %v", g)
	}
	// Deployed on arm64; sam local on another machine overrides it.
	if arch := tpl.Parameters["Architecture"]; fmt.Sprint(arch["Default"]) != "arm64" || fmt.Sprint(arch["AllowedValues"]) != "[arm64 x86_64]" {
		t.Errorf("Parameters.Architecture: %v", arch)
	}
	// Beyond the table (whose actions TestEventsAgainstBinaries learns from
	// what each binary does), every function reads the credentials secret;
	// the stream's and the sweep's put events on the bus; nothing else.
	const secret, putEvents = "secretsmanager:GetSecretValue", "events:PutEvents"
	want := map[string][]string{"schedule": {secret}, "cancel": {secret}, "keys": {secret}, "aws": {secret},
		"expire": {putEvents, secret}, "sweep": {putEvents, secret}}
	fns := tpl.functions(t)
	if len(fns) != len(want) {
		t.Errorf("%d functions in the template, want %d", len(fns), len(want))
	}
	for id, f := range fns {
		if tpl.Resources[id].Metadata["BuildMethod"] != "makefile" {
			t.Errorf("%s: BuildMethod %v, want makefile", id, tpl.Resources[id].Metadata["BuildMethod"])
		}
		if _, err := os.Stat(root + "/functions/" + f.dir + "/main.go"); err != nil {
			t.Errorf("%s: %v", id, err)
		}
		if other := f.otherActions(); !slices.Equal(other, want[f.dir]) {
			t.Errorf("%s may %v beyond the table; it needs %v", id, other, want[f.dir])
		}
		for _, p := range f.policies {
			if strings.Contains(p, "DynamoDB") {
				t.Errorf("%s uses the broad policy template %s", id, p)
			}
		}
		if _, ok := tpl.Resources[id].Properties["LoggingConfig"]; !ok {
			t.Errorf("%s has no LoggingConfig (log group with retention)", id)
		}
	}
	expire := fns["ExpireFunction"]
	if expire == nil || len(expire.streams) != 1 {
		t.Fatal("ExpireFunction must have one DynamoDB stream event")
	}
	s := expire.streams[0]
	if !slices.Contains(s["FunctionResponseTypes"].([]any), any("ReportBatchItemFailures")) || s["BisectBatchOnFunctionError"] != true ||
		s["MaximumRetryAttempts"] == nil || fmt.Sprint(s["MaximumRetryAttempts"]) == "-1" || s["FilterCriteria"] == nil {
		t.Errorf("expire stream mapping: %v", s)
	}
	onFailure, _ := s["DestinationConfig"].(map[string]any)["OnFailure"].(map[string]any)
	if onFailure["Type"] != "SQS" {
		t.Errorf("expire on-failure destination: %v", onFailure)
	}
	filters := fmt.Sprint(s["FilterCriteria"])
	if !strings.Contains(filters, `"REMOVE"`) || !strings.Contains(filters, `{"prefix":"L#"}`) {
		t.Errorf("expire stream filters must pass TTL removals and new audit records: %s", filters)
	}
	sweep := fns["SweepFunction"]
	if sweep == nil || len(sweep.schedules) != 1 || sweep.schedules[0]["ScheduleExpression"] != "rate(5 minutes)" {
		t.Errorf("SweepFunction must run every five minutes: %+v", sweep)
	}
	var table map[string]any
	busFound := false
	for _, r := range tpl.Resources {
		switch r.Type {
		case "AWS::DynamoDB::Table":
			table = r.Properties
		case "AWS::Events::EventBus":
			busFound = true
		}
	}
	if !busFound {
		t.Error("no EventBridge bus in the template")
	}
	checkDueIndex(t, table)
	ttl, _ := table["TimeToLiveSpecification"].(map[string]any)
	stream, _ := table["StreamSpecification"].(map[string]any)
	pitr, _ := table["PointInTimeRecoverySpecification"].(map[string]any)
	if ttl["AttributeName"] != "deleteAt" || ttl["Enabled"] != true || table["BillingMode"] != "PAY_PER_REQUEST" ||
		!slices.Contains([]any{"OLD_IMAGE", "NEW_AND_OLD_IMAGES"}, stream["StreamViewType"]) ||
		pitr["PointInTimeRecoveryEnabled"] != true || table["DeletionProtectionEnabled"] != true {
		t.Errorf("keys table: %v", table)
	}
}

// checkDueIndex: the template's table has the index the sweep queries, as
// dynamostore.TableDefinition declares it.
func checkDueIndex(t *testing.T, table map[string]any) {
	t.Helper()
	def := dynamostore.TableDefinition("x")
	want := def.GlobalSecondaryIndexes[0]
	gsis, _ := table["GlobalSecondaryIndexes"].([]any)
	if len(gsis) != 1 {
		t.Fatalf("table indexes: %v", table["GlobalSecondaryIndexes"])
	}
	g := gsis[0].(map[string]any)
	schema := fmt.Sprint(g["KeySchema"])
	wantSchema := fmt.Sprintf("[map[AttributeName:%s KeyType:HASH] map[AttributeName:%s KeyType:RANGE]]",
		*want.KeySchema[0].AttributeName, *want.KeySchema[1].AttributeName)
	if g["IndexName"] != *want.IndexName || schema != wantSchema ||
		fmt.Sprint(g["Projection"]) != "map[ProjectionType:"+string(want.Projection.ProjectionType)+"]" {
		t.Errorf("table index %v, want %s %s", g, *want.IndexName, wantSchema)
	}
	attrs := fmt.Sprint(table["AttributeDefinitions"])
	for _, a := range def.AttributeDefinitions {
		if !strings.Contains(attrs, "AttributeName:"+*a.AttributeName+" AttributeType:"+string(a.AttributeType)) {
			t.Errorf("table attribute %s %s missing: %s", *a.AttributeName, a.AttributeType, attrs)
		}
	}
}
