// Package quota does the accounting of the regional serverless quota: a ledger of the DBU/h
// each warehouse holds, and how many clusters fit. It has no client; the warehouse controller
// stores the ledger in a ConfigMap and updates it with optimistic concurrency, so that two
// warehouses racing for the last capacity cannot both get it.
package quota

import (
	"sort"
	"strconv"
	"strings"
)

// Ledger maps a warehouse ("namespace/name") to the DBU/h it holds.
type Ledger map[string]int64

// Key is the ledger key of a warehouse.
func Key(namespace, name string) string { return namespace + "/" + name }

// Used is the DBU/h held by every warehouse but except.
func (l Ledger) Used(except string) int64 {
	var total int64
	for k, v := range l {
		if k != except {
			total += v
		}
	}
	return total
}

// Fit returns how many of want more clusters of cost step (DBU/h each) fit under limit, next
// to base (what the warehouse already runs) and others (what every other warehouse holds).
func Fit(limit, others, base, step int64, want int32) int32 {
	if want <= 0 {
		return 0
	}
	free := limit - others - base
	if step <= 0 || free < step {
		return 0
	}
	return int32(min(int64(want), free/step))
}

// Encode turns the ledger into ConfigMap data. ConfigMap keys cannot hold '/', so the key's
// separator becomes '.', which namespace and warehouse names cannot contain.
func Encode(l Ledger) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		if v > 0 {
			out[strings.Replace(k, "/", ".", 1)] = strconv.FormatInt(v, 10)
		}
	}
	return out
}

// Decode reads ConfigMap data written by Encode. An entry that does not parse (the ledger was
// edited or damaged) is left out and its key returned in bad: one bad entry must not stop the
// accounting of every warehouse of the region.
func Decode(data map[string]string) (l Ledger, bad []string) {
	l = Ledger{}
	for k, v := range data {
		ns, name, ok := strings.Cut(k, ".")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || ns == "" || name == "" || err != nil || n < 0 {
			bad = append(bad, k)
			continue
		}
		l[Key(ns, name)] = n
	}
	sort.Strings(bad)
	return l, bad
}

// Repair reconciles a ledger with what the region runs: live is the DBU/h of each warehouse's
// existing clusters and exists says whether a warehouse still exists. An entry of a warehouse
// that is gone is released (its finalizer may have been removed before it could release it),
// and every warehouse holds at least what its clusters cost (an entry lost or edited down is
// restored). An entry above a live warehouse's clusters is kept: it may reserve clusters about
// to be created, and the warehouse settles it itself.
func Repair(l, live Ledger, exists func(key string) bool) Ledger {
	out := Ledger{}
	for k, v := range l {
		if exists(k) || live[k] > 0 {
			out[k] = v
		}
	}
	for k, v := range live {
		out[k] = max(out[k], v)
	}
	for k, v := range out {
		if v <= 0 {
			delete(out, k)
		}
	}
	return out
}
