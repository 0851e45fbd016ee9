package benchscale

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPU is a reading of the machine's processor time (/proc/stat), to tell
// whether a figure was limited by the processors: a second instance cannot
// add throughput to a run that already kept every core busy.
type CPU struct {
	busy, total uint64
}

// clockTick is USER_HZ, the unit of /proc/stat: 100 on every Linux
// architecture Go runs on (the kernel fixes it for user space).
const clockTick = 100

// ReadCPU reads the machine's processor time so far.
func ReadCPU() (CPU, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return CPU{}, fmt.Errorf("cpu: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[0] != "cpu" {
			continue
		}
		var c CPU
		for i, v := range fields[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return CPU{}, fmt.Errorf("cpu: /proc/stat field %d: %w", i+1, err)
			}
			c.total += n
			if i != 3 && i != 4 { // idle and iowait
				c.busy += n
			}
		}
		return c, nil
	}
	return CPU{}, fmt.Errorf("cpu: no cpu line in /proc/stat")
}

// BusySince is the share of the machine's processor time, in percent,
// spent busy (neither idle nor waiting for I/O) between an earlier reading
// and c.
func (c CPU) BusySince(earlier CPU) float64 {
	total := c.total - earlier.total
	if total == 0 {
		return 0
	}
	return 100 * float64(c.busy-earlier.busy) / float64(total)
}

// CoreSecondsSince is the processor time, in seconds of one core, that the
// machine spent busy between an earlier reading and c. Divided by the work
// done it is the work's cost in processor time, whatever the processors'
// number; runtime.NumCPU over that cost is the most work per second the
// machine could do at that cost with every core busy.
func (c CPU) CoreSecondsSince(earlier CPU) float64 {
	return float64(c.busy-earlier.busy) / clockTick
}
