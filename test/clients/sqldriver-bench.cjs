// A benchmark's client: Databricks' Node SQL driver on one session, running the statements it
// reads from standard input, one JSON line each ({"sql": ...}), and answering each with its
// time and row count ({"ms": ..., "rows": ...}) on standard output, so that a Go benchmark
// can interleave the driver's runs with its own. Environment as sqldriver.test.cjs's.
'use strict';
const fs = require('node:fs');
const readline = require('node:readline');
const { DBSQLClient } = require('@databricks/sql');

require('./resolve.cjs');

(async () => {
  const client = new DBSQLClient();
  // SPL_ARROW=false asks for column-based sets instead of the driver's default Arrow batches.
  if (process.env.SPL_ARROW === 'false') client.config.arrowEnabled = false;
  await client.connect({
    host: process.env.SPL_HOST, port: Number(process.env.SPL_PORT), path: process.env.SPL_PATH,
    token: process.env.SPL_TOKEN, customCaCert: fs.readFileSync(process.env.SPL_CA), retryMaxAttempts: 1,
  });
  const session = await client.openSession();
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const { sql } = JSON.parse(line);
    const start = process.hrtime.bigint();
    try {
      const op = await session.executeStatement(sql);
      const rows = await op.fetchAll();
      await op.close();
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      process.stdout.write(JSON.stringify({ ms, rows: rows.length }) + '\n');
    } catch (e) {
      process.stdout.write(JSON.stringify({ error: String(e.message ?? e) }) + '\n');
    }
  }
  await session.close();
  await client.close();
})().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e.message ?? e) }) + '\n');
  process.exit(1);
});
