package main

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what the benchmark reads from one wrk run.
type wrkResult struct {
	Requests    int64
	RequestsSec float64
	P50, P99    time.Duration
	// Non2xx counts responses that were not 2xx or 3xx: for a paid target,
	// a token that stopped working.
	Non2xx int64
	// SocketErrors sums connect, read, write and timeout errors.
	SocketErrors int64
}

// errWrkOutput is wrapped by every parse failure.
var errWrkOutput = errors.New("gatebench: unexpected wrk output")

// parseWrk reads the report `wrk --latency` prints.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveP50, haveP99, haveRate, haveCount bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		var err error
		switch {
		case len(fields) == 2 && fields[0] == "50%":
			r.P50, err = parseWrkDuration(fields[1])
			haveP50 = true
		case len(fields) == 2 && fields[0] == "99%":
			r.P99, err = parseWrkDuration(fields[1])
			haveP99 = true
		case len(fields) == 2 && fields[0] == "Requests/sec:":
			r.RequestsSec, err = strconv.ParseFloat(fields[1], 64)
			if err == nil && (r.RequestsSec < 0 || math.IsNaN(r.RequestsSec) || math.IsInf(r.RequestsSec, 0)) {
				err = fmt.Errorf("not a rate: %s", fields[1])
			}
			haveRate = true
		case len(fields) >= 3 && fields[1] == "requests" && fields[2] == "in":
			r.Requests, err = parseCount(fields[0])
			haveCount = true
		case len(fields) == 5 && fields[0] == "Non-2xx" && fields[3] == "responses:":
			r.Non2xx, err = parseCount(fields[4])
		case len(fields) == 10 && fields[0] == "Socket" && fields[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for _, i := range []int{3, 5, 7, 9} {
				n, perr := parseCount(strings.TrimSuffix(fields[i], ","))
				if perr != nil {
					err = perr
					break
				}
				r.SocketErrors += n
			}
		}
		if err != nil {
			return wrkResult{}, fmt.Errorf("%w: line %q: %v", errWrkOutput, sc.Text(), err)
		}
	}
	if !haveP50 || !haveP99 || !haveRate || !haveCount {
		return wrkResult{}, fmt.Errorf("%w: no latency distribution, request count or rate (was --latency given?)", errWrkOutput)
	}
	return r, nil
}

func parseCount(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n < 0 {
		err = fmt.Errorf("negative count %s", s)
	}
	return n, err
}

// parseWrkDuration reads wrk's latencies: a decimal number and one of the
// units us, ms, s, m, h, which time.ParseDuration knows too.
func parseWrkDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative latency %s", s)
	}
	return d, nil
}
