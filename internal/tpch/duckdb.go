package tpch

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/duckdb/duckdb-go/v2" // database/sql driver "duckdb"
)

// schema is the standard TPC-H DDL, in the order of Tables.
var schema = []struct{ name, ddl string }{
	{"customer", `CREATE TABLE customer (
	c_custkey    BIGINT NOT NULL,
	c_name       VARCHAR(25) NOT NULL,
	c_address    VARCHAR(40) NOT NULL,
	c_nationkey  INTEGER NOT NULL,
	c_phone      CHAR(15) NOT NULL,
	c_acctbal    DECIMAL(15,2) NOT NULL,
	c_mktsegment CHAR(10) NOT NULL,
	c_comment    VARCHAR(117) NOT NULL)`},
	{"lineitem", `CREATE TABLE lineitem (
	l_orderkey      BIGINT NOT NULL,
	l_partkey       BIGINT NOT NULL,
	l_suppkey       BIGINT NOT NULL,
	l_linenumber    INTEGER NOT NULL,
	l_quantity      DECIMAL(15,2) NOT NULL,
	l_extendedprice DECIMAL(15,2) NOT NULL,
	l_discount      DECIMAL(15,2) NOT NULL,
	l_tax           DECIMAL(15,2) NOT NULL,
	l_returnflag    CHAR(1) NOT NULL,
	l_linestatus    CHAR(1) NOT NULL,
	l_shipdate      DATE NOT NULL,
	l_commitdate    DATE NOT NULL,
	l_receiptdate   DATE NOT NULL,
	l_shipinstruct  CHAR(25) NOT NULL,
	l_shipmode      CHAR(10) NOT NULL,
	l_comment       VARCHAR(44) NOT NULL)`},
	{"nation", `CREATE TABLE nation (
	n_nationkey INTEGER NOT NULL,
	n_name      CHAR(25) NOT NULL,
	n_regionkey INTEGER NOT NULL,
	n_comment   VARCHAR(152) NOT NULL)`},
	{"orders", `CREATE TABLE orders (
	o_orderkey      BIGINT NOT NULL,
	o_custkey       BIGINT NOT NULL,
	o_orderstatus   CHAR(1) NOT NULL,
	o_totalprice    DECIMAL(15,2) NOT NULL,
	o_orderdate     DATE NOT NULL,
	o_orderpriority CHAR(15) NOT NULL,
	o_clerk         CHAR(15) NOT NULL,
	o_shippriority  INTEGER NOT NULL,
	o_comment       VARCHAR(79) NOT NULL)`},
	{"part", `CREATE TABLE part (
	p_partkey     BIGINT NOT NULL,
	p_name        VARCHAR(55) NOT NULL,
	p_mfgr        CHAR(25) NOT NULL,
	p_brand       CHAR(10) NOT NULL,
	p_type        VARCHAR(25) NOT NULL,
	p_size        INTEGER NOT NULL,
	p_container   CHAR(10) NOT NULL,
	p_retailprice DECIMAL(15,2) NOT NULL,
	p_comment     VARCHAR(23) NOT NULL)`},
	{"partsupp", `CREATE TABLE partsupp (
	ps_partkey    BIGINT NOT NULL,
	ps_suppkey    BIGINT NOT NULL,
	ps_availqty   INTEGER NOT NULL,
	ps_supplycost DECIMAL(15,2) NOT NULL,
	ps_comment    VARCHAR(199) NOT NULL)`},
	{"region", `CREATE TABLE region (
	r_regionkey INTEGER NOT NULL,
	r_name      CHAR(25) NOT NULL,
	r_comment   VARCHAR(152) NOT NULL)`},
	{"supplier", `CREATE TABLE supplier (
	s_suppkey   BIGINT NOT NULL,
	s_name      CHAR(25) NOT NULL,
	s_address   VARCHAR(40) NOT NULL,
	s_nationkey INTEGER NOT NULL,
	s_phone     CHAR(15) NOT NULL,
	s_acctbal   DECIMAL(15,2) NOT NULL,
	s_comment   VARCHAR(101) NOT NULL)`},
}

// tableNames are the table names, independent of the exported (mutable)
// Tables.
func tableNames() []string {
	names := make([]string, len(schema))
	for i, t := range schema {
		names[i] = t.name
	}
	return names
}

// dsn opens an in-memory DuckDB that never installs or loads extensions (the
// tpch extension in particular) behind our back.
const dsn = "?autoinstall_known_extensions=false&autoload_known_extensions=false&allow_community_extensions=false"

func openDB() (*sql.DB, error) {
	db, err := sql.Open("duckdb", dsn)
	if err != nil {
		return nil, fmt.Errorf("tpch: open duckdb: %w", err)
	}
	return db, nil
}

// toParquet converts every <table>.tbl in dir to <table>.parquet, removing
// the text files. Tables are loaded one at a time into an in-memory DuckDB,
// which spills to a directory inside dir if they outgrow its memory limit.
func toParquet(ctx context.Context, dir string) (err error) {
	spill := filepath.Join(dir, "duckdb.tmp")
	db, err := openDB()
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("tpch: close duckdb: %w", cerr)
		}
		if rerr := os.RemoveAll(spill); err == nil && rerr != nil {
			err = fmt.Errorf("tpch: %w", rerr)
		}
	}()
	// One connection: DuckDB parallelises each statement itself.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, "SET temp_directory = "+sqlString(spill)); err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	for _, t := range schema {
		tbl := filepath.Join(dir, t.name+".tbl")
		out := filepath.Join(dir, t.name+".parquet")
		stmts := []string{
			t.ddl,
			fmt.Sprintf("COPY %s FROM %s (FORMAT csv, DELIMITER '|', HEADER false, QUOTE '', ESCAPE '', AUTO_DETECT false)", t.name, sqlString(tbl)),
			fmt.Sprintf("COPY %s TO %s (FORMAT parquet, COMPRESSION snappy)", t.name, sqlString(out)),
			"DROP TABLE " + t.name,
		}
		for _, s := range stmts {
			if _, err := db.ExecContext(ctx, s); err != nil {
				return fmt.Errorf("tpch: %s: %w", t.name, err)
			}
		}
		if err := os.Remove(tbl); err != nil {
			return fmt.Errorf("tpch: %w", err)
		}
		if err := syncFile(out); err != nil {
			return err
		}
	}
	return nil
}

func syncFile(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("tpch: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("tpch: sync %s: %w", name, err)
	}
	return nil
}
