// Package readme holds the README to the code: every Go snippet it shows is
// a piece of the compiled examples, word for word.
package readme

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snippets returns the README's code blocks in lang, each as its lines.
func snippets(t *testing.T, readme, lang string) [][]string {
	t.Helper()
	var out [][]string
	var cur []string
	in := false
	for i, line := range strings.Split(readme, "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```"+lang:
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			out = append(out, cur)
		case in:
			cur = append(cur, line)
		case strings.HasPrefix(strings.TrimSpace(line), "```"+lang):
			t.Fatalf("README line %d: %q: a code block's language alone on its line", i+1, line)
		}
	}
	if in {
		t.Fatal("README: a code block is never closed")
	}
	return out
}

// chunks splits a snippet at its blank lines, each line without its
// indentation: a README snippet shows pieces of a file (its imports, the
// body of a function) unindented.
func chunks(lines []string) [][]string {
	var out [][]string
	var cur []string
	for _, l := range append(lines, "") {
		if l = strings.TrimSpace(l); l == "" {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, l)
	}
	return out
}

// contains reports whether chunk's lines follow one another in file.
func contains(file, chunk []string) bool {
	for i := 0; i+len(chunk) <= len(file); i++ {
		match := true
		for j, l := range chunk {
			if file[i+j] != l {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// Every Go snippet of the README is code that compiles: each of its pieces
// (split at blank lines) appears, line for line, in one file of
// infra/readme/examples, which make test builds and vets.
func TestGoSnippetsAreCompiledCode(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("examples/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("examples: %v %v", files, err)
	}
	var sources [][]string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			lines = append(lines, strings.TrimSpace(l))
		}
		sources = append(sources, lines)
	}
	blocks := snippets(t, string(raw), "go")
	if len(blocks) < 3 {
		t.Fatalf("%d Go snippets in the README: the test would prove little", len(blocks))
	}
	for i, block := range blocks {
		for _, chunk := range chunks(block) {
			found := false
			for _, src := range sources {
				found = found || contains(src, chunk)
			}
			if !found {
				t.Errorf("README Go snippet %d: these lines are in no file of infra/readme/examples:\n%s",
					i+1, strings.Join(chunk, "\n"))
			}
		}
	}
}
