package localcluster

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A run that stops after recording its changes is undone by the next start, which reads the
// journal back from disk: newest change first, tolerating changes that were never made.
func TestJournalUndoesARunThatDidNotStop(t *testing.T) {
	dir := t.TempDir()
	first, second, never := filepath.Join(dir, "first"), filepath.Join(dir, "second"), filepath.Join(dir, "never-made")
	for _, p := range []string{first, second} {
		if err := os.MkdirAll(filepath.Join(p, "child"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "state", "journal.json")
	j, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{first, second, never} {
		if err := j.record(undoRemoveAll, p); err != nil {
			t.Fatal(err)
		}
	}
	// The crashed run's journal, as the next start finds it.
	again, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []undoStep{{Kind: undoRemoveAll, Args: []string{first}}, {Kind: undoRemoveAll, Args: []string{second}}, {Kind: undoRemoveAll, Args: []string{never}}}
	if diff := cmp.Diff(want, again.Steps); diff != "" {
		t.Fatalf("journal read back (-want +got)\n%s", diff)
	}
	if err := again.undo(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{first, second, path} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after undo (err %v)", p, err)
		}
	}
}

func TestJournalKeepsStepsThatFailed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.json")
	j, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.record("no-such-step", "x"); err != nil {
		t.Fatal(err)
	}
	if err := j.undo(); err == nil {
		t.Fatal("undo of an unknown step succeeded")
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the journal was removed although a step failed: %v", err)
	}
}
