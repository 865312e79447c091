// Package linearizability records concurrent histories of operations on
// ferrymap maps, made by C threads and Go goroutines in one process, and
// checks them with porcupine against a model whose semantics are the
// header's. See docs/linearizability.md.
package linearizability

import (
	"fmt"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Operation codes; the C threads use the same numbers (cthreads.go).
const (
	opGet = iota
	opSet
	opDel
	opSwap
	opCAS
	opCAD
	opGetOrInsert
	opTake
	opAdd
	opClear
	opLen
	opCount              // the C threads draw from the operations above
	opSnapshot = opCount // Go clients only: an iterator's whole snapshot
)

var opNames = [...]string{"get", "set", "del", "swap", "cas", "cad", "getOrInsert", "take", "add", "clear", "len", "snapshot"}

// Keys is the number of hot keys, 0..Keys-1.
const Keys = 3

type input struct {
	op, key int
	a, b    int64
}

// output is what a call reported, normalised across the C and Go forms:
// ok is false for a call that failed (an error: never legal); flag is the
// operation's bool (found, replaced, removed, swapped, inserted);
// value its number; snap an iterator's whole content.
type output struct {
	ok    bool
	flag  bool
	value int64
	snap  string
}

type call struct {
	client     int
	in         input
	out        output
	start, end int64
}

// entry is one key's state in the model.
type entry struct {
	present bool
	v       int64
}

// state is the whole map over the hot keys: an array, so that porcupine
// compares states with ==.
type state [Keys]entry

func (s state) String() string {
	var b strings.Builder
	for k, e := range s {
		if e.present {
			fmt.Fprintf(&b, "%d=%d ", k, e.v)
		}
	}
	return strings.TrimSpace(b.String())
}

func (s state) count() int64 {
	n := int64(0)
	for _, e := range s {
		if e.present {
			n++
		}
	}
	return n
}

// step is the sequential specification of every operation, as the header
// states it. It returns whether out is what the operation returns in state
// s, and the state after it.
func step(s state, in input, out output) (bool, state) {
	if !out.ok {
		return false, s
	}
	e := s[in.key]
	next := s
	switch in.op {
	case opGet:
		return out.flag == e.present && (!e.present || out.value == e.v), s
	case opSet:
		next[in.key] = entry{true, in.a}
		return out.flag == e.present, next
	case opDel:
		next[in.key] = entry{}
		return out.flag == e.present, next
	case opSwap:
		next[in.key] = entry{true, in.a}
		return out.flag == e.present && (!e.present || out.value == e.v), next
	case opCAS:
		if e.present && e.v == in.a {
			next[in.key] = entry{true, in.b}
			return out.flag, next
		}
		return !out.flag, s
	case opCAD:
		if e.present && e.v == in.a {
			next[in.key] = entry{}
			return out.flag, next
		}
		return !out.flag, s
	case opGetOrInsert:
		if e.present {
			return !out.flag && out.value == e.v, s
		}
		next[in.key] = entry{true, in.a}
		return out.flag && out.value == in.a, next
	case opTake:
		next[in.key] = entry{}
		return out.flag == e.present && (!e.present || out.value == e.v), next
	case opAdd:
		v := in.a
		if e.present {
			v += e.v
		}
		next[in.key] = entry{true, v}
		return out.value == v, next
	case opClear:
		return true, state{}
	case opLen:
		return out.value == s.count(), s
	case opSnapshot:
		return out.snap == s.String(), s
	}
	return false, s
}

// Model is the map's model for porcupine: one whole-map state, because
// clear, len and snapshots see every key at once.
var Model = porcupine.Model{
	Init: func() interface{} { return state{} },
	Step: func(st, in, out interface{}) (bool, interface{}) {
		return step(st.(state), in.(input), out.(output))
	},
	DescribeOperation: func(in, out interface{}) string {
		i, o := in.(input), out.(output)
		return fmt.Sprintf("%s(%d,%d,%d) -> %v %v %d %q", opNames[i.op], i.key, i.a, i.b, o.ok, o.flag, o.value, o.snap)
	},
	DescribeState: func(st interface{}) string { return st.(state).String() },
}

// WrongModel is the negative control: clear removes only key 0, as if a
// clear could be seen half done. The checker must reject histories that
// show the difference.
var WrongModel = porcupine.Model{
	Init: Model.Init,
	Step: func(st, in, out interface{}) (bool, interface{}) {
		s, i := st.(state), in.(input)
		if i.op == opClear {
			if !out.(output).ok {
				return false, s
			}
			s[0] = entry{}
			return true, s
		}
		return step(s, i, out.(output))
	},
}

// operations turns calls into porcupine's form.
func operations(calls []call) []porcupine.Operation {
	ops := make([]porcupine.Operation, len(calls))
	for i, c := range calls {
		ops[i] = porcupine.Operation{ClientId: c.client, Input: c.in, Call: c.start, Output: c.out, Return: c.end}
	}
	return ops
}
