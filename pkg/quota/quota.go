// Package quota does the accounting of the regional serverless quota: a ledger of the DBU/h
// each warehouse holds, and how many clusters fit. It has no client. The warehouse controller
// stores a region's ledger as one small object per warehouse (its reservation) and one for the
// region's total, which every reservation updates with optimistic concurrency, so that two
// warehouses racing for the last capacity cannot both get it, and no write grows with the
// number of warehouses in the region.
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

// Split is the warehouse's namespace and name of a ledger key.
func Split(key string) (namespace, name string) {
	namespace, name, _ = strings.Cut(key, "/")
	return namespace, name
}

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

// The data keys of a region's total and of a warehouse's reservation.
const (
	// DataDBU is the DBU/h the region's warehouses hold (in the total) or one warehouse
	// holds (in its reservation).
	DataDBU = "dbuPerHour"
	// DataWarehouse names the warehouse of a reservation ("namespace/name").
	DataWarehouse = "warehouse"
)

// EncodeTotal is the data of a region's total.
func EncodeTotal(dbu int64) map[string]string {
	return map[string]string{DataDBU: strconv.FormatInt(dbu, 10)}
}

// DecodeTotal reads a region's total. ok is false unless the data is exactly what EncodeTotal
// writes: a total that was edited, damaged or written in the old layout (one entry per
// warehouse, see Decode) is rebuilt, not trusted.
func DecodeTotal(data map[string]string) (dbu int64, ok bool) {
	if len(data) != 1 {
		return 0, false
	}
	dbu, err := strconv.ParseInt(data[DataDBU], 10, 64)
	return dbu, err == nil && dbu >= 0
}

// EncodeReservation is the data of a warehouse's reservation.
func EncodeReservation(key string, dbu int64) map[string]string {
	return map[string]string{DataWarehouse: key, DataDBU: strconv.FormatInt(dbu, 10)}
}

// DecodeReservation reads a warehouse's reservation; ok is false if it does not parse.
func DecodeReservation(data map[string]string) (key string, dbu int64, ok bool) {
	key = data[DataWarehouse]
	ns, name := Split(key)
	dbu, err := strconv.ParseInt(data[DataDBU], 10, 64)
	return key, dbu, ns != "" && name != "" && err == nil && dbu >= 0 && len(data) == 2
}

// Decode reads a ledger of the old layout, one ConfigMap per region with an entry per
// warehouse ("namespace.name": DBU/h), so that an upgrade keeps its reservations. An entry that
// does not parse is left out and its key returned in bad.
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
