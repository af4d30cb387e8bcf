// Package quota does the accounting of the regional serverless quota: a ledger of the DBU/h
// each warehouse holds, and how many clusters fit. It has no client; the warehouse controller
// stores the ledger in a ConfigMap and updates it with optimistic concurrency, so that two
// warehouses racing for the last capacity cannot both get it.
package quota

import (
	"fmt"
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

// Decode reads ConfigMap data written by Encode.
func Decode(data map[string]string) (Ledger, error) {
	l := Ledger{}
	for k, v := range data {
		ns, name, ok := strings.Cut(k, ".")
		if !ok {
			return nil, fmt.Errorf("quota ledger key %q is not namespace.name", k)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("quota ledger entry %q: %q is not a DBU/h amount", k, v)
		}
		l[Key(ns, name)] = n
	}
	return l, nil
}
