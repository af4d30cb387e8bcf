package tpch

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testScale = 0.001

var (
	testRoot string // removed by TestMain

	dataOnce sync.Once
	dataDir  string
	dataErr  error
)

func TestMain(m *testing.M) {
	var err error
	testRoot, err = os.MkdirTemp("", "tpch-test-")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(testRoot)
	os.Exit(code)
}

// dataset generates the shared SF 0.001 data set once per test binary.
func dataset(t *testing.T) string {
	t.Helper()
	dataOnce.Do(func() {
		start := time.Now()
		withDbgen(func() (bool, error) { prepareDbgen(1); return false, nil })
		initTime := time.Since(start)
		dataDir = filepath.Join(testRoot, ScaleDirName(testScale))
		start = time.Now()
		dataErr = Generate(context.Background(), dataDir, testScale)
		genTime := time.Since(start)
		t.Logf("dbgen init %v, Generate(%v) %v, parquet %d bytes, seeds reusable %v",
			initTime.Round(time.Millisecond), testScale, genTime.Round(time.Millisecond), dirSize(t, dataDir), seedsUsable)
	})
	if dataErr != nil {
		t.Fatalf("Generate: %v", dataErr)
	}
	return dataDir
}

func dirSize(t *testing.T, dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// openViews opens a DuckDB with the views over dir.
func openViews(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := openDB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	for _, s := range Views(dir) {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

func queryInt(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestRowCounts(t *testing.T) {
	db := openViews(t, dataset(t))
	want := map[string]int64{"customer": 150, "orders": 1500, "part": 200, "partsupp": 800, "supplier": 10, "nation": 25, "region": 5}
	for _, tbl := range Tables {
		n := queryInt(t, db, "SELECT count(*) FROM tpch."+tbl)
		if tbl == "lineitem" {
			if n < 1500 || n > 7*1500 {
				t.Errorf("lineitem: %d rows, want 1500..10500", n)
			}
			t.Logf("lineitem: %d rows", n)
			continue
		}
		if n != want[tbl] {
			t.Errorf("%s: %d rows, want %d", tbl, n, want[tbl])
		}
	}
}

func TestReferentialIntegrity(t *testing.T) {
	db := openViews(t, dataset(t))
	checks := map[string]string{
		"lineitem without part":     "SELECT count(*) FROM tpch.lineitem WHERE l_partkey NOT IN (SELECT p_partkey FROM tpch.part)",
		"lineitem without supplier": "SELECT count(*) FROM tpch.lineitem WHERE l_suppkey NOT IN (SELECT s_suppkey FROM tpch.supplier)",
		"lineitem without order":    "SELECT count(*) FROM tpch.lineitem WHERE l_orderkey NOT IN (SELECT o_orderkey FROM tpch.orders)",
		"lineitem without partsupp": "SELECT count(*) FROM tpch.lineitem l ANTI JOIN tpch.partsupp ps ON l.l_partkey = ps.ps_partkey AND l.l_suppkey = ps.ps_suppkey",
		"order without customer":    "SELECT count(*) FROM tpch.orders WHERE o_custkey NOT IN (SELECT c_custkey FROM tpch.customer)",
		"order without lineitem":    "SELECT count(*) FROM tpch.orders WHERE o_orderkey NOT IN (SELECT l_orderkey FROM tpch.lineitem)",
		"partsupp without part":     "SELECT count(*) FROM tpch.partsupp WHERE ps_partkey NOT IN (SELECT p_partkey FROM tpch.part)",
		"partsupp without supplier": "SELECT count(*) FROM tpch.partsupp WHERE ps_suppkey NOT IN (SELECT s_suppkey FROM tpch.supplier)",
		"duplicate partsupp key":    "SELECT count(*) - count(DISTINCT (ps_partkey, ps_suppkey)) FROM tpch.partsupp",
		"duplicate lineitem key":    "SELECT count(*) - count(DISTINCT (l_orderkey, l_linenumber)) FROM tpch.lineitem",
		"customer without nation":   "SELECT count(*) FROM tpch.customer WHERE c_nationkey NOT IN (SELECT n_nationkey FROM tpch.nation)",
		"supplier without nation":   "SELECT count(*) FROM tpch.supplier WHERE s_nationkey NOT IN (SELECT n_nationkey FROM tpch.nation)",
		"nation without region":     "SELECT count(*) FROM tpch.nation WHERE n_regionkey NOT IN (SELECT r_regionkey FROM tpch.region)",
		"extendedprice != quantity * retailprice": `SELECT count(*) FROM tpch.lineitem JOIN tpch.part ON l_partkey = p_partkey
			WHERE l_extendedprice <> l_quantity * p_retailprice`,
		// o_totalprice is the sum of the rounded per-line charges.
		"totalprice != sum of charges": `SELECT count(*) FROM tpch.orders JOIN (
				SELECT l_orderkey, sum(floor(floor(l_extendedprice * (1 - l_discount) * 100) * (1 + l_tax))) * 0.01 AS total
				FROM tpch.lineitem GROUP BY l_orderkey) ON o_orderkey = l_orderkey
			WHERE o_totalprice <> total`,
	}
	for name, q := range checks {
		if n := queryInt(t, db, q); n != 0 {
			t.Errorf("%s: %d rows", name, n)
		}
	}
	// Each part has 4 distinct suppliers.
	if n := queryInt(t, db, "SELECT count(*) FROM (SELECT ps_partkey FROM tpch.partsupp GROUP BY ALL HAVING count(DISTINCT ps_suppkey) <> 4)"); n != 0 {
		t.Errorf("%d parts without 4 distinct suppliers", n)
	}
}

// The first supplier is row 1 of the reference dbgen (dbgen's own test data),
// which also checks that leading spaces survive the text round trip.
func TestMatchesReferenceDbgen(t *testing.T) {
	db := openViews(t, dataset(t))
	var key, nation int64
	var name, addr, phone, bal, comment string
	err := db.QueryRow("SELECT s_suppkey, s_name, s_address, s_nationkey, s_phone, s_acctbal::VARCHAR, s_comment FROM tpch.supplier ORDER BY s_suppkey LIMIT 1").
		Scan(&key, &name, &addr, &nation, &phone, &bal, &comment)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join([]string{strconv.FormatInt(key, 10), name, addr, strconv.FormatInt(nation, 10), phone, bal, comment}, "|")
	want := "1|Supplier#000000001| N kD4on9OM Ipw3,gf0JBoQDd7tgrzrddZ|17|27-918-335-1736|5755.94|each slyly above the careful"
	if got != want {
		t.Errorf("supplier 1:\n got %q\nwant %q", got, want)
	}
	var status, date, comment2 string
	err = db.QueryRow("SELECT o_orderstatus, o_orderdate::VARCHAR, o_comment FROM tpch.orders WHERE o_orderkey = 3").Scan(&status, &date, &comment2)
	if err != nil {
		t.Fatal(err)
	}
	if status != "F" || date != "1993-10-14" || comment2 != "sly final accounts boost. carefully regular ideas cajole carefully. depos" {
		t.Errorf("order 3: %q %q %q", status, date, comment2)
	}
}

func TestQ1(t *testing.T) {
	db := openViews(t, dataset(t))
	rows, err := db.Query(Queries["q1"])
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var groups []string
	var total int64
	for rows.Next() {
		var flag, status string
		var sumQty, sumBase, sumDisc, sumCharge, avgQty, avgPrice, avgDisc float64
		var count int64
		if err := rows.Scan(&flag, &status, &sumQty, &sumBase, &sumDisc, &sumCharge, &avgQty, &avgPrice, &avgDisc, &count); err != nil {
			t.Fatal(err)
		}
		groups = append(groups, flag+status)
		total += count
		if count <= 0 || sumQty <= 0 || !(sumDisc < sumBase) || !(sumDisc < sumCharge) || !(sumCharge < sumBase*1.08+0.01) {
			t.Errorf("%s%s: implausible sums qty %v base %v disc %v charge %v count %d", flag, status, sumQty, sumBase, sumDisc, sumCharge, count)
		}
		if avgQty < 1 || avgQty > 50 || avgDisc < 0 || avgDisc > 0.10 || math.Abs(avgQty-sumQty/float64(count)) > 0.01 {
			t.Errorf("%s%s: implausible averages qty %v disc %v price %v", flag, status, avgQty, avgDisc, avgPrice)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(groups, ","); got != "AF,NF,NO,RF" {
		t.Errorf("groups %s, want AF,NF,NO,RF", got)
	}
	all := queryInt(t, db, "SELECT count(*) FROM tpch.lineitem")
	if total == 0 || total > all {
		t.Errorf("Q1 counts %d lineitems of %d", total, all)
	}
}

func TestQueriesRun(t *testing.T) {
	db := openViews(t, dataset(t))
	for name, q := range Queries {
		rows, err := db.Query(q)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		rows.Close()
		t.Logf("%s: %d rows", name, n)
		// At SF 0.001 none of the 10 suppliers is in ASIA, so Q5 is empty.
		if n == 0 && name != "q5" {
			t.Errorf("%s: no rows", name)
		}
	}
}

func TestGenerateCached(t *testing.T) {
	dir := dataset(t)
	before := mtimes(t, dir)
	start := time.Now()
	if err := Generate(context.Background(), dir, testScale); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("cached Generate took %v", d)
	}
	after := mtimes(t, dir)
	for name, m := range before {
		if !after[name].Equal(m) {
			t.Errorf("%s rewritten", name)
		}
	}
	if len(after) != len(Tables) {
		t.Errorf("%d files in %s, want %d", len(after), dir, len(Tables))
	}
	// No staging directories are left next to it.
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left over %s", e.Name())
		}
	}
}

func mtimes(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]time.Time{}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = fi.ModTime()
	}
	return m
}

// A second generation in the same process gives the same rows (dbgen's random
// streams are reset).
func TestDeterministic(t *testing.T) {
	first := dataset(t)
	second := filepath.Join(testRoot, "again", ScaleDirName(testScale))
	if err := Generate(context.Background(), second, testScale); err != nil {
		t.Fatal(err)
	}
	db := openViews(t, first)
	for _, tbl := range Tables {
		q := "SELECT count(*) FROM ((FROM tpch." + tbl + " EXCEPT ALL FROM read_parquet(" + sqlString(filepath.Join(second, tbl+".parquet")) + ")) UNION ALL " +
			"(FROM read_parquet(" + sqlString(filepath.Join(second, tbl+".parquet")) + ") EXCEPT ALL FROM tpch." + tbl + "))"
		if n := queryInt(t, db, q); n != 0 {
			t.Errorf("%s: %d rows differ between two generations", tbl, n)
		}
	}
}

func TestGenerateRejectsScale(t *testing.T) {
	for _, s := range []float64{0, -1, math.NaN(), math.Inf(1), 1.5, 0.0001, 200000} {
		dir := filepath.Join(testRoot, "bad", ScaleDirName(s))
		err := Generate(context.Background(), dir, s)
		if err == nil || !strings.Contains(err.Error(), "scale factor") {
			t.Errorf("scale %v: err %v, want a scale factor error", s, err)
		}
		if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("scale %v: %s created", s, dir)
		}
	}
}

func TestGenerateRejectsForeignDir(t *testing.T) {
	dir := filepath.Join(testRoot, "foreign")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "lineitem.parquet"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Generate(context.Background(), dir, testScale)
	if err == nil || !strings.Contains(err.Error(), "not a complete TPC-H data set") {
		t.Errorf("err %v, want a not complete error", err)
	}
}

// cancelAfter is a context that reports cancellation from its n+1st Err call
// on, so that it is seen by the dbgen loaders rather than up front.
type cancelAfter struct {
	context.Context
	n atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestGenerateCancelled(t *testing.T) {
	dataset(t) // dbgen initialised
	for _, n := range []int64{0, 3} {
		ctx := &cancelAfter{Context: context.Background()}
		ctx.n.Store(n)
		dir := filepath.Join(testRoot, "cancelled")
		if err := Generate(ctx, dir, testScale); !errors.Is(err, context.Canceled) {
			t.Errorf("after %d: err %v, want context.Canceled", n, err)
		}
		entries, _ := os.ReadDir(testRoot)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "cancelled") || strings.HasPrefix(e.Name(), ".cancelled") {
				t.Errorf("after %d: left %s", n, e.Name())
			}
		}
	}
}

// An existing empty directory is filled.
func TestGenerateIntoEmptyDir(t *testing.T) {
	dataset(t)
	dir := filepath.Join(testRoot, "empty")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Generate(context.Background(), dir, testScale); err != nil {
		t.Fatal(err)
	}
	if done, err := checkDir(dir); !done || err != nil {
		t.Errorf("checkDir: %v %v", done, err)
	}
}

func TestNoTPCHExtension(t *testing.T) {
	db, err := openDB()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := queryInt(t, db, "SELECT count(*) FROM duckdb_extensions() WHERE extension_name = 'tpch' AND loaded"); n != 0 {
		t.Error("tpch extension loaded")
	}
	for _, s := range []string{"autoload_known_extensions", "autoinstall_known_extensions", "allow_community_extensions"} {
		var v string
		if err := db.QueryRow("SELECT current_setting('" + s + "')::VARCHAR").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != "false" {
			t.Errorf("%s = %s", s, v)
		}
	}
	if _, err := db.Exec("CALL dbgen(sf = 0.001)"); err == nil {
		t.Error("dbgen() of the tpch extension is available")
	}
}

func TestViews(t *testing.T) {
	v := Views("/data/it's")
	if len(v) != len(Tables)+1 || v[0] != "CREATE SCHEMA IF NOT EXISTS tpch" {
		t.Fatalf("Views: %q", v)
	}
	want := "CREATE OR REPLACE VIEW tpch.customer AS SELECT * FROM read_parquet('/data/it''s/customer.parquet')"
	if v[1] != want {
		t.Errorf("got  %s\nwant %s", v[1], want)
	}
}

func TestScaleDirName(t *testing.T) {
	for s, want := range map[float64]string{0.01: "sf0.01", 1: "sf1", 0.001: "sf0.001", 10: "sf10", 0.1: "sf0.1"} {
		if got := ScaleDirName(s); got != want {
			t.Errorf("ScaleDirName(%v) = %s, want %s", s, got, want)
		}
	}
}

func TestScaledCount(t *testing.T) {
	for _, c := range []struct {
		s    float64
		base int64
		want int64
	}{{0.01, baseCust, 1500}, {0.001, baseOrders, 1500}, {0.1, basePart, 20000}, {0.3, baseSupp, 3000}, {0.00015, baseSupp, 2}, {0.7, baseCust, 105000}} {
		if got := scaledCount(c.s, c.base); got != c.want {
			t.Errorf("scaledCount(%v, %d) = %d, want %d", c.s, c.base, got, c.want)
		}
	}
}

func TestPartSuppDistinct(t *testing.T) {
	for _, n := range []int64{4, 5, 10, 11, 100, 250, 1000, 10000} {
		for p := int64(1); p <= 20*n+7; p++ {
			seen := map[int64]bool{}
			for slot := int64(0); slot < suppPerPrt; slot++ {
				k := partSupp(p, slot, n)
				if k < 1 || k > n || seen[k] {
					t.Fatalf("n %d part %d: slot %d gives supplier %d", n, p, slot, k)
				}
				seen[k] = true
			}
		}
	}
}

// TestManualScale measures one generation at $TPCH_MANUAL_SCALE into a
// temporary directory; it is skipped unless the variable is set.
func TestManualScale(t *testing.T) {
	v := os.Getenv("TPCH_MANUAL_SCALE")
	if v == "" {
		t.Skip("set TPCH_MANUAL_SCALE to run")
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	withDbgen(func() (bool, error) { prepareDbgen(max(1, int64(s))); return false, nil })
	t.Logf("dbgen init %v", time.Since(start).Round(time.Millisecond))
	dir := filepath.Join(testRoot, ScaleDirName(s))
	start = time.Now()
	if err := Generate(context.Background(), dir, s); err != nil {
		t.Fatal(err)
	}
	t.Logf("Generate(%v) %v, parquet %d bytes", s, time.Since(start).Round(time.Millisecond), dirSize(t, dir))
	db := openViews(t, dir)
	for _, tbl := range Tables {
		t.Logf("%s: %d rows", tbl, queryInt(t, db, "SELECT count(*) FROM tpch."+tbl))
	}
	for _, name := range []string{"q1", "q3", "q5", "q6", "q10"} {
		start := time.Now()
		rows, err := db.Query(Queries[name])
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
		t.Logf("%s: %v", name, time.Since(start).Round(time.Millisecond))
	}
	// For an integral scale these match the official answer sets (SF 1:
	// Q1 A|F sum_qty 37734107.00 count 1478493, Q6 123141078.2283).
	var sumQty, q6 string
	var count int64
	if err := db.QueryRow("SELECT sum_qty::VARCHAR, count_order FROM ("+Queries["q1"]+") LIMIT 1").Scan(&sumQty, &count); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT revenue::VARCHAR FROM (" + Queries["q6"] + ")").Scan(&q6); err != nil {
		t.Fatal(err)
	}
	t.Logf("Q1 first group sum_qty %s count %d; Q6 revenue %s", sumQty, count, q6)
}
