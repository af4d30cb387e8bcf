// Package clients runs Databricks' own clients against the gateway: the SQL driver
// (@databricks/sql, Thrift) and the SDK (@databricks/sdk-experimental, REST), at the versions
// pinned in package.json and package-lock.json beside this file, from npm. They are installed
// once per lock file into the cache (SERVERLESSPLANE_CACHE, default ~/.cache/serverlessplane),
// outside the work tree, and shared by every tier that runs them.
package clients

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// BigResult is a 100,000-row query of every kind of column the SQL driver reads; BigSums is
// the sums its rows must add up to, as DuckDB computes them, for SumsJSON.
const (
	BigResult = `SELECT range AS id, range % 7 = 0 AS flag, range * 1.5 AS x, CAST(range AS DECIMAL(18,2)) AS d,
	DATE '2020-01-01' + CAST(range % 365 AS INTEGER) AS day, 'row ' || range AS label FROM range(100000)`
	BigSums = `SELECT sum(id)::VARCHAR AS id, sum(flag::INTEGER)::VARCHAR AS flags, sum(x)::VARCHAR AS x, sum(d)::VARCHAR AS d,
	count(DISTINCT day)::VARCHAR AS days, sum(length(label))::VARCHAR AS label FROM (` + BigResult + `)`
)

// SumsJSON is BigSums' row as sqldriver.test.cjs reads it (SPL_BIG_SUMS).
func SumsJSON(row []*string) string {
	names := []string{"id", "flags", "x", "d", "days", "label"}
	m := map[string]*string{}
	for i, n := range names {
		if i < len(row) {
			m[n] = row[i]
		}
	}
	data, _ := json.Marshal(m)
	return string(data)
}

// ErrNoNode says node or npm is not installed: tiers skip, saying so.
var ErrNoNode = errors.New("node and npm are not installed (apt-get install nodejs npm): Databricks' clients cannot run")

// Dir is this package's directory: the test scripts, package.json and its lock.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Install installs the pinned clients unless this lock file's install is cached, and
// returns its node_modules, for NODE_PATH.
func Install(ctx context.Context, log io.Writer) (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", ErrNoNode
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return "", ErrNoNode
	}
	lock, err := os.ReadFile(filepath.Join(Dir(), "package-lock.json"))
	if err != nil {
		return "", err
	}
	manifest, err := os.ReadFile(filepath.Join(Dir(), "package.json"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(append([]byte{}, manifest...), lock...))
	root := filepath.Join(cacheDir(), "node-clients", hex.EncodeToString(sum[:8]))
	modules := filepath.Join(root, "node_modules")
	if _, err := os.Stat(filepath.Join(root, ".installed")); err == nil {
		return modules, nil
	}
	// Installed beside, then moved into place: a run that dies halfway leaves nothing that
	// looks installed, and two runs at once each finish whole.
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(root), "install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for name, data := range map[string][]byte{"package.json": manifest, "package-lock.json": lock} {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return "", err
		}
	}
	// npm install, not npm ci: it installs what the lock pins, and npm ci refuses this lock
	// because an optional platform package of the SQL driver (its Windows kernel) has no
	// published version to lock.
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir, cmd.Stdout, cmd.Stderr = tmp, log, log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm install of %s: %w", filepath.Join(Dir(), "package.json"), err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".installed"), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, root); err != nil {
		if _, statErr := os.Stat(filepath.Join(root, ".installed")); statErr == nil {
			return modules, nil // another run installed it first
		}
		return "", err
	}
	return modules, nil
}

func cacheDir() string {
	if d := os.Getenv("SERVERLESSPLANE_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "serverlessplane-cache")
	}
	return filepath.Join(home, ".cache", "serverlessplane")
}

// Test runs one of this directory's node:test scripts with the clients on NODE_PATH and env
// added to the environment, writing its report to out.
func Test(ctx context.Context, modules, script string, env map[string]string, out io.Writer) error {
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", filepath.Join(Dir(), script))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "NODE_NO_WARNINGS=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("node --test %s: %w", script, err)
	}
	return nil
}
