package main

import (
	"log/slog"
	"strings"
	"testing"
)

func TestRunRefusesABadEnvironment(t *testing.T) {
	t.Setenv("PORT", "eighty")
	t.Setenv("MODEL_FORMAT", "onnx")
	t.Setenv("MODEL_PATH", "/models/m.onnx")
	err := run(slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `PORT "eighty" is not an integer`) || !strings.Contains(err.Error(), `MODEL_FORMAT "onnx"`) {
		t.Errorf("got %v, want errors naming PORT and MODEL_FORMAT", err)
	}
}
