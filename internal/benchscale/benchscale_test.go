package benchscale

import "testing"

func TestN(t *testing.T) {
	for _, c := range []struct {
		env       string
		base, min int
		want      int
	}{
		{"", 10000, 1, 10000},
		{"0.1", 10000, 1, 1000},
		{"2", 10000, 1, 20000},
		{"0.00001", 10000, 50, 50},
	} {
		t.Setenv(Env, c.env)
		if got := N(c.base, c.min); got != c.want {
			t.Errorf("%s=%q: N(%d, %d) = %d, want %d", Env, c.env, c.base, c.min, got, c.want)
		}
	}
}

func TestScaleRefusesNonsense(t *testing.T) {
	for _, v := range []string{"0", "-1", "abc", "NaN", "Inf"} {
		t.Setenv(Env, v)
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s=%q: no panic", Env, v)
				}
			}()
			Scale()
		}()
	}
}

// A spin of the processor shows as busy time between two readings.
func TestCPUBusy(t *testing.T) {
	before, err := ReadCPU()
	if err != nil {
		t.Skipf("no /proc/stat here: %v", err)
	}
	var after CPU
	for x := 0; ; x++ {
		if after, err = ReadCPU(); err != nil {
			t.Fatal(err)
		}
		if after.total-before.total >= 10 { // ten ticks of the clock
			break
		}
	}
	if b := after.BusySince(before); b <= 0 || b > 100 {
		t.Fatalf("busy %.1f %% while spinning, want in (0, 100]", b)
	}
	if b := before.BusySince(before); b != 0 {
		t.Fatalf("busy %.1f %% over no time, want 0", b)
	}
	if s := after.CoreSecondsSince(before); s <= 0 || s > float64(after.total-before.total)/clockTick {
		t.Fatalf("%.2f core-seconds busy while spinning over %d ticks, want in (0, ticks/%d]", s, after.total-before.total, clockTick)
	}
}
