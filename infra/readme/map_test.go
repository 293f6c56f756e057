package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mapPaths reads the README's map ("How it is built"): the paths of its
// entries, a level of nesting per two spaces of indentation (a line whose
// first word does not end in "/" or name a file continues the one above).
func mapPaths(t *testing.T, readme string) map[string]bool {
	t.Helper()
	_, after, ok := strings.Cut(readme, "## How it is built\n\n```\n")
	if !ok {
		t.Fatal(`README: no "How it is built" map`)
	}
	block, _, ok := strings.Cut(after, "```")
	if !ok {
		t.Fatal("README: the map's code block is never closed")
	}
	paths := map[string]bool{}
	var stack []string // the folders enclosing the current line, by depth
	for _, line := range strings.Split(block, "\n") {
		word, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		indent := len(line) - len(strings.TrimLeft(line, " "))
		if word == "" || indent%2 != 0 || !(strings.HasSuffix(word, "/") || strings.Contains(word, ".")) {
			continue
		}
		depth := indent / 2
		if depth > len(stack) {
			t.Fatalf("README map: %q is nested under nothing", line)
		}
		stack = append(stack[:depth], strings.TrimSuffix(word, "/"))
		paths[strings.Join(stack, "/")] = true
	}
	return paths
}

// The README's map is complete: every Go package of the module and every
// folder and script of infra/ is on it, where it is, and nothing on it is
// gone.
func TestTheMapIsComplete(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	onMap := mapPaths(t, string(raw))
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", "github.com/keydeletion/service/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := filepath.Abs("../..")
	var want []string
	for _, dir := range strings.Fields(string(out)) {
		rel, _ := filepath.Rel(root, dir)
		want = append(want, filepath.ToSlash(rel))
	}
	if len(want) < 30 {
		t.Fatalf("go list found %d packages", len(want))
	}
	entries, _ := filepath.Glob("../../infra/*")
	for _, e := range entries {
		want = append(want, strings.TrimPrefix(filepath.ToSlash(e), "../../"))
	}
	for _, p := range want {
		if !onMap[p] {
			t.Errorf("%s is missing from the README's map (How it is built)", p)
		}
	}
	for p := range onMap {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("the README's map names %s, which does not exist", p)
		}
	}
}
