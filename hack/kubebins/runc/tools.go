//go:build tools

// Package runc only records the command this module builds, so `go mod tidy` keeps it.
package runc

import (
	_ "github.com/opencontainers/runc"
)
