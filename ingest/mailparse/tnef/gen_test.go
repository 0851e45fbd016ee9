package tnef

import (
	"os"
	"testing"
)

// TestWriteSample rewrites testdata/winmail.dat (and nothing else) when
// TNEF_WRITE_SAMPLE=1: the corpus fixture of mailparse embeds these bytes.
func TestWriteSample(t *testing.T) {
	if os.Getenv("TNEF_WRITE_SAMPLE") != "1" {
		t.Skip("set TNEF_WRITE_SAMPLE=1 to rewrite testdata/winmail.dat")
	}
	if err := os.WriteFile("testdata/winmail.dat", sample(), 0o644); err != nil {
		t.Fatal(err)
	}
}
