package mailparse

import (
	"testing"
)

// FuzzParse holds Parse to its promises on any input: no panic (a recovered
// one counts too), never nil, Size is len(raw), strings fit for storage, file
// names safe. Crashers found so far live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, c := range readCorpus(f) {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkInvariants(t, raw, Parse(raw, nil))
		// Small limits reach the limit paths with small inputs.
		checkInvariants(t, raw, Parse(raw, &Limits{MaxHeaderBytes: 64, MaxParts: 3, MaxDepth: 2}))
	})
}
