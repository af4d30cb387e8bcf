// Package tpch generates TPC-H data sets as Parquet files, for demos and
// benchmarks of the SQL warehouse engine, together with the DuckDB SQL to
// expose them (Views) and a few standard queries (Queries).
//
// # How the data is made
//
// Rows come from the Go port of the TPC-H dbgen in
// github.com/pingcap/go-tpc/tpch/dbgen. They are written as '|' separated
// text into a staging directory, loaded into an in-memory DuckDB with the
// standard TPC-H schema (DECIMAL(15,2) money, quantities, discounts and
// taxes; DATE dates; BIGINT/INTEGER keys) and exported with
// COPY ... (FORMAT parquet). DuckDB's own tpch extension is never used: the
// database is opened with extension autoloading and autoinstalling disabled.
//
// # Scale factors
//
// An integral scale factor s >= 1 yields the full dbgen output for SF s:
// the same rows, keys and values as the reference dbgen, so official
// TPC-H answer sets apply.
//
// A fractional scale factor s in (0, 1) yields a prefix of SF 1: the first
// ceil(s*base) rows of part (base 200,000, with its 4 partsupp rows each),
// supplier (10,000), customer (150,000) and orders (1,500,000, with all the
// lineitems of those orders); nation (25) and region (5) are always complete.
// To keep referential integrity, foreign keys that point outside the prefix
// are folded into it:
//
//	l_partkey, ps_partkey  k -> ((k-1) mod nPart) + 1
//	o_custkey              k -> ((k-1) mod nCust) + 1
//
// Supplier keys cannot be folded the same way (the 4 suppliers of a part
// would collapse onto one), so ps_suppkey is recomputed with the TPC-H
// part/supplier bridge over nSupp suppliers, and l_suppkey is mapped to the
// partsupp row it referenced in SF 1 (same part, same supplier slot 0..3);
// l_extendedprice (= l_quantity * p_retailprice of the folded part) and
// o_totalprice are recomputed accordingly. The data is therefore
// TPC-H-shaped and internally consistent (every lineitem has its order,
// part, supplier and partsupp row; every order has its customer; the
// (ps_partkey, ps_suppkey) pairs are unique) but query answers differ from
// the official answer sets of any scale factor. Scales that give fewer than
// 4 suppliers (s <= 0.0003) are rejected; non-integral scales above 1 are
// rejected too.
//
// # Concurrency and caching
//
// The dbgen package keeps its state in package globals, so generation is
// serialised by a package mutex; dbgen's 300 MB text pool is built once per
// process (about 14 s, more if the dbgen scale factor changes) and its random
// streams are reset before every run, so a given scale always yields the same
// rows. Generate writes into a temporary directory next to the target and
// renames it into place, so a reader never sees half a data set, and a
// directory that already holds all the tables is reused as is. Every use of
// the dbgen package in the process must go through this package. dbgen
// prints a few progress lines to standard output.
package tpch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Tables are the names of the eight TPC-H tables; each is stored as
// <name>.parquet.
var Tables = []string{"customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"}

// maxScale is the largest scale factor TPC-H defines.
const maxScale = 100000

// ScaleDirName is the conventional directory name for a scale factor, e.g.
// "sf0.01" or "sf1".
func ScaleDirName(scale float64) string {
	return "sf" + strconv.FormatFloat(scale, 'f', -1, 64)
}

// Views returns the statements that create schema tpch and one view per table
// over the Parquet files in dir. The path is embedded as given, so it must be
// valid for the process that runs the statements (use an absolute path when
// in doubt).
func Views(dir string) []string {
	stmts := make([]string, 0, len(Tables)+1)
	stmts = append(stmts, "CREATE SCHEMA IF NOT EXISTS tpch")
	for _, t := range tableNames() {
		stmts = append(stmts, fmt.Sprintf("CREATE OR REPLACE VIEW tpch.%s AS SELECT * FROM read_parquet(%s)",
			t, sqlString(filepath.Join(dir, t+".parquet"))))
	}
	return stmts
}

// Generate writes the eight tables at the given scale factor into dir as
// <table>.parquet. If dir already holds all eight files it returns nil at
// once. A dir that exists, is not empty and lacks some of the files is an
// error (it is left untouched). The files are written into a temporary
// directory next to dir and renamed into place when complete.
func Generate(ctx context.Context, dir string, scale float64) error {
	p, err := planFor(scale)
	if err != nil {
		return err
	}
	if dir == "" {
		return errors.New("tpch: empty directory name")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dir = filepath.Clean(dir)
	if done, err := checkDir(dir); err != nil || done {
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op once renamed

	gen := func() (bool, error) {
		// Another Generate of this process may have finished dir while we
		// waited for the dbgen lock.
		if done, err := checkDir(dir); err != nil || done {
			return done, err
		}
		return false, writeText(ctx, tmp, p)
	}
	if done, err := withDbgen(gen); err != nil || done {
		return err
	}
	if err := toParquet(ctx, tmp); err != nil {
		return err
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return fmt.Errorf("tpch: %w", err)
	}
	return publish(tmp, dir)
}

// publish renames the complete staging directory tmp to dir.
func publish(tmp, dir string) error {
	err := os.Rename(tmp, dir)
	if err != nil && os.Remove(dir) == nil { // dir was an empty directory
		err = os.Rename(tmp, dir)
	}
	if err == nil {
		return syncDir(filepath.Dir(dir))
	}
	// Lost a race with another generator, or dir is in the way.
	if done, cerr := checkDir(dir); cerr != nil || done {
		return cerr
	}
	return fmt.Errorf("tpch: publish %s: %w", dir, err)
}

// checkDir reports whether dir holds a complete data set. It fails if dir
// exists, is not a complete data set and is not an empty directory.
func checkDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("tpch: %w", err)
	}
	if len(entries) == 0 {
		return false, nil
	}
	have := make(map[string]bool, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			have[e.Name()] = true
		}
	}
	var missing []string
	for _, t := range tableNames() {
		if !have[t+".parquet"] {
			missing = append(missing, t+".parquet")
		}
	}
	if len(missing) == 0 {
		return true, nil
	}
	return false, fmt.Errorf("tpch: %s exists but is not a complete TPC-H data set (missing %s); remove it or use another directory",
		dir, strings.Join(missing, ", "))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("tpch: sync %s: %w", dir, err)
	}
	return nil
}

// Base row counts of SF 1.
const (
	basePart   = 200000
	baseSupp   = 10000
	baseCust   = 150000
	baseOrders = 1500000
	nNation    = 25
	nRegion    = 5
	suppPerPrt = 4
)

// plan is what to generate for a scale factor.
type plan struct {
	dbgenScale int64 // argument of dbgen.InitDbGen
	fold       bool  // fractional scale: prefix of SF 1 with folded keys
	nPart      int64
	nSupp      int64
	nCust      int64
	nOrders    int64
}

func planFor(scale float64) (plan, error) {
	switch {
	case math.IsNaN(scale) || scale <= 0:
		return plan{}, fmt.Errorf("tpch: scale factor must be > 0, got %v", scale)
	case scale > maxScale:
		return plan{}, fmt.Errorf("tpch: scale factor %v is above the TPC-H maximum %d", scale, maxScale)
	case scale >= 1 && scale != math.Trunc(scale):
		return plan{}, fmt.Errorf("tpch: scale factor %v: above 1 only integers are supported", scale)
	case scale >= 1:
		s := int64(scale)
		return plan{dbgenScale: s, nPart: basePart * s, nSupp: baseSupp * s, nCust: baseCust * s, nOrders: baseOrders * s}, nil
	}
	p := plan{
		dbgenScale: 1,
		fold:       true,
		nPart:      scaledCount(scale, basePart),
		nSupp:      scaledCount(scale, baseSupp),
		nCust:      scaledCount(scale, baseCust),
		nOrders:    scaledCount(scale, baseOrders),
	}
	if p.nSupp < suppPerPrt {
		return plan{}, fmt.Errorf("tpch: scale factor %v is too small: it gives %d suppliers and each part needs %d distinct ones (use a scale >= 0.0004)",
			scale, p.nSupp, suppPerPrt)
	}
	return p, nil
}

// scaledCount is ceil(scale*base), ignoring float noise such as
// 0.01*150000 = 1500.0000000000002.
func scaledCount(scale float64, base int64) int64 {
	v := scale * float64(base)
	if r := math.Round(v); math.Abs(v-r) <= 1e-9*math.Max(1, v) {
		v = r
	}
	return max(1, int64(math.Ceil(v)))
}

func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
