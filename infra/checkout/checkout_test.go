// Package checkout holds the repository itself to what it may track: source
// and documentation, never a build output.
package checkout

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// maxTrackedBytes is the largest file the repository may hold.
const maxTrackedBytes = 1 << 20

// executableMagic are the first bytes of the executables a Go build writes
// (ELF on Linux, Mach-O on macOS, PE on Windows).
var executableMagic = [][]byte{
	{0x7f, 'E', 'L', 'F'},
	{0xcf, 0xfa, 0xed, 0xfe}, {0xce, 0xfa, 0xed, 0xfe}, {0xfe, 0xed, 0xfa, 0xcf}, {0xfe, 0xed, 0xfa, 0xce},
	{'M', 'Z'},
}

// TestTrackedFiles fails when git tracks a compiled program anywhere, a file
// over 1 MiB, or binary content outside a testdata folder (a test's own
// fixtures, such as the legacy store the migration test opens).
func TestTrackedFiles(t *testing.T) {
	// make test runs in a checkout (CI's is a fresh clone): without git
	// there is nothing to hold to the rule, and that is a failure.
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v (the test reads what git tracks)", err)
	}
	dir := strings.TrimSpace(string(root))
	cmd := exec.Command("git", "ls-files", "-z", "--cached")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(files) < 10 {
		t.Fatalf("git ls-files listed %d files: %q", len(files), files)
	}
	for _, name := range files {
		if problem := trackedProblem(filepath.Join(dir, name), name); problem != "" {
			t.Errorf("%s: %s; remove it from the index (git rm --cached) and ignore it", name, problem)
		}
	}
}

// trackedProblem says why the file at path (name in the repository) may not
// be tracked, or "".
func trackedProblem(path, name string) string {
	info, err := os.Lstat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return "" // deleted in the working tree: the commit will say
		}
		return err.Error()
	}
	if !info.Mode().IsRegular() {
		return ""
	}
	if info.Size() > maxTrackedBytes {
		return "over 1 MiB (" + strconv.FormatInt(info.Size(), 10) + " bytes)"
	}
	head := make([]byte, 8000) // git's own look for binary content
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	n, _ := f.Read(head)
	head = head[:n]
	for _, magic := range executableMagic {
		if bytes.HasPrefix(head, magic) && (len(magic) > 2 || bytes.IndexByte(head, 0) >= 0) {
			return "a compiled program"
		}
	}
	if bytes.IndexByte(head, 0) >= 0 && !inTestdata(name) {
		return "binary content outside a testdata folder"
	}
	return ""
}

func inTestdata(name string) bool {
	for _, part := range strings.Split(filepath.ToSlash(name), "/") {
		if part == "testdata" {
			return true
		}
	}
	return false
}
