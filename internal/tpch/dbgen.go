package tpch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	_ "unsafe" // go:linkname

	"github.com/pingcap/go-tpc/tpch/dbgen"
)

// The dbgen package keeps all its state (scale, text pool, random streams,
// loaders) in package globals: dbgenMu serialises every use of it.
var (
	dbgenMu     sync.Mutex
	dbgenScale  int64 // scale of the last InitDbGen, 0 before the first
	dbgenDirty  bool  // random streams advanced since InitDbGen or restore
	seedsUsable bool  // dbgenSeeds has the expected layout
	seedsInit   [len(dbgenSeeds)]dbgen.Seed
)

// dbgenSeeds is dbgen's array of random streams (rand.go: seeds). DbGen does
// not reset the streams, so a second run in the same process would continue
// them and produce other rows; restoring the copy taken right after
// InitDbGen avoids rebuilding the 300 MB text pool (about 14 s) for every run.
// The layout is checked against the streams' tables after InitDbGen
// (expectSeedTables); if it does not match, InitDbGen is called again instead.
//
//go:linkname dbgenSeeds github.com/pingcap/go-tpc/tpch/dbgen.seeds
var dbgenSeeds [48]dbgen.Seed

// expectSeedTables is the Table of each stream as set by dbgen's initSeeds
// (go-tpc v1.0.7).
var expectSeedTables = [len(dbgenSeeds)]dbgen.Table{
	dbgen.TPart, dbgen.TPart, dbgen.TPart, dbgen.TPart, dbgen.TPart, -1, dbgen.TPart,
	dbgen.TPsupp, dbgen.TPsupp, dbgen.TPsupp,
	dbgen.TOrder, dbgen.TOrder, dbgen.TOrder, dbgen.TOrder,
	dbgen.TLine, dbgen.TLine, dbgen.TLine, dbgen.TLine, dbgen.TLine, dbgen.TLine,
	dbgen.TLine, dbgen.TLine, dbgen.TLine, dbgen.TLine, dbgen.TLine, dbgen.TLine,
	dbgen.TCust, dbgen.TCust, dbgen.TCust, dbgen.TCust, dbgen.TCust, dbgen.TCust,
	dbgen.TSupp, dbgen.TSupp, dbgen.TSupp, dbgen.TSupp, dbgen.TSupp,
	dbgen.TPart, dbgen.TOrder, dbgen.TLine, dbgen.TOrder, dbgen.TNation, dbgen.TRegion,
	dbgen.TOrder, dbgen.TSupp, dbgen.TSupp, dbgen.TSupp, dbgen.TSupp,
}

// withDbgen runs f holding the dbgen lock.
func withDbgen(f func() (bool, error)) (bool, error) {
	dbgenMu.Lock()
	defer dbgenMu.Unlock()
	return f()
}

// prepareDbgen makes dbgen ready to generate SF scale from the start of its
// random streams. dbgenMu must be held.
func prepareDbgen(scale int64) {
	if dbgenScale == scale && !dbgenDirty {
		return
	}
	if dbgenScale == scale && seedsUsable {
		dbgenSeeds = seedsInit
		dbgenDirty = false
		return
	}
	dbgen.InitDbGen(scale)
	dbgenScale, dbgenDirty = scale, false
	seedsUsable = true
	for i, t := range expectSeedTables {
		if dbgenSeeds[i].Table != t {
			seedsUsable = false
			break
		}
	}
	if seedsUsable {
		seedsInit = dbgenSeeds
	}
}

// errStop is returned by a loader once its table has all its rows. DbGen
// wraps errors with %v, so the run's stopped flag, not the error, tells it
// apart from a failure.
var errStop = errors.New("tpch: enough rows")

// genRun writes the text files of one data set. dbgenMu must be held.
type genRun struct {
	ctx context.Context
	p   plan
	dir string
	buf []byte

	// state of the current table
	limit   int64 // rows (parts, orders, ...) to generate
	count   int64
	stopped bool
	err     error // first error of a loader, returned as is
}

// textFile is one '|' separated table file.
type textFile struct {
	f *os.File
	w *bufio.Writer
}

func (r *genRun) create(table string) (*textFile, error) {
	f, err := os.Create(filepath.Join(r.dir, table+".tbl"))
	if err != nil {
		return nil, fmt.Errorf("tpch: %w", err)
	}
	return &textFile{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (t *textFile) close() error {
	err := t.w.Flush()
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	return nil
}

// loader adapts a row writer to dbgen.Loader.
type loader struct {
	r     *genRun
	write func(item any) error
}

func (l loader) Load(item any) error {
	r := l.r
	if r.count&1023 == 0 {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			return err
		}
	}
	if err := l.write(item); err != nil {
		r.err = err
		return err
	}
	r.count++
	if r.count >= r.limit {
		r.stopped = true
		return errStop
	}
	return nil
}

func (loader) Flush() error { return nil }

// table generates rows rows of dbgen table t through write.
func (r *genRun) table(t dbgen.Table, rows int64, write func(item any) error) error {
	r.limit, r.count, r.stopped, r.err = rows, 0, false, nil
	err := dbgen.DbGen(map[dbgen.Table]dbgen.Loader{t: loader{r, write}}, []dbgen.Table{t})
	dbgenDirty = true
	switch {
	case r.err != nil:
		return r.err
	case err != nil && !r.stopped:
		return fmt.Errorf("tpch: dbgen: %w", err)
	case r.count != rows:
		return fmt.Errorf("tpch: dbgen made %d rows of table %d, want %d", r.count, t, rows)
	}
	return nil
}

// writeText writes <table>.tbl for every table into dir. dbgenMu must be
// held.
func writeText(ctx context.Context, dir string, p plan) (err error) {
	if err := ctx.Err(); err != nil { // before a possibly long InitDbGen
		return err
	}
	prepareDbgen(p.dbgenScale)
	r := &genRun{ctx: ctx, p: p, dir: dir, buf: make([]byte, 0, 4096)}
	files := map[string]*textFile{}
	defer func() {
		for _, f := range files {
			if cerr := f.close(); err == nil {
				err = cerr
			}
		}
	}()
	for _, t := range tableNames() {
		f, err := r.create(t)
		if err != nil {
			return err
		}
		files[t] = f
	}
	// Biggest first.
	steps := []struct {
		t     dbgen.Table
		rows  int64
		write func(any) error
	}{
		{dbgen.TOrderLine, p.nOrders, func(it any) error { return r.orderLine(files["orders"], files["lineitem"], it.(*dbgen.Order)) }},
		{dbgen.TPartPsupp, p.nPart, func(it any) error { return r.partPsupp(files["part"], files["partsupp"], it.(*dbgen.Part)) }},
		{dbgen.TCust, p.nCust, func(it any) error { return r.customer(files["customer"], it.(*dbgen.Cust)) }},
		{dbgen.TSupp, p.nSupp, func(it any) error { return r.supplier(files["supplier"], it.(*dbgen.Supp)) }},
		{dbgen.TNation, nNation, func(it any) error { return r.nation(files["nation"], it.(*dbgen.Nation)) }},
		{dbgen.TRegion, nRegion, func(it any) error { return r.region(files["region"], it.(*dbgen.Region)) }},
	}
	for _, s := range steps {
		if err := r.table(s.t, s.rows, s.write); err != nil {
			return err
		}
	}
	return nil
}

// Row formatting. Fields are separated by '|', without a trailing one.

func (r *genRun) emit(f *textFile) error {
	r.buf = append(r.buf, '\n')
	_, err := f.w.Write(r.buf)
	r.buf = r.buf[:0]
	if err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	return nil
}

func (r *genRun) int(v int64) {
	r.buf = strconv.AppendInt(r.buf, v, 10)
	r.buf = append(r.buf, '|')
}

func (r *genRun) str(s string) {
	r.buf = append(r.buf, s...)
	r.buf = append(r.buf, '|')
}

func (r *genRun) char(c byte) {
	r.buf = append(r.buf, c, '|')
}

// money appends cents as a decimal with two digits.
func (r *genRun) money(c int64) {
	if c < 0 {
		r.buf = append(r.buf, '-')
		c = -c
	}
	r.buf = strconv.AppendInt(r.buf, c/100, 10)
	r.buf = append(r.buf, '.', byte('0'+c%100/10), byte('0'+c%10), '|')
}

// last drops the separator after the last field.
func (r *genRun) last(f *textFile) error {
	r.buf = r.buf[:len(r.buf)-1]
	return r.emit(f)
}

func (r *genRun) orderLine(of, lf *textFile, o *dbgen.Order) error {
	custKey := int64(o.CustKey)
	totalPrice := int64(o.TotalPrice)
	if r.p.fold {
		custKey = (custKey-1)%r.p.nCust + 1
		totalPrice = 0
	}
	for i := range o.Lines {
		l := &o.Lines[i]
		partKey, suppKey, ePrice := int64(l.PartKey), int64(l.SuppKey), int64(l.EPrice)
		if r.p.fold {
			slot, ok := sf1SuppSlot(partKey, suppKey)
			if !ok {
				return fmt.Errorf("tpch: lineitem %d/%d: supplier %d is not one of part %d", int64(l.OKey), int64(l.LCnt), suppKey, partKey)
			}
			partKey = (partKey-1)%r.p.nPart + 1
			suppKey = partSupp(partKey, slot, r.p.nSupp)
			ePrice = retailPrice(partKey) * int64(l.Quantity)
			// as in dbgen's makeOrder
			totalPrice += ((ePrice * (100 - int64(l.Discount))) / 100) * (100 + int64(l.Tax)) / 100
		}
		r.int(int64(l.OKey))
		r.int(partKey)
		r.int(suppKey)
		r.int(int64(l.LCnt))
		r.int(int64(l.Quantity))
		r.money(ePrice)
		r.money(int64(l.Discount))
		r.money(int64(l.Tax))
		r.char(l.RFlag)
		r.char(l.LStatus)
		r.str(l.SDate)
		r.str(l.CDate)
		r.str(l.RDate)
		r.str(l.ShipInstruct)
		r.str(l.ShipMode)
		r.str(l.Comment)
		if err := r.last(lf); err != nil {
			return err
		}
	}
	r.int(int64(o.OKey))
	r.int(custKey)
	r.char(o.Status)
	r.money(totalPrice)
	r.str(o.Date)
	r.str(o.OrderPriority)
	r.str(o.Clerk)
	r.int(o.ShipPriority)
	r.str(o.Comment)
	return r.last(of)
}

func (r *genRun) partPsupp(pf, sf *textFile, p *dbgen.Part) error {
	r.int(int64(p.PartKey))
	r.str(p.Name)
	r.str(p.Mfgr)
	r.str(p.Brand)
	r.str(p.Type)
	r.int(int64(p.Size))
	r.str(p.Container)
	r.money(int64(p.RetailPrice))
	r.str(p.Comment)
	if err := r.last(pf); err != nil {
		return err
	}
	for i := range p.S {
		ps := &p.S[i]
		suppKey := int64(ps.SuppKey)
		if r.p.fold {
			suppKey = partSupp(int64(ps.PartKey), int64(i), r.p.nSupp)
		}
		r.int(int64(ps.PartKey))
		r.int(suppKey)
		r.int(int64(ps.Qty))
		r.money(int64(ps.SCost))
		r.str(ps.Comment)
		if err := r.last(sf); err != nil {
			return err
		}
	}
	return nil
}

func (r *genRun) customer(f *textFile, c *dbgen.Cust) error {
	r.int(int64(c.CustKey))
	r.str(c.Name)
	r.str(c.Address)
	r.int(int64(c.NationCode))
	r.str(c.Phone)
	r.money(int64(c.Acctbal))
	r.str(c.MktSegment)
	r.str(c.Comment)
	return r.last(f)
}

func (r *genRun) supplier(f *textFile, s *dbgen.Supp) error {
	r.int(int64(s.SuppKey))
	r.str(s.Name)
	r.str(s.Address)
	r.int(int64(s.NationCode))
	r.str(s.Phone)
	r.money(int64(s.Acctbal))
	r.str(s.Comment)
	return r.last(f)
}

func (r *genRun) nation(f *textFile, n *dbgen.Nation) error {
	r.int(int64(n.Code))
	r.str(n.Text)
	r.int(int64(n.Join)) // region key
	r.str(n.Comment)
	return r.last(f)
}

func (r *genRun) region(f *textFile, g *dbgen.Region) error {
	r.int(int64(g.Code))
	r.str(g.Text)
	r.str(g.Comment)
	return r.last(f)
}

// sf1SuppSlot finds which of the 4 suppliers of part p in SF 1 is s
// (dbgen's partSuppBridge with 10,000 suppliers).
func sf1SuppSlot(p, s int64) (int64, bool) {
	const n = baseSupp
	for slot := int64(0); slot < suppPerPrt; slot++ {
		if (p+slot*(n/suppPerPrt+(p-1)/n))%n+1 == s {
			return slot, true
		}
	}
	return 0, false
}

// partSupp is the key of supplier slot (0..3) of part p among n >= 4
// suppliers: TPC-H's bridge (p + slot*(n/4 + (p-1)/n)) mod n + 1 when that
// gives 4 distinct suppliers, else the same with a stride of n/4, which
// always does.
func partSupp(p, slot, n int64) int64 {
	stride := n/suppPerPrt + (p-1)/n
	if stride%n == 0 || (2*stride)%n == 0 || (3*stride)%n == 0 {
		stride = n / suppPerPrt
	}
	return (p+slot*stride)%n + 1
}

// retailPrice is p_retailprice in cents (dbgen's rpbRoutine).
func retailPrice(p int64) int64 {
	return 90000 + (p/10)%20001 + (p%1000)*100
}
