package sqlite

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// sumOfChildren runs n copies of this test binary, each running only test,
// at once, with env(i) added to its environment and resultEnv naming a
// file where the child writes a count. It waits for all of them and
// returns the sum of their counts: the multi-process tests use it to show
// that SQLite's locks, not a mutex of one process, keep a limit.
func sumOfChildren(t *testing.T, test string, n int, resultEnv string, env func(i int) []string) int {
	t.Helper()
	cmds := make([]*exec.Cmd, n)
	results := make([]string, n)
	for i := range cmds {
		results[i] = filepath.Join(t.TempDir(), "count")
		cmds[i] = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
		cmds[i].Env = append(append(os.Environ(), env(i)...), resultEnv+"="+results[i])
		cmds[i].Stdout, cmds[i].Stderr = os.Stderr, os.Stderr
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		b, err := os.ReadFile(results[i])
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		count, err := strconv.Atoi(string(b))
		if err != nil {
			t.Fatalf("child %d wrote %q: %v", i, b, err)
		}
		total += count
	}
	return total
}
