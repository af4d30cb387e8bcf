// Databricks' Node SQL driver (@databricks/sql) against the gateway's Thrift API: what a user of
// a warehouse does with it, as the driver does it. Run by a Go tier (test/clients), which
// starts the gateway and says where in the environment:
//   SPL_HOST, SPL_PORT, SPL_PATH   the workspace's Thrift path of the warehouse
//   SPL_CA                         the gateway's CA (PEM file)
//   SPL_TOKEN                      a workspace user's token; SPL_OTHER_TOKEN another workspace's
//   SPL_Q1_SQL, SPL_Q1             TPC-H Q1, and its rows as embedded DuckDB answers them (JSON, text)
//   SPL_BIG_SQL, SPL_BIG_SUMS      a 100,000-row query and its sums as DuckDB computes them
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { DBSQLClient } = require('@databricks/sql');

require('./resolve.cjs');

const env = (name) => {
  const v = process.env[name];
  assert.ok(v !== undefined, `${name} is not set: run this through the Go tier`);
  return v;
};
async function connect(token, options = {}) {
  const client = new DBSQLClient();
  // The driver reads Arrow batches by default; without, it asks for column-based sets.
  if (options.arrow === false) client.config.arrowEnabled = false;
  await client.connect({
    host: env('SPL_HOST'), port: Number(env('SPL_PORT')), path: options.path ?? env('SPL_PATH'), token,
    customCaCert: fs.readFileSync(env('SPL_CA')), retryMaxAttempts: 1,
  });
  return client;
}

let client;
let session;
let columnsClient;
let columnsSession;
test.before(async () => {
  client = await connect(env('SPL_TOKEN'));
  session = await client.openSession();
  columnsClient = await connect(env('SPL_TOKEN'), { arrow: false });
  columnsSession = await columnsClient.openSession();
});
test.after(async () => {
  await session?.close();
  await client?.close();
  await columnsSession?.close();
  await columnsClient?.close();
});
// Both result formats: Arrow batches (the drivers' default) and column-based sets.
const formats = () => [['Arrow', session], ['column-based', columnsSession]];

// same compares a driver's value with DuckDB's text: numbers as numbers, the rest as text.
function same(actual, expected, where) {
  if (expected === null) {
    assert.equal(actual, null, where);
  } else if (typeof actual === 'number' || typeof actual === 'bigint') {
    const want = Number(expected);
    assert.ok(Math.abs(Number(actual) - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${where}: ${actual}, want ${expected}`);
  } else {
    assert.equal(String(actual), expected, where);
  }
}

test('TPC-H Q1 with fetchAll, typed and equal to embedded DuckDB, in both formats', async () => {
  for (const [format, session] of formats()) {
    const op = await session.executeStatement(env('SPL_Q1_SQL'));
    const rows = await op.fetchAll();
    await op.close();
    const want = JSON.parse(env('SPL_Q1'));
    assert.equal(rows.length, want.length);
    assert.equal(typeof rows[0].count_order, 'number', 'BIGINT arrives as a number');
    assert.equal(typeof rows[0].sum_qty, 'number', 'DECIMAL arrives as a number');
    rows.forEach((row, i) => Object.values(row).forEach((v, j) => same(v, want[i][j], `${format}: row ${i} column ${j}`)));
    console.log(`Q1 first row (${format})`, JSON.stringify(rows[0]));
  }
});

test('a 100,000-row result across several fetches, with the row count and sums of DuckDB, in both formats', async () => {
  for (const [format, session] of formats()) {
    const op = await session.executeStatement(env('SPL_BIG_SQL'));
    let chunks = 0;
    const sums = { rows: 0, id: 0, flags: 0, x: 0, d: 0, days: new Set(), label: 0 };
    do {
      const chunk = await op.fetchChunk({ maxRows: 10000 });
      if (chunk.length > 0) chunks++;
      for (const r of chunk) {
        sums.rows++;
        sums.id += Number(r.id);
        sums.flags += r.flag ? 1 : 0;
        sums.x += r.x;
        sums.d += r.d;
        sums.days.add(r.day);
        sums.label += r.label.length;
      }
    } while (await op.hasMoreRows());
    await op.close();
    const want = JSON.parse(env('SPL_BIG_SUMS'));
    assert.equal(sums.rows, 100000);
    assert.equal(chunks, 10, 'ten fetches of 10,000 rows');
    same(sums.id, want.id, 'sum(id)');
    same(sums.flags, want.flags, 'count of flags');
    same(sums.x, want.x, 'sum(x)');
    same(sums.d, want.d, 'sum(d)');
    same(sums.days.size, want.days, 'distinct days');
    same(sums.label, want.label, 'sum(length(label))');
    console.log(`100,000 rows (${format}) in ${chunks} fetches`);
  }
});

test('runAsync without direct results: the state is polled until FINISHED', async () => {
  const op = await session.executeStatement('SELECT count(*) AS n FROM range(3000000)', { runAsync: true, maxRows: null });
  const states = [];
  for (;;) {
    const status = await op.status();
    states.push(status.operationState);
    if (![0, 1, 7].includes(status.operationState)) break; // INITIALIZED, RUNNING, PENDING
  }
  assert.equal(states.at(-1), 2, `states ${states}: the last is FINISHED_STATE`);
  const rows = await op.fetchAll();
  await op.close();
  assert.equal(rows[0].n, 3000000);
});

test('cancel stops a long query', async () => {
  const op = await session.executeStatement('SELECT count(*) FROM range(1000000000000) a', { runAsync: true, maxRows: null });
  const first = await op.status();
  assert.ok([0, 1, 7].includes(first.operationState), `the query still runs: state ${first.operationState}`);
  const started = Date.now();
  await op.cancel();
  await assert.rejects(op.fetchAll(), /cancel/i);
  assert.ok(Date.now() - started < 10000, 'canceled within seconds');
  // The session goes on.
  const next = await session.executeStatement('SELECT 1 AS one');
  assert.deepEqual(await next.fetchAll(), [{ one: 1 }]);
  await next.close();
});

test('named and ordinal parameters, typed as the driver sends them', async () => {
  let op = await session.executeStatement('SELECT :n + 1 AS n, :s AS s, :b AS b, :nothing IS NULL AS isnull',
    { namedParameters: { n: 41, s: "it's", b: true, nothing: null } });
  assert.deepEqual(await op.fetchAll(), [{ n: 42, s: "it's", b: true, isnull: true }]);
  await op.close();
  op = await session.executeStatement('SELECT count(*) AS n FROM tpch.lineitem WHERE l_quantity > ? AND l_shipmode = ?',
    { ordinalParameters: [49, 'AIR'] });
  const [{ n }] = await op.fetchAll();
  await op.close();
  assert.ok(n > 0, `${n} lineitems`);
  await assert.rejects(session.executeStatement('SELECT :a, ?', { namedParameters: { a: 1 }, ordinalParameters: [2] }));
});

test('catalog calls list tpch.lineitem and its columns with their types', async () => {
  const all = async (p) => { const op = await p; const rows = await op.fetchAll(); await op.close(); return rows; };
  const catalogs = await all(session.getCatalogs());
  assert.ok(catalogs.some((c) => c.TABLE_CAT === 'memory'), JSON.stringify(catalogs));
  const schemas = await all(session.getSchemas({ catalogName: 'memory' }));
  assert.ok(schemas.some((s) => s.TABLE_SCHEM === 'tpch'), JSON.stringify(schemas));
  const tables = await all(session.getTables({ schemaName: 'tpch', tableName: 'line%' }));
  assert.deepEqual(tables.map((t) => [t.TABLE_SCHEM, t.TABLE_NAME]), [['tpch', 'lineitem']]);
  const columns = await all(session.getColumns({ schemaName: 'tpch', tableName: 'lineitem' }));
  assert.equal(columns.length, 16);
  const quantity = columns.find((c) => c.COLUMN_NAME === 'l_quantity');
  assert.equal(quantity.TYPE_NAME, 'DECIMAL(15,2)');
  assert.equal(quantity.DATA_TYPE, 3, 'java.sql.Types.DECIMAL');
  assert.equal(columns.find((c) => c.COLUMN_NAME === 'l_shipdate').DATA_TYPE, 91, 'java.sql.Types.DATE');
  assert.deepEqual(columns.map((c) => c.ORDINAL_POSITION), [...Array(16).keys()].map((i) => i + 1));
  const types = await all(session.getTypeInfo());
  assert.ok(types.some((t) => t.TYPE_NAME === 'DECIMAL' && t.DATA_TYPE === 3));
  const functions = await all(session.getFunctions({ functionName: 'sum' }));
  assert.ok(functions.some((f) => f.FUNCTION_NAME === 'sum'));
  assert.deepEqual(await all(session.getPrimaryKeys({ schemaName: 'tpch', tableName: 'lineitem' })), []);
  const info = await session.getInfo(17); // CLI_DBMS_NAME
  assert.equal(info.getValue(), 'DuckDB');
});

test('a SQL error comes with its SQLSTATE and DuckDB message', async () => {
  const op = await session.executeStatement('SELECT * FROM tpch.nowhere');
  const err = await op.fetchAll().then(() => null, (e) => e);
  assert.ok(err, 'the statement fails');
  assert.equal(err.response?.sqlState, '42P01', `${err.constructor.name}: ${err.message}`);
  assert.match(err.message, /nowhere/);
});

test('a statement that is not a query is refused by the sandbox', async () => {
  const op = await session.executeStatement("COPY (SELECT 1) TO '/tmp/x.csv'");
  const err = await op.fetchAll().then(() => null, (e) => e);
  assert.ok(err, 'COPY is refused');
  assert.equal(err.response?.sqlState, '42501', JSON.stringify(err.response));
});

test('a user of another workspace is refused before any Thrift', async () => {
  await assert.rejects(async () => {
    const other = await connect(env('SPL_OTHER_TOKEN'));
    try { await other.openSession(); } finally { await other.close(); }
  }, /403/);
});

test('a bad token is refused', async () => {
  await assert.rejects(async () => {
    const bad = await connect('not-a-token');
    try { await bad.openSession(); } finally { await bad.close(); }
  }, /401/);
});
