/**
 * The web console in a real browser (Debian's chromium driven by playwright-core) against a real
 * `pgdts serve` and the real PostgreSQL test servers: log in with the token; add data sources (an
 * invalid identifier is named under its field; a wrong password makes Test connection show the
 * failed authentication check and its reason; that one is deleted and added again right); create a
 * task through the wizard with a renamed table and a row filter; precheck, ignore the
 * replica-identity warning, precheck again, start; watch per-table progress reach 100 % and the lag
 * chart get points; change the throttle while it runs; pause and resume; release. The destination
 * then holds the renamed table with exactly the source rows the filter keeps. Then ([V10]) a
 * verification from the task page: a rows verification of a destination with planted differences
 * (a row deleted, one added, two changed, one of them a long value) shows status failed, the
 * table's differences and each differing row with its kind and values; a second start while it runs
 * is refused with a clear message; after the destination is fixed, a new one shows passed.
 * Screenshots of each page go to docs/console/ (README "Web console").
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { waitForCatchUp } from '../support/catch-up.ts';
import { addDataSources, createPrecheckedTask, startServe, type Serve } from '../support/control-serve.ts';
import { until } from '../support/own-server.ts';
import { freshDatabase, sql, testServer, urlOf, type TestServer } from '../support/servers.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SHOTS = path.join(ROOT, 'docs/console');
const CHROMIUM = '/usr/bin/chromium';
const source = testServer(15);
const destination = testServer(17);
const TOKEN = `token-${randomBytes(12).toString('hex')}`;
/** The row filter the task gets, and the same condition checked on the source. */
const WHERE = 'id % 3 = 0';

let serve: Serve;
let context: BrowserContext;
let page: Page;
let profile: string;
let srcDb: string;
let dstDb: string;

function newest(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((t, e) => {
    const p = path.join(dir, e.name);
    return Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }, 0);
}

/** Builds dist/console unless it is newer than every file of console/ (npm test built it already). */
function ensureConsoleBuilt(): void {
  const index = path.join(ROOT, 'dist/console/index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newest(path.join(ROOT, 'console'))) return;
  const r = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules/vite/bin/vite.js'),
      'build',
      '--config',
      'console/vite.config.ts',
      '--logLevel',
      'warn',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `vite build failed:\n${r.stdout}\n${r.stderr}`);
}

async function shot(name: string): Promise<void> {
  // The whole page from its top (the header is fixed: a scrolled page would show it in the middle).
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

/** Picks `option` in the Mantine Select labelled `label`. */
async function choose(label: RegExp, option: RegExp): Promise<void> {
  await page.getByRole('combobox', { name: label }).click();
  await page.getByRole('option', { name: option }).click();
}

/** Fills the data source form of the open dialog and saves it. */
async function fillDataSourceForm(id: string, s: TestServer, db: string, password: string): Promise<void> {
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('textbox', { name: /^Identifier/ }).fill(id);
  await dialog.getByRole('textbox', { name: /^Host/ }).fill(s.host);
  await dialog.getByRole('textbox', { name: /^Port/ }).fill(String(s.port));
  await dialog.getByRole('textbox', { name: /^Username/ }).fill(s.user);
  await dialog
    .getByLabel(/^Password/)
    .first()
    .fill(password);
  await dialog.getByRole('textbox', { name: /^Database/ }).fill(db);
  await dialog.getByRole('textbox', { name: /^Remarks/ }).fill(`test ${id}`);
  await dialog.getByRole('button', { name: 'Save' }).click();
}

/** Adds a data source on the data sources page. */
async function addDataSource(id: string, s: TestServer, db: string, password: string): Promise<void> {
  await page.getByRole('button', { name: 'Add data source' }).click();
  await fillDataSourceForm(id, s, db, password);
}

/** What has the focus: its name attribute, tag, accessible label (label element or aria-label) and text. */
async function focused(): Promise<{ name: string; tag: string; label: string; text: string }> {
  return page.evaluate(`(() => {
    const el = document.activeElement;
    const label = (el.labels && el.labels[0] ? el.labels[0].textContent : el.getAttribute('aria-label')) || '';
    return { name: el.getAttribute('name') || '', tag: el.tagName, label: label.trim(), text: (el.textContent || '').trim() };
  })()`);
}

/**
 * Presses Tab until the field named `name` has the focus (at most `max` times); every form field
 * passed on the way must have a label.
 */
async function tabTo(name: string, max = 12): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focused();
    if (['INPUT', 'TEXTAREA', 'SELECT'].includes(f.tag))
      assert.notEqual(f.label, '', `field ${f.name} has a label`);
    if (f.name === name) return;
  }
  assert.fail(`Tab did not reach field ${name}`);
}

/** The definition the "Show API request" dialog shows (the dialog is closed again). */
async function apiRequest(): Promise<Record<string, unknown>> {
  await page.getByRole('button', { name: 'Show API request' }).click();
  const text = await page.getByTestId('api-request').innerText();
  await page.keyboard.press('Escape');
  await page.getByTestId('api-request').waitFor({ state: 'detached' });
  return JSON.parse(text.slice(text.indexOf('{'))) as Record<string, unknown>;
}

/** Opens Test connection of data source `id`, runs it for `role`, and returns the dialog. */
async function testConnection(id: string, role: 'source' | 'destination') {
  await page.locator(`tr[data-row="${id}"]`).getByRole('button', { name: 'Test connection' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText(role, { exact: true }).click();
  await dialog.getByRole('button', { name: 'Test connection' }).click();
  await dialog.locator('tr[data-check]').first().waitFor();
  return dialog;
}

/** Clicks `action` on the task page and confirms it. */
async function confirmAction(action: string): Promise<void> {
  await page.getByRole('button', { name: action, exact: true }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
}

before(async () => {
  ensureConsoleBuilt();
  mkdirSync(SHOTS, { recursive: true });
  srcDb = await freshDatabase(source, 'console_src');
  dstDb = await freshDatabase(destination, 'console_dst');
  const storeDb = await freshDatabase(destination, 'console_store');
  await sql(
    source,
    srcDb,
    `CREATE SCHEMA app;
     CREATE TABLE app.orders (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text);
     INSERT INTO app.orders (v) SELECT 'o' || g FROM generate_series(1, 6000) g;
     -- No primary key, replica identity full: the precheck's replica-identity warning (ignorable).
     CREATE TABLE app.events (id bigint, v text);
     ALTER TABLE app.events REPLICA IDENTITY FULL;
     INSERT INTO app.events SELECT g, 'e' || g FROM generate_series(1, 500) g;
     ANALYZE;`,
  );
  serve = await startServe(['--store', urlOf(destination, storeDb), '--poll-ms', '200'], {
    PGDTS_API_TOKEN: TOKEN,
  });
  profile = mkdtempSync(path.join(tmpdir(), 'pgdts-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
    viewport: { width: 1280, height: 800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
});

after(async () => {
  await context?.close();
  await serve?.stop();
  if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
});

test(
  'console walk-through: data sources, wizard, precheck, start, watch, pause, resume, release',
  { timeout: 240_000 },
  async () => {
    // Static files need no token; an unknown console path answers index.html; the API still needs it.
    const index = await fetch(`${serve.url}/tasks/t000000000000`);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /<div id="root">/);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(await (await fetch(`${serve.url}/`)).text())?.[1];
    assert.ok(script !== undefined);
    const asset = await fetch(`${serve.url}${script}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('content-type') ?? '', /javascript/);
    // Every API path needs the token, however it is spelled (the router decodes %61 to a).
    for (const p of [
      '/api/v1/tasks',
      '/%61pi/v1/tasks',
      '/api/v1/%74asks',
      '/api/nothing',
      '/metrics',
      '/openapi.json',
    ]) {
      assert.equal((await fetch(`${serve.url}${p}`)).status, 401, p);
    }
    const unknown = await serve.call('GET', '/api/v1/nothing');
    assert.equal(unknown.status, 404, unknown.text);

    // Log in with the keyboard only: the token field has the focus, Enter submits; a wrong token is
    // refused with the API's message under the field; Tab reaches Log in, Enter on it logs in; the
    // token is kept in sessionStorage.
    await page.goto(serve.url);
    await page.getByLabel(/^API token/).waitFor();
    assert.equal((await focused()).label.startsWith('API token'), true);
    await page.keyboard.type('not-the-token');
    await page.keyboard.press('Enter');
    // Under the field: in the token input's own wrapper.
    await page
      .locator('.mantine-InputWrapper-root', { has: page.getByLabel(/^API token/) })
      .getByText('the bearer token is not the API token')
      .waitFor();
    await page.keyboard.press('Control+A');
    await page.keyboard.type(TOKEN);
    await shot('login');
    for (let i = 0; i < 4 && (await focused()).text !== 'Log in'; i++) await page.keyboard.press('Tab');
    assert.equal((await focused()).text, 'Log in');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Data sources' }).waitFor();
    assert.equal(await page.evaluate('sessionStorage.getItem("pgdts.token")'), TOKEN);
    assert.ok(!page.url().includes(TOKEN));

    // An invalid identifier: the API's rule is shown under the field, nothing is stored.
    await page.getByRole('button', { name: 'Add data source' }).click();
    let dialog = page.getByRole('dialog');
    await dialog.getByRole('textbox', { name: /^Identifier/ }).fill('bad id!');
    await dialog.getByRole('textbox', { name: /^Host/ }).fill(source.host);
    await dialog.getByRole('textbox', { name: /^Username/ }).fill(source.user);
    await dialog.getByRole('textbox', { name: /^Database/ }).fill(srcDb);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.getByText('must be 1-32 letters and digits (no spaces or other characters)').waitFor();
    assert.equal(
      await dialog.getByRole('textbox', { name: /^Identifier/ }).getAttribute('aria-invalid'),
      'true',
    );
    await shot('data-source-form');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // The source with the keyboard: Tab from field to field (each has a label), Enter saves.
    await page.getByRole('button', { name: 'Add data source' }).click();
    dialog = page.getByRole('dialog');
    await dialog.getByRole('textbox', { name: /^Identifier/ }).focus();
    await page.keyboard.type('src');
    for (const [name, value] of [
      ['host', source.host],
      ['port', String(source.port)],
      ['username', source.user],
      ['password', source.password],
      ['database', srcDb],
    ] as const) {
      await tabTo(name);
      await page.keyboard.press('Control+A');
      await page.keyboard.type(value);
    }
    await page.keyboard.press('Enter');
    await page.locator('tr[data-row="src"]').waitFor();
    await dialog.waitFor({ state: 'detached' });
    // The destination with a wrong password: its test fails at authentication, with the reason.
    await addDataSource('dst', destination, dstDb, 'wrong-password');
    await page.locator('tr[data-row="dst"]').waitFor();
    dialog = await testConnection('dst', 'destination');
    const auth = dialog.locator('tr[data-check="authentication"]');
    await auth.locator('[data-status="fail"]').waitFor();
    assert.match((await auth.innerText()).toLowerCase(), /password authentication failed/);
    await shot('test-connection-failed');
    await page.keyboard.press('Escape');
    await page.locator('tr[data-row="dst"]').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click();
    await page.locator('tr[data-row="dst"]').waitFor({ state: 'detached' });
    // Edit: a changed remark is saved; the empty password field keeps the stored password (the
    // source test below logs in with it).
    await page.locator('tr[data-row="src"]').getByRole('button', { name: 'Edit' }).click();
    dialog = page.getByRole('dialog');
    assert.equal(await dialog.getByRole('textbox', { name: /^Identifier/ }).isDisabled(), true);
    await dialog.getByRole('textbox', { name: /^Remarks/ }).fill('shop primary');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.locator('tr[data-row="src"]').getByText('shop primary').waitFor();
    dialog = await testConnection('src', 'source');
    await dialog.getByRole('button', { name: 'Test connection' }).waitFor();
    assert.equal(await dialog.locator('tr[data-check] [data-status="fail"]').count(), 0);
    await shot('test-connection');
    await page.keyboard.press('Escape');
    await shot('data-sources');

    // The same page in Chinese, from the one dictionary.
    await page.getByText('中文').click();
    await page.getByRole('heading', { name: '数据源' }).waitFor();
    await shot('data-sources-zh');
    await page.getByText('English').click();

    // The wizard: basics.
    await page.getByRole('link', { name: 'New task' }).click();
    await page.getByRole('textbox', { name: /^Task name/ }).fill('orders to the archive');
    await choose(/^Source data source/, /^src /);
    // The destination is added again, right this time, without leaving the wizard: the new data
    // source is chosen.
    await page.getByRole('button', { name: 'New destination data source' }).click();
    await fillDataSourceForm('dst', destination, dstDb, destination.password);
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await until(
      'the new destination chosen',
      async () =>
        /^dst \(/.test(await page.getByRole('combobox', { name: /^Destination data source/ }).inputValue()),
      10_000,
    );
    await page.getByRole('button', { name: 'Next' }).click();
    // Objects: a whole schema with a table left out and a destination schema, as the API request shows.
    await page.getByLabel('schema app', { exact: true }).check();
    await page.getByLabel('table app.events', { exact: true }).uncheck();
    await page.getByLabel('Destination schema app', { exact: true }).fill('archive');
    await page.getByLabel('update schema app', { exact: true }).uncheck();
    assert.deepEqual((await apiRequest()).objects, [
      {
        schema: 'app',
        exclude: ['events'],
        as: 'archive',
        operations: ['insert', 'delete', 'truncate', 'ddl'],
      },
    ]);
    await page.getByLabel('schema app', { exact: true }).uncheck();
    // Instead two tables of app, orders renamed and filtered.
    await page.getByLabel('table app.orders', { exact: true }).check();
    await page.getByLabel('table app.events', { exact: true }).check();
    await page.getByLabel('Destination name (schema.table) app.orders').fill('app.orders_archive');
    // A WHERE filter is checked on the source when the field is left: the server's reason under it.
    const whereField = page.getByLabel('WHERE filter app.orders');
    await whereField.fill('amount > 1');
    await page.keyboard.press('Tab');
    await page.locator('tr[data-table="app.orders"]').getByText('column "amount" does not exist').waitFor();
    assert.equal(await whereField.getAttribute('aria-invalid'), 'true');
    await whereField.fill(WHERE);
    await page.keyboard.press('Tab');
    await page.locator('tr[data-table="app.orders"]').getByText('Valid on the source').waitFor();
    // TRUNCATE is not applied to app.events (checked on the destination below).
    await page.getByLabel('truncate app.events', { exact: true }).uncheck();
    // Bulk rename: a table name prefix for schema app; the preview shows it, the table's own name wins.
    await choose(/^In schema/, /^app$/);
    await page.getByRole('textbox', { name: /^Text$/ }).fill('hist_');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.locator('tr[data-preview="app.events"] [data-destination="app.hist_events"]').waitFor();
    await page.locator('tr[data-preview="app.orders"] [data-destination="app.orders_archive"]').waitFor();
    // A hand-written rule the API refuses: after Create, the wizard comes back here and shows the
    // API's rule under the field it names.
    await page.getByRole('button', { name: 'Add a rule by hand' }).click();
    await page.getByRole('textbox', { name: 'Rule 2: from' }).fill('app');
    await page.getByRole('textbox', { name: 'Rule 2: to' }).fill('app.x');
    await shot('wizard-objects');
    await page.getByRole('button', { name: 'Next' }).click();
    // Advanced: a full sync throttle high enough not to slow the test, retry windows, a heartbeat.
    await page.getByRole('textbox', { name: /^Full sync: rows per second/ }).fill('1000000');
    await page.getByRole('textbox', { name: /^Retry connection failures for/ }).fill('60');
    await page.getByRole('textbox', { name: /^Retry other errors for/ }).fill('5');
    await page.getByLabel(/^Heartbeat on the source/).check();
    await page.getByRole('textbox', { name: /^Heartbeat interval/ }).fill('2000');
    await page.getByRole('button', { name: 'Create task and precheck' }).click();
    const ruleFrom = page.getByRole('textbox', { name: 'Rule 2: from' });
    await page.getByText('must be schema.table, each part letters, digits, _ and * (unquoted)').waitFor();
    assert.equal(await ruleFrom.getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByRole('alert').count(), 0, 'the error is under its field only');
    await page.getByRole('button', { name: 'Remove rule 2' }).click();
    await page.getByRole('button', { name: 'Next' }).click();
    const definition = await apiRequest();
    assert.deepEqual(definition, {
      name: 'orders to the archive',
      source: { dataSource: 'src', heartbeat: { intervalMs: 2000 } },
      destination: { dataSource: 'dst' },
      syncTypes: ['schema', 'full', 'incremental'],
      objects: [
        { table: 'app.orders', as: 'app.orders_archive', where: WHERE },
        { table: 'app.events', operations: ['insert', 'update', 'delete', 'ddl'] },
      ],
      mapping: [{ from: 'app.*', to: 'app.hist_*' }],
      full: { throttle: { rowsPerSecond: 1000000 } },
      retry: { connectionMinutes: 60, otherMinutes: 5 },
    });
    await page.getByRole('button', { name: 'Show API request' }).click();
    await page.getByTestId('api-request').waitFor();
    await shot('wizard-api-request');
    await page.keyboard.press('Escape');

    // Precheck: the replica-identity warning blocks Start until ignored.
    await page.getByRole('button', { name: 'Create task and precheck' }).click();
    const warn = page.locator('tr[data-item="replica-identity"]');
    await warn.locator('[data-status="warn"]').waitFor({ timeout: 60_000 });
    assert.equal(await page.getByRole('button', { name: 'Start' }).isDisabled(), true);
    assert.equal(await page.locator('tr[data-item] [data-status="fail"]').count(), 0);
    await shot('wizard-precheck');
    await warn.getByRole('button', { name: 'Ignore' }).click();
    await warn.getByText('ignored').waitFor();
    await page.getByRole('button', { name: 'Precheck again' }).click();
    await page.getByTestId('precheck-summary').getByText('Precheck passed').waitFor({ timeout: 60_000 });
    await shot('wizard-precheck-passed');
    await page.getByRole('button', { name: 'Start' }).click();

    // The task page: progress to 100 %, lag chart points in incremental sync.
    await page.waitForURL(/\/tasks\/t[0-9a-z]{12}$/);
    const taskId = /\/tasks\/(t[0-9a-z]{12})$/.exec(page.url())?.[1] ?? '';
    const slot = `pgdts_${taskId}`;
    for (const table of ['app.orders', 'app.events']) {
      await page.locator(`tr[data-table="${table}"][data-progress="100"]`).waitFor({ timeout: 90_000 });
    }
    await page.getByTestId('phase').getByText('incremental').waitFor({ timeout: 90_000 });
    await until(
      'lag chart points',
      async () => Number(await page.getByRole('img', { name: 'lag chart' }).getAttribute('data-points')) >= 4,
      30_000,
    );
    // The retained WAL chart gets points; the timeline says when incremental sync began.
    assert.ok(
      Number(await page.getByRole('img', { name: 'retained WAL chart' }).getAttribute('data-points')) >= 1,
    );
    assert.match(await page.locator('[data-phase="incremental"]').innerText(), /\d:\d\d/);
    // Changes during incremental sync: rows the filter keeps and rows it drops.
    await sql(
      source,
      srcDb,
      `INSERT INTO app.orders (v) SELECT 'n' || g FROM generate_series(1, 300) g; UPDATE app.orders SET v = 'u' WHERE id <= 30;
       TRUNCATE app.events;`,
    );

    // A throttle change while it runs, applied without a restart.
    await page.getByRole('textbox', { name: /^Incremental: rows per second/ }).fill('50000');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('Applied', { exact: true }).waitFor();
    assert.deepEqual(
      ((await serve.call('GET', `/api/v1/tasks/${taskId}`)).body as { definition: { incremental?: unknown } })
        .definition.incremental,
      { throttle: { rowsPerSecond: 50000 } },
    );

    // Pause and resume, with confirmation.
    await confirmAction('Pause');
    await page.locator('[data-status="paused"]').waitFor();
    await sql(
      source,
      srcDb,
      `INSERT INTO app.orders (v) SELECT 'p' || g FROM generate_series(1, 90) g; DELETE FROM app.orders WHERE id IN (3, 6, 7);`,
    );
    await confirmAction('Resume');
    await page.locator('[data-status="running"]').first().waitFor();
    await waitForCatchUp(source, srcDb, slot, 90_000, () => serve.run.output());

    // The destination: the renamed table with exactly the rows the filter keeps.
    const want = await sql<{ id: string; v: string }>(
      source,
      srcDb,
      `SELECT id::text, v FROM app.orders WHERE ${WHERE} ORDER BY id`,
    );
    const got = await sql<{ id: string; v: string }>(
      destination,
      dstDb,
      'SELECT id::text, v FROM app.orders_archive ORDER BY id',
    );
    assert.equal(got.length, want.length);
    assert.deepEqual(got, want);
    assert.ok(want.length > 2000);
    const orders = await sql<{ n: string }>(
      destination,
      dstDb,
      "SELECT count(*)::text AS n FROM pg_tables WHERE schemaname = 'app' AND tablename = 'orders'",
    );
    assert.equal(orders[0]?.n, '0', 'no table under the source name');
    // app.events under its mapped name; the TRUNCATE on the source was not applied (operations).
    const events = await sql<{ n: string }>(
      destination,
      dstDb,
      'SELECT count(*)::text AS n FROM app.hist_events',
    );
    assert.equal(events[0]?.n, '500');

    await until(
      'lag chart points after resume',
      async () =>
        Number(await page.getByRole('img', { name: 'lag chart' }).getAttribute('data-points')) >= 10,
      30_000,
    );
    await shot('task');
    // The task list while it runs, and back to the task.
    // The task list: one GET /api/v1/tasks per poll carries each task's phase and lag (no /status per
    // task); the text filter and the state filter.
    const calls: string[] = [];
    const onRequest = (r: { url(): string }) => void calls.push(new URL(r.url()).pathname);
    page.on('request', onRequest);
    await page.getByRole('link', { name: 'Tasks' }).click();
    const row = page.locator(`tr[data-task="${taskId}"]`);
    await row.locator('[data-status="running"]').waitFor();
    await row.getByText('incremental', { exact: true }).waitFor();
    await until(
      'two polls of the list',
      () => Promise.resolve(calls.filter((c) => c === '/api/v1/tasks').length >= 2),
      10_000,
    );
    page.off('request', onRequest);
    assert.deepEqual(
      calls.filter((c) => c.startsWith('/api/') && c !== '/api/v1/tasks'),
      [],
      'the list page calls only GET /api/v1/tasks',
    );
    await page.getByRole('textbox', { name: 'Filter' }).fill('no such task');
    await row.waitFor({ state: 'detached' });
    await page.getByRole('textbox', { name: 'Filter' }).fill('archive');
    await row.waitFor();
    await choose(/^State filter/, /^running$/);
    await row.waitFor();
    await shot('tasks');
    // An 800 px wide window: nothing wider than the window (wide tables scroll inside their box).
    await page.setViewportSize({ width: 800, height: 800 });
    await row.waitFor();
    assert.ok(Number(await page.evaluate('document.documentElement.scrollWidth')) <= 800);
    await shot('narrow-800');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('link', { name: taskId }).click();
    await page.getByRole('button', { name: 'Release', exact: true }).waitFor();

    // Release: slot and publication dropped.
    await confirmAction('Release');
    await page.locator('[data-status="released"]').waitFor({ timeout: 60_000 });
    const slots = await sql(source, srcDb, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    assert.equal(slots.length, 0);

    await page.getByRole('link', { name: 'Tasks' }).click();
    await page.getByRole('textbox', { name: 'Filter' }).fill('');
    await page.locator(`tr[data-task="${taskId}"] [data-status="released"]`).waitFor();
    // The destination data source added in the wizard passes its connection test.
    await page.getByRole('link', { name: 'Data sources' }).click();
    dialog = await testConnection('dst', 'destination');
    await dialog.locator('tr[data-check="authentication"] [data-status="pass"]').waitFor();
    await page.keyboard.press('Escape');

    // A narrow window: the navigation folds behind the menu button.
    await page.setViewportSize({ width: 420, height: 800 });
    await page.getByRole('button', { name: 'menu' }).click();
    await page.getByRole('link', { name: 'Data sources' }).click();
    await page.getByRole('heading', { name: 'Data sources' }).waitFor();
    await shot('narrow');
    await page.setViewportSize({ width: 1280, height: 800 });
  },
);

test(
  '[V10] console verification: rows mode shows the planted differences, a second start is refused, then passed',
  { timeout: 240_000 },
  async () => {
    const vSrc = await freshDatabase(source, 'console_vfy_src');
    const vDst = await freshDatabase(destination, 'console_vfy_dst');
    // Row 20 holds a 5,000-character note: the console abbreviates it with its size.
    await sql(
      source,
      vSrc,
      `CREATE SCHEMA shop;
       CREATE TABLE shop.items (id int PRIMARY KEY, name text, note text);
       INSERT INTO shop.items SELECT g, 'n' || g, CASE WHEN g = 20 THEN repeat('L', 5000) ELSE 'x' END
         FROM generate_series(1, 300) g;`,
    );
    await addDataSources(serve, [
      ['vsrc', source, vSrc],
      ['vdst', destination, vDst],
    ]);
    const taskId = await createPrecheckedTask(serve, {
      name: 'verified items',
      source: { dataSource: 'vsrc' },
      destination: { dataSource: 'vdst' },
      syncTypes: ['schema', 'full'],
      objects: [{ schema: 'shop' }],
    });
    assert.equal((await serve.call('POST', `/api/v1/tasks/${taskId}/start`)).status, 200);
    await until(
      'the task completed',
      async () =>
        ((await serve.call('GET', `/api/v1/tasks/${taskId}`)).body as { state: string }).state ===
        'completed',
      120_000,
      () => serve.run.output(),
    );
    // Planted in the destination: row 7 deleted, row 100000 added, row 12's name and the end of
    // row 20's long note changed.
    await sql(
      destination,
      vDst,
      `DELETE FROM shop.items WHERE id = 7;
       INSERT INTO shop.items VALUES (100000, 'intruder', 'x');
       UPDATE shop.items SET name = 'changed' WHERE id = 12;
       UPDATE shop.items SET note = repeat('L', 4999) || 'M' WHERE id = 20;`,
    );

    // The task page, logged in (the token in the tab's sessionStorage, as the login page keeps it).
    await page.goto(serve.url);
    await page.evaluate(`sessionStorage.setItem("pgdts.token", ${JSON.stringify(TOKEN)})`);
    await page.goto(`${serve.url}/tasks/${taskId}`);
    await page.getByRole('heading', { name: 'Verification', exact: true }).waitFor();
    await page.getByText('None yet').first().waitFor();

    // The destination table locked by another session: the job waits in running, so a second start
    // meets it ([V6] one job per task) and the view must refresh by itself when it ends.
    const locker = new pg.Client({
      host: destination.host,
      port: destination.port,
      user: destination.user,
      password: destination.password,
      database: vDst,
    });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE shop.items IN ACCESS EXCLUSIVE MODE');
      await choose(/^Verification mode/, /^rows: the differing rows/);
      await page.getByRole('button', { name: 'Start verification' }).click();
      const details = page.getByTestId('verification-details');
      await details.locator('[data-status="running"]').first().waitFor();
      const jobs = page.locator('tr[data-verification]');
      assert.equal(await jobs.count(), 1);
      await page.getByRole('button', { name: 'Start verification' }).click();
      const conflict = page.getByTestId('verification-conflict');
      await conflict.getByText('A verification of this task is already running').waitFor();
      assert.match(await conflict.innerText(), /has a verification queued or running/);
      assert.equal(await jobs.count(), 1, 'the refused start made no job');
      await shot('task-verification-running');
      await locker.query('COMMIT');
    } finally {
      await locker.end();
    }

    // No reload: the view follows the job to its end.
    const details = page.getByTestId('verification-details');
    await page
      .locator('[data-testid="verification-details"][data-status="failed"]')
      .waitFor({ timeout: 60_000 });
    // The refusal is gone with the job that caused it.
    await page.getByTestId('verification-conflict').waitFor({ state: 'detached' });
    const result = details.locator('tr[data-verify-table="shop.items"]');
    assert.equal(await result.getAttribute('data-differences'), '4');
    assert.deepEqual((await result.locator('td').allTextContents()).map((x) => x.trim()).slice(0, 5), [
      'shop.items',
      'failed',
      '300',
      '300',
      '4',
    ]);
    const first = page.locator('tr[data-verification]').first();
    await first.locator('[data-status="failed"]').waitFor();
    assert.equal((await first.getByTestId('differing-tables').innerText()).trim(), 'shop.items (4)');
    assert.equal((await first.locator('td').nth(1).innerText()).trim(), 'rows');
    assert.equal((await first.getByTestId('trigger').innerText()).trim(), 'request');

    // Each differing row with its kind, key and values ([V1]); the long value abbreviated with its
    // size around its first difference.
    const rows = page.getByRole('table', { name: 'Differing rows of shop.items' });
    const cells = async (selector: string) =>
      (await rows.locator(selector).locator('td').allTextContents()).map((x) => x.trim());
    assert.deepEqual(await cells('tr[data-kind="missing"][data-key="id=7"]'), [
      'missing in destination',
      'id=7',
      '',
      'id="7"\nname="n7"\nnote="x"',
      '',
    ]);
    assert.deepEqual(await cells('tr[data-kind="extra"][data-key="id=100000"]'), [
      'extra in destination',
      'id=100000',
      '',
      '',
      'id="100000"\nname="intruder"\nnote="x"',
    ]);
    assert.deepEqual(await cells('tr[data-kind="different"][data-key="id=12"]'), [
      'different',
      'id=12',
      'name',
      '"n12"',
      '"changed"',
    ]);
    const long = await cells('tr[data-kind="different"][data-key="id=20"]');
    assert.deepEqual(long.slice(0, 3), ['different', 'id=20', 'note']);
    assert.match(long[3] ?? '', /^…"L+" \(5000 chars, differs from char 5000\)$/);
    assert.match(long[4] ?? '', /^…"L+M" \(5000 chars, differs from char 5000\)$/);
    assert.equal(await rows.locator('tr[data-kind]').count(), 4);
    await shot('task-verification');

    // The destination fixed: a new verification (newest first in the list) passes.
    await sql(
      destination,
      vDst,
      `INSERT INTO shop.items VALUES (7, 'n7', 'x');
       DELETE FROM shop.items WHERE id = 100000;
       UPDATE shop.items SET name = 'n12' WHERE id = 12;
       UPDATE shop.items SET note = repeat('L', 5000) WHERE id = 20;`,
    );
    await page.getByRole('button', { name: 'Start verification' }).click();
    await page
      .locator('[data-testid="verification-details"][data-status="passed"]')
      .waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('tr[data-verification]').count(), 2);
    await page.locator('tr[data-verification]').first().locator('[data-status="passed"]').waitFor();
    await page.locator('tr[data-verification]').nth(1).locator('[data-status="failed"]').waitFor();
    assert.equal(
      await details.locator('tr[data-verify-table="shop.items"]').getAttribute('data-differences'),
      '0',
    );
    assert.equal(await page.getByRole('table', { name: 'Differing rows of shop.items' }).count(), 0);
    // The older job opens again with its differing rows.
    const older = page.locator('tr[data-verification]').nth(1);
    const olderId = (await older.getAttribute('data-verification')) ?? '';
    await older.getByRole('button', { name: `Open ${olderId}` }).click();
    await page
      .locator(`[data-testid="verification-details"][data-verification="${olderId}"][data-status="failed"]`)
      .waitFor();
    await rows.locator('tr[data-kind="missing"][data-key="id=7"]').waitFor();
  },
);
