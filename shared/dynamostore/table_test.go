package dynamostore_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/keydeletion/service/shared/dynamostore"
)

var update = flag.Bool("update", false, "rewrite infra/dynamodb/table.json from the Go definition")

const tableFile = "../../infra/dynamodb/table.json"

// infra/dynamodb/table.json is the table definition in the form
// `aws dynamodb create-table --cli-input-json` takes; it must say what the
// code creates.
func TestTableDefinitionFile(t *testing.T) {
	raw, err := json.Marshal(dynamostore.TableDefinition("kms-keys"))
	if err != nil {
		t.Fatal(err)
	}
	var def any
	json.Unmarshal(raw, &def)
	want, err := json.MarshalIndent(prune(def), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(tableFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(tableFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from dynamostore.TableDefinition; run go test ./shared/dynamostore -run TableDefinitionFile -update\n got: %s\nwant: %s", tableFile, got, want)
	}
}

// prune drops the zero values the SDK's structs marshal (nulls, empty
// strings), which the CLI would reject.
func prune(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range v {
			if e == nil || e == "" {
				continue
			}
			out[k] = prune(e)
		}
		return out
	case []any:
		for i, e := range v {
			v[i] = prune(e)
		}
	}
	return v
}
