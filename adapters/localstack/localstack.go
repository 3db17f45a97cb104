// Package localstack starts the local stack's services for tests, through
// scripts/stack.sh, when the environment does not name running ones
// (`make test` starts them once for the whole run).
package localstack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

var (
	mu      sync.Mutex
	started = map[string]string{}
)

// URL returns the value of envVar, or starts the service with
// `scripts/stack.sh <start> .data/<dir>` (once per process, serialized
// across processes by flock) and returns the URL it prints.
func URL(envVar, start, dir string) (string, error) {
	if u := os.Getenv(envVar); u != "" {
		return u, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if u, ok := started[start]; ok {
		return u, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, ".data", dir)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	// -o: the started daemon must not inherit the lock.
	out, err := exec.Command("flock", "-o", path+".lock", filepath.Join(root, "scripts", "stack.sh"), start, path).Output()
	if err != nil {
		return "", err
	}
	u := strings.TrimSpace(string(out))
	started[start] = u
	return u, nil
}

// RepoRoot returns the folder holding go.mod, from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
