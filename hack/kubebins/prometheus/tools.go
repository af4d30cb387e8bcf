//go:build tools

// Package prometheus only records the command this module builds, so `go mod tidy` keeps it.
package prometheus

import _ "github.com/prometheus/prometheus/cmd/prometheus"
