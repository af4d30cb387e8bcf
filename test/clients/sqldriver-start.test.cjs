// Databricks' Node SQL driver sends a statement to a stopped warehouse: the gateway holds it,
// the warehouse starts, and the statement succeeds. Run by a Go tier, which starts the engine
// once the operator has started a cluster. Environment: SPL_HOST, SPL_PORT, SPL_PATH, SPL_CA,
// SPL_TOKEN (as in sqldriver.test.cjs).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { DBSQLClient } = require('@databricks/sql');

require('./resolve.cjs');

test('a statement for a stopped warehouse starts it and succeeds', async () => {
  const client = new DBSQLClient();
  await client.connect({
    host: process.env.SPL_HOST, port: Number(process.env.SPL_PORT), path: process.env.SPL_PATH,
    token: process.env.SPL_TOKEN, customCaCert: fs.readFileSync(process.env.SPL_CA), retryMaxAttempts: 1,
  });
  const session = await client.openSession();
  const op = await session.executeStatement('SELECT 42 AS answer');
  assert.deepEqual(await op.fetchAll(), [{ answer: 42 }]);
  await op.close();
  await session.close();
  await client.close();
});
