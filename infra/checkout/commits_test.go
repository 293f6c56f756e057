package checkout

import (
	"os/exec"
	"strings"
	"testing"
)

// subjectsFrom is the first commit held to the subject rule: the earlier
// history keeps its long subjects, as history does.
const subjectsFrom = "05a02ce"

// maxSubject is the longest commit subject, in characters.
const maxSubject = 99

// Commit subjects are one line under 100 characters; the body says the
// rest. Every commit from subjectsFrom on (HEAD alone in a clone too
// shallow to hold it) is held to that.
func TestCommitSubjects(t *testing.T) {
	span := "HEAD^!"
	if exec.Command("git", "merge-base", "--is-ancestor", subjectsFrom, "HEAD").Run() == nil {
		span = subjectsFrom + "^..HEAD"
	}
	out, err := exec.Command("git", "log", "--format=%h %s", span).Output()
	if err != nil {
		t.Fatalf("git log %s: %v", span, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("git log %s listed no commit", span)
	}
	for _, line := range lines {
		hash, subject, _ := strings.Cut(line, " ")
		if n := len([]rune(subject)); n > maxSubject {
			t.Errorf("commit %s: a subject of %d characters (at most %d): %.60q...", hash, n, maxSubject, subject)
		}
	}
}
