package linearizability

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// checkHistories records and checks histories on direct or bridge maps.
// Every one must be linearizable under Model; the negative control,
// WrongModel, must reject at least one (so the check can fail).
func checkHistories(t *testing.T, bridge bool) {
	histories := envInt("FERRYMAP_LIN_HISTORIES", 60)
	perClient := envInt("FERRYMAP_LIN_OPS", 60)
	ops, rejected, overlapping := 0, 0, 0
	for h := 0; h < histories; h++ {
		calls, err := History(bridge, 2, 3, perClient, int64(h+1))
		if err != nil {
			t.Fatalf("history %d: %v", h, err)
		}
		history := operations(calls)
		ops += len(history)
		overlapping += overlaps(calls)
		switch res := porcupine.CheckOperationsTimeout(Model, history, 20*time.Second); res {
		case porcupine.Ok:
		case porcupine.Unknown:
			t.Fatalf("history %d (%d operations): the checker timed out", h, len(history))
		default:
			t.Fatalf("history %d (%d operations) is not linearizable", h, len(history))
		}
		if porcupine.CheckOperationsTimeout(WrongModel, history, 20*time.Second) == porcupine.Illegal {
			rejected++
		}
	}
	t.Logf("bridge=%v: %d histories, %d operations (%d pairs of calls overlapping in time), all linearizable; the wrong model rejected %d",
		bridge, histories, ops, overlapping, rejected)
	if rejected == 0 {
		t.Fatalf("the negative control was never rejected: the histories cannot tell a half-done clear")
	}
}

// overlaps counts the pairs of calls by different clients whose intervals
// overlap: the concurrency a history actually has.
func overlaps(calls []call) int {
	n := 0
	for i := range calls {
		for j := i + 1; j < len(calls); j++ {
			a, b := calls[i], calls[j]
			if a.client != b.client && a.start <= b.end && b.start <= a.end {
				n++
			}
		}
	}
	return n
}

func TestDirectMapHistories(t *testing.T) { checkHistories(t, false) }

func TestBridgeMapHistories(t *testing.T) { checkHistories(t, true) }

// TestCheckerRejectsALostWrite: a hand-made history that no order explains
// (a get after a completed set returns the old value) is rejected.
func TestCheckerRejectsALostWrite(t *testing.T) {
	history := operations([]call{
		{client: 0, in: input{op: opSet, key: 0, a: 1}, out: output{ok: true}, start: 0, end: 10},
		{client: 1, in: input{op: opGet, key: 0}, out: output{ok: true}, start: 20, end: 30},
	})
	if porcupine.CheckOperations(Model, history) {
		t.Fatal("a get that missed a completed set was accepted")
	}
}
