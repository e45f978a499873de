// Browser tests of the Management UI served by signal-delivery-host, against a real host
// and a real fake Hightouch. Run: cd tests/ui && npm ci && SIGNAL_BUILD_DIR=../../build node --test

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Stack, launchBrowser, openPage, signIn, screenshot, unexpectedConsole, eventually,
  GOOD_KEY, WRONG_KEY, WORKSPACE_ID, SOURCE_ID,
} from './harness.mjs';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

// Each test gets its own fake Hightouch, host, data dir and browser context. The browser
// context closes before the host stops, so that no stream reconnects to a dead host.
async function setUp(t, pageOptions) {
  const stack = await Stack.start();
  const session = await openPage(browser, stack.adminUrl, pageOptions);
  t.after(async () => {
    await session.context.close();
    await stack.stop();
  });
  return { stack, ...session };
}

function assertCleanConsole(record, expectedStatuses = []) {
  assert.deepEqual(unexpectedConsole(record, expectedStatuses), { errors: [], warnings: [], pageErrors: [] });
}

function installPosts(record) {
  return record.requests.filter((r) => r.method === 'POST' && /\/integration-catalog\/[^/]+\/install$/.test(r.url));
}

async function fillHightouchForm(page, apiKey) {
  const dialog = page.getByRole('dialog', { name: 'Install Hightouch' });
  await dialog.getByLabel('API key', { exact: true }).fill(apiKey);
  await dialog.getByLabel('Workspace ID', { exact: true }).fill(WORKSPACE_ID);
  await dialog.getByLabel('Source ID', { exact: true }).fill(SOURCE_ID);
  return dialog;
}

async function openHightouchInstall(page) {
  await page.getByRole('button', { name: /^CDP\b/ }).click();
  await page.getByRole('button', { name: 'Install Hightouch' }).click();
  return page.getByRole('dialog', { name: 'Install Hightouch' });
}

test('installs Hightouch from the Integration Library filtered by CDP, then lists it as active', async (t) => {
  const { stack, page, record } = await setUp(t);
  await signIn(page, stack.editorToken);

  // The session shows the token's role and org.
  await assert.doesNotReject(page.locator('#session-role', { hasText: 'editor' }).waitFor());
  assert.match(await page.locator('#session-org').textContent(), /\S/);

  const libraryTab = page.getByRole('tab', { name: 'Integration Library' });
  assert.equal(await libraryTab.getAttribute('aria-selected'), 'true');
  await page.getByRole('heading', { name: 'Hightouch', exact: true }).waitFor();

  // Filter by CDP: every visible card is a CDP one, Hightouch among them.
  const cdp = page.getByRole('button', { name: /^CDP\b/ });
  await cdp.click();
  assert.equal(await cdp.getAttribute('aria-pressed'), 'true');
  const categories = await page.locator('#library-grid .card-category').allTextContents();
  assert.ok(categories.length >= 1);
  assert.ok(categories.every((c) => c === 'CDP'), `non-CDP cards shown: ${categories}`);
  const card = page.locator('#library-grid .card', { has: page.getByRole('heading', { name: 'Hightouch', exact: true }) });
  assert.match(await card.textContent(), /beta/i);

  // Search narrows by name and by description; nonsense finds nothing.
  await page.getByLabel('Search integrations').fill('reverse-ETL');
  assert.equal(await page.locator('#library-grid .card').count(), 1);
  await page.getByLabel('Search integrations').fill('zzzz-no-such-vendor');
  assert.equal(await page.locator('#library-grid .card').count(), 0);
  await page.getByText(/No integrations in CDP match/).waitFor();
  await page.getByLabel('Search integrations').fill('hightouch');
  await screenshot(page, 'library');

  await page.getByRole('button', { name: 'Install Hightouch' }).click();
  const dialog = page.getByRole('dialog', { name: 'Install Hightouch' });
  await dialog.waitFor();
  // Name prefilled; the secret is a password input; region is a select with its default.
  assert.equal(await dialog.getByLabel('Name', { exact: true }).inputValue(), 'Hightouch');
  assert.equal(await dialog.getByLabel('API key', { exact: true }).getAttribute('type'), 'password');
  assert.equal(await dialog.getByLabel('API key', { exact: true }).getAttribute('aria-required'), 'true');
  assert.equal(await dialog.getByLabel('Region', { exact: true }).inputValue(), 'us-east-1');
  const helpId = await dialog.getByLabel('Workspace ID', { exact: true }).getAttribute('aria-describedby');
  assert.match(await page.locator(`#${helpId}`).textContent(), /workspace/i);

  await fillHightouchForm(page, GOOD_KEY);
  await screenshot(page, 'install-form');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/integration-catalog/hightouch/install')),
    dialog.getByRole('button', { name: 'Install Integration' }).click(),
  ]);
  assert.equal(response.status(), 201);
  const sent = JSON.parse(response.request().postData());
  assert.equal(sent.name, 'Hightouch');
  assert.deepEqual(
    { api_key: sent.config.api_key, workspace_id: sent.config.workspace_id, source_id: sent.config.source_id },
    { api_key: GOOD_KEY, workspace_id: WORKSPACE_ID, source_id: SOURCE_ID });

  // The form closes, a confirmation shows, and My Integrations lists it as active.
  await dialog.waitFor({ state: 'hidden' });
  await page.getByText('Installed Hightouch').waitFor();
  const installedTab = page.getByRole('tab', { name: /My Integrations/ });
  assert.equal(await installedTab.getAttribute('aria-selected'), 'true');
  const row = page.locator('#installed-rows tr', { hasText: 'Hightouch' });
  await row.waitFor();
  assert.match(await row.textContent(), /Active/);
  assert.match(await row.textContent(), /v1/);
  await screenshot(page, 'my-integrations');

  const list = await stack.admin('GET', '/v1/admin/integrations');
  assert.equal(list.status, 200);
  assert.equal(list.body.data.length, 1);
  assert.equal(list.body.data[0].status, 'active');
  assertCleanConsole(record);
});

test('an event sent to the event API appears live in Live Events with status 200', async (t) => {
  const { stack, page, record } = await setUp(t);
  const installed = await stack.installHightouch();
  await signIn(page, stack.editorToken);
  await page.getByRole('link', { name: 'Live Events' }).click();
  await page.getByRole('heading', { level: 1, name: 'Live Events' }).waitFor();
  await page.locator('#stream-status[data-state="live"]').waitFor();

  const navigationsBefore = record.navigations;
  const listQueries = () => record.requests.filter((r) => /\/v1\/admin\/live-events(\?|$)/.test(r.url)).length;
  const queriesBefore = listQueries();

  const messageId = await stack.track('Order Completed');
  const row = page.locator('#live-rows tr', { hasText: messageId });
  await row.waitFor({ timeout: 30000 });
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[1], installed.integration.name);
  assert.match(cells[2], /track/);
  assert.equal(cells[4], '200');
  assert.match(cells[5], /\d+ ms/);
  assert.match(cells[6], /Delivered/);
  // It arrived over the stream: no reload, no new list query.
  assert.equal(record.navigations, navigationsBefore);
  assert.equal(listQueries(), queriesBefore);
  await screenshot(page, 'live-events');

  // Enter on the row opens the redacted request and the vendor's response.
  await row.focus();
  await page.keyboard.press('Enter');
  const detail = page.getByRole('dialog', { name: 'Delivery attempt' });
  await detail.waitFor();
  const requestLine = await detail.locator('.request-line').textContent();
  assert.match(requestLine, /^POST /);
  assert.ok(requestLine.includes(stack.fakeUrl), `request line ${requestLine} is not to ${stack.fakeUrl}`);
  const detailText = await detail.textContent();
  assert.ok(detailText.includes(messageId));
  assert.ok(!detailText.includes(GOOD_KEY), 'the detail panel shows a secret');
  assert.ok(!detailText.includes(Buffer.from(`${GOOD_KEY}:`).toString('base64')), 'the detail panel shows the Basic credential');
  assert.match(await detail.locator('pre[aria-label="Request body"]').textContent(), /"Order Completed"/);
  await screenshot(page, 'live-event-detail');
  await page.keyboard.press('Escape');
  await detail.waitFor({ state: 'hidden' });
  const rowId = await row.getAttribute('data-id');
  await eventually(() => page.evaluate((id) => document.activeElement?.dataset?.id === id, rowId),
    { what: 'focus back on the row' });

  // Filtering by outcome re-queries and reconnects: "Rejected" hides the delivered row.
  await page.getByLabel('Outcome').selectOption('reject');
  await row.waitFor({ state: 'detached' });
  assert.ok(listQueries() > queriesBefore);
  assert.ok(record.requests.some((r) => /\/live-events\/stream\?.*outcome=reject/.test(r.url)));
  await page.getByLabel('Outcome').selectOption('');
  await page.locator('#live-rows tr', { hasText: messageId }).waitFor();
  // Filtering by integration keeps its rows and streams only its attempts.
  await page.getByLabel('Integration', { exact: true }).selectOption({ label: installed.integration.name });
  await page.locator('#live-rows tr', { hasText: messageId }).waitFor();
  assert.ok(record.requests.some((r) => r.url.includes(
    `/live-events/stream?integration_id=${encodeURIComponent(installed.integration.id)}`)));
  assertCleanConsole(record);
});

test('a rejected API key shows the operator message and installs nothing', async (t) => {
  const { stack, page, record } = await setUp(t);
  await signIn(page, stack.editorToken);
  const dialog = await openHightouchInstall(page);
  await fillHightouchForm(page, WRONG_KEY);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/integration-catalog/hightouch/install')),
    dialog.getByRole('button', { name: 'Install Integration' }).click(),
  ]);
  assert.equal(response.status(), 422);
  const body = await response.json();
  assert.equal(body.error.code, 'CREDENTIALS_REJECTED');

  const alert = dialog.locator('.form-alert');
  await alert.waitFor();
  const alertText = await alert.textContent();
  assert.match(alertText, /Hightouch rejected the credentials/);
  assert.ok(alertText.includes(body.error.message), `alert "${alertText}" lacks "${body.error.message}"`);
  assert.ok(!alertText.includes(WRONG_KEY), 'the alert echoes the key');
  assert.equal(await alert.getAttribute('role'), 'alert');
  // The form stays open with what was typed.
  assert.equal(await dialog.getByLabel('Workspace ID', { exact: true }).inputValue(), WORKSPACE_ID);
  await screenshot(page, 'install-rejected');

  const list = await stack.admin('GET', '/v1/admin/integrations');
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.data, []);
  assertCleanConsole(record, [422]);
});

test('missing required fields are flagged before any request is sent', async (t) => {
  const { stack, page, record } = await setUp(t);
  await signIn(page, stack.editorToken);
  const dialog = await openHightouchInstall(page);
  await dialog.getByLabel('Workspace ID', { exact: true }).fill(WORKSPACE_ID);
  await dialog.getByLabel('Name', { exact: true }).fill('   ');
  await dialog.getByRole('button', { name: 'Install Integration' }).click();

  const apiKey = dialog.getByLabel('API key', { exact: true });
  await page.locator('#cfg-api_key-error', { hasText: 'API key is required.' }).waitFor();
  await page.locator('#cfg-source_id-error', { hasText: 'Source ID is required.' }).waitFor();
  await page.locator('#f-name-error', { hasText: /name/i }).waitFor();
  assert.equal(await apiKey.getAttribute('aria-invalid'), 'true');
  assert.match(await apiKey.getAttribute('aria-describedby'), /cfg-api_key-error/);
  assert.equal(await dialog.getByLabel('Workspace ID', { exact: true }).getAttribute('aria-invalid'), null);
  // Focus goes to the first bad field (Name comes first in the form).
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'f-name');
  assert.deepEqual(installPosts(record), []);

  // Correcting the fields clears the errors; an empty optional field is not required.
  await dialog.getByLabel('Name', { exact: true }).fill('Hightouch');
  await dialog.getByLabel('API key', { exact: true }).fill(GOOD_KEY);
  await dialog.getByLabel('Source ID', { exact: true }).fill(SOURCE_ID);
  await dialog.getByRole('button', { name: 'Install Integration' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(installPosts(record).length, 1);
  assertCleanConsole(record);
});

test('a server-side field error is shown next to its field', async (t) => {
  const { stack, page, record } = await setUp(t);
  await signIn(page, stack.editorToken);
  const dialog = await openHightouchInstall(page);
  await fillHightouchForm(page, GOOD_KEY);
  await dialog.getByLabel('Workspace ID', { exact: true }).fill('not-a-number');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/integration-catalog/hightouch/install')),
    dialog.getByRole('button', { name: 'Install Integration' }).click(),
  ]);
  assert.equal(response.status(), 422);
  const body = await response.json();
  assert.equal(body.error.code, 'VALIDATION_FAILED');
  const detail = body.error.details.find((d) => /workspace_id/.test(d.field));
  assert.ok(detail, `no workspace_id detail in ${JSON.stringify(body)}`);
  await page.locator('#cfg-workspace_id-error', { hasText: detail.message }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'cfg-workspace_id');
  assert.deepEqual((await stack.admin('GET', '/v1/admin/integrations')).body.data, []);
  assertCleanConsole(record, [422]);
});

test('a viewer can browse the library and integrations but cannot install', async (t) => {
  const { stack, page, record } = await setUp(t);
  await stack.installHightouch('Hightouch (prod)');
  await signIn(page, stack.viewerToken);
  await page.locator('#session-role', { hasText: 'viewer' }).waitFor();
  await page.getByText(/signed in as a viewer/i).waitFor();

  await page.getByRole('button', { name: /^CDP\b/ }).click();
  await page.getByRole('heading', { name: 'Hightouch', exact: true }).waitFor();
  const install = page.getByRole('button', { name: 'Install Hightouch' });
  assert.equal(await install.getAttribute('aria-disabled'), 'true');
  assert.match(await install.getAttribute('title'), /viewer role cannot install/);
  // aria-disabled keeps it focusable (for the tooltip); a click only explains.
  await install.click({ force: true });
  assert.equal(await page.getByRole('dialog').count(), 0);
  await page.getByText(/viewer role cannot install/).first().waitFor();
  await screenshot(page, 'library-viewer');

  await page.getByRole('tab', { name: /My Integrations/ }).click();
  const row = page.locator('#installed-rows tr', { hasText: 'Hightouch (prod)' });
  await row.waitFor();
  const revise = row.getByRole('button', { name: /New revision/ });
  assert.equal(await revise.getAttribute('aria-disabled'), 'true');
  await revise.click({ force: true });
  assert.equal(await page.getByRole('dialog').count(), 0);
  assert.deepEqual(record.requests.filter((r) => r.method !== 'GET'), []);

  // And the server refuses the viewer anyway.
  const refused = await stack.admin('POST', '/v1/admin/integration-catalog/hightouch/install', {
    token: stack.viewerToken,
    body: { config: { api_key: GOOD_KEY, workspace_id: WORKSPACE_ID, source_id: SOURCE_ID } },
  });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'FORBIDDEN');
  assertCleanConsole(record);
});

test('a new revision is prefilled, keeps the stored secret and becomes current', async (t) => {
  const { stack, page, record } = await setUp(t);
  const installed = await stack.installHightouch();
  await signIn(page, stack.editorToken);
  await page.getByRole('tab', { name: /My Integrations/ }).click();
  const row = page.locator('#installed-rows tr', { hasText: 'Hightouch' });
  await row.getByRole('button', { name: 'New revision of Hightouch' }).click();
  const dialog = page.getByRole('dialog', { name: 'New revision of Hightouch' });
  await dialog.waitFor();
  assert.equal(await dialog.getByLabel('API key', { exact: true }).inputValue(), '***');
  assert.equal(await dialog.getByLabel('Source ID', { exact: true }).inputValue(),
    installed.revision.config.source_id);
  await dialog.getByLabel('Change summary').fill('Moved to the EU region');
  await dialog.getByLabel('Region', { exact: true }).selectOption('eu-west-1');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/integrations/${installed.integration.id}/revisions`)),
    dialog.getByRole('button', { name: 'Create revision' }).click(),
  ]);
  assert.equal(response.status(), 201);
  const sent = JSON.parse(response.request().postData());
  assert.equal(sent.config.api_key, '***');
  assert.equal(sent.config.region, 'eu-west-1');
  assert.equal(sent.change_summary, 'Moved to the EU region');
  await dialog.waitFor({ state: 'hidden' });
  await row.getByText('v2', { exact: true }).waitFor();

  const revision = await stack.admin('GET', `/v1/admin/integrations/${installed.integration.id}/revisions/2`);
  assert.equal(revision.status, 200);
  const config = (revision.body.revision || revision.body).config;
  assert.equal(config.region, 'eu-west-1');
  assert.equal(config.api_key, '***');
  assertCleanConsole(record);
});

test('keyboard: arrow keys move between tabs, the form traps focus and Escape closes it', async (t) => {
  const { stack, page, record } = await setUp(t);
  await signIn(page, stack.editorToken);
  const library = page.getByRole('tab', { name: 'Integration Library' });
  const installed = page.getByRole('tab', { name: /My Integrations/ });
  await library.focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await installed.getAttribute('aria-selected'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'tab-installed');
  assert.equal(await page.locator('#panel-installed').isVisible(), true);
  assert.equal(await page.locator('#panel-library').isVisible(), false);
  await page.keyboard.press('ArrowRight'); // wraps around
  assert.equal(await library.getAttribute('aria-selected'), 'true');
  await page.keyboard.press('End');
  assert.equal(await installed.getAttribute('aria-selected'), 'true');
  await page.keyboard.press('Home');
  assert.equal(await library.getAttribute('aria-selected'), 'true');
  assert.equal(await installed.getAttribute('tabindex'), '-1');

  const install = page.getByRole('button', { name: 'Install Hightouch' });
  await install.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Install Hightouch' });
  await dialog.waitFor();
  // Tabbing forward many times never leaves the dialog.
  for (let i = 0; i < 30; i += 1) {
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => Boolean(document.activeElement?.closest('#form-dialog'))), true);
  }
  await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => Boolean(document.activeElement?.closest('#form-dialog'))), true);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  await eventually(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label') === 'Install Hightouch'),
    { what: 'focus back on the Install button' });
  assertCleanConsole(record);
});

test('sign-in refuses malformed, expired, oversized and wrongly signed tokens; sign out clears it', async (t) => {
  const { stack, page, record } = await setUp(t);
  await page.goto('/');
  const tokenInput = page.getByLabel('Access token');
  const submit = page.getByRole('button', { name: 'Sign in' });
  const error = page.locator('#signin-token-error');

  await tokenInput.fill('not-a-token');
  await submit.click();
  await error.getByText(/not a JWT/).waitFor();

  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const header = b64({ alg: 'HS256', typ: 'JWT' });
  const expired = `${header}.${b64({ sub: 'u', org_id: 'org_default', role: 'editor', exp: 1000 })}.c2ln`;
  await tokenInput.fill(expired);
  await submit.click();
  await error.getByText(/expired/).waitFor();

  // A forged token (right shape, wrong signature): the host refuses it. An oversized one
  // is refused before it is sent.
  const now = Math.floor(Date.now() / 1000);
  const forged = `${header}.${b64({ sub: 'u', org_id: 'org_default', role: 'owner', exp: now + 600 })}.c2lnbmF0dXJl`;
  await tokenInput.fill(forged);
  await submit.click();
  await error.getByText(/refused this token/).waitFor();
  const huge = `${header}.${b64({ sub: 'u'.repeat(20000), role: 'editor', exp: now + 600 })}.c2ln`;
  await tokenInput.fill(huge);
  await submit.click();
  await error.getByText(/too long/).waitFor();
  assert.equal(await page.locator('#console-view').isVisible(), false);

  await tokenInput.fill(stack.editorToken);
  await submit.click();
  await page.getByRole('heading', { level: 1, name: 'Integrations' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('signal.admin.token')), stack.editorToken);
  // A reload keeps the session (sessionStorage), sign out clears it.
  await page.reload();
  await page.getByRole('heading', { level: 1, name: 'Integrations' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Access token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('signal.admin.token')), null);

  // A token the host stops accepting sends the UI back to sign-in with a message.
  await page.evaluate((token) => sessionStorage.setItem('signal.admin.token', token), forged);
  await page.reload();
  await page.locator('#signin-message', { hasText: /signed out/ }).waitFor();
  assertCleanConsole(record, [401]);
});

test('the Integrations view stays usable at 1000px wide', async (t) => {
  const { stack, page, record } = await setUp(t, { width: 1000, height: 760 });
  await stack.installHightouch();
  await signIn(page, stack.editorToken);
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok((await overflow()) <= 0, 'the library scrolls sideways at 1000px');
  await page.getByRole('tab', { name: /My Integrations/ }).click();
  await page.locator('#installed-rows tr').first().waitFor();
  assert.ok((await overflow()) <= 0, 'My Integrations scrolls sideways at 1000px');
  const button = page.getByRole('button', { name: 'New revision of Hightouch' });
  assert.equal(await button.isVisible(), true);
  await screenshot(page, 'my-integrations-1000px');
  const box = await button.boundingBox();
  assert.ok(box.x + box.width <= 1000, `the action button is cut off at x=${box.x + box.width}`);

  // Live Events: the last column (the outcome) is on screen without scrolling.
  const messageId = await stack.track('Signed Up');
  await page.getByRole('link', { name: 'Live Events' }).click();
  const row = page.locator('#live-rows tr', { hasText: messageId.slice(0, 8) });
  await row.waitFor({ timeout: 30000 });
  assert.ok((await overflow()) <= 0, 'Live Events scrolls sideways at 1000px');
  const outcome = await row.locator('td').last().boundingBox();
  assert.ok(outcome.x + outcome.width <= 1000, `the outcome column is cut off at x=${outcome.x + outcome.width}`);
  await screenshot(page, 'live-events-1000px');
  assertCleanConsole(record);
});

test('vendor trouble during the credential check (429, then 5xx) shows its message; a retry installs', async (t) => {
  const { stack, page, record } = await setUp(t);
  await stack.setFaults({ target: 'rest', statuses: [429], retry_after: '7' });
  await signIn(page, stack.editorToken);
  const dialog = await openHightouchInstall(page);
  await fillHightouchForm(page, GOOD_KEY);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/integration-catalog/hightouch/install')),
    dialog.getByRole('button', { name: 'Install Integration' }).click(),
  ]);
  assert.equal(response.status(), 503);
  const body = await response.json();
  assert.equal(body.error.code, 'VENDOR_RATE_LIMITED');
  const alert = dialog.locator('.form-alert');
  await alert.waitFor();
  const text = await alert.textContent();
  assert.match(text, /Hightouch is rate-limiting the check/);
  assert.ok(text.includes(body.error.message), `alert "${text}" lacks "${body.error.message}"`);
  assert.match(text, new RegExp(`Try again in ${response.headers()['retry-after']} s`));

  // A server error at Hightouch: the credentials were not judged, 502.
  await stack.setFaults({ target: 'rest', statuses: [500] });
  const [second] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/integration-catalog/hightouch/install')),
    dialog.getByRole('button', { name: 'Install Integration' }).click(),
  ]);
  assert.equal(second.status(), 502);
  const secondBody = await second.json();
  assert.equal(secondBody.error.code, 'VENDOR_UNREACHABLE');
  await alert.getByText('Could not reach Hightouch').waitFor();
  assert.ok((await alert.textContent()).includes(secondBody.error.message));

  // The faults are spent: the same form now installs.
  await dialog.getByRole('button', { name: 'Install Integration' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await stack.admin('GET', '/v1/admin/integrations')).body.data.length, 1);
  assertCleanConsole(record, [502, 503]);
});

test('a setup failure holds the integration with its reason, and a new revision resumes it', async (t) => {
  const { stack, page, record } = await setUp(t);
  const installed = await stack.installHightouch();
  // Hightouch starts refusing the ingest key: delivery is a setup failure, not a retry.
  await stack.setFaults({ target: 'ingest', statuses: [401], repeat: true });
  const messageId = await stack.track('Checkout Started');
  await signIn(page, stack.editorToken);
  await page.getByRole('link', { name: 'Live Events' }).click();
  const row = page.locator('#live-rows tr', { hasText: messageId });
  await row.waitFor({ timeout: 30000 });
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[4], '401');
  assert.match(cells[6], /Setup failure/);

  const held = await eventually(async () => {
    const one = await stack.admin('GET', `/v1/admin/integrations/${installed.integration.id}`);
    const integration = one.body.integration || one.body;
    return integration.status === 'held' ? integration : null;
  }, { what: 'the integration to be held' });
  assert.notEqual(held.status_reason, '');

  await page.getByRole('link', { name: 'Integrations' }).click();
  await page.getByRole('tab', { name: /My Integrations/ }).click();
  const installedRow = page.locator('#installed-rows tr', { hasText: 'Hightouch' });
  await installedRow.getByText('Held', { exact: true }).waitFor();
  assert.equal(await installedRow.locator('.status-reason').textContent(), held.status_reason);
  await screenshot(page, 'my-integrations-held');

  // Fixed on Hightouch's side; a new revision with the same config resumes delivery.
  await stack.setFaults({});
  await installedRow.getByRole('button', { name: 'New revision of Hightouch' }).click();
  const dialog = page.getByRole('dialog', { name: 'New revision of Hightouch' });
  await dialog.getByLabel('Change summary').fill('Write key restored in Hightouch');
  await dialog.getByRole('button', { name: 'Create revision' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await installedRow.getByText('Active', { exact: true }).waitFor();
  assert.equal(await installedRow.locator('.status-reason').count(), 0);
  assertCleanConsole(record);
});
