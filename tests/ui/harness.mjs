// Test harness for the Management UI: starts a real fake-hightouch and a real
// signal-delivery-host (from SIGNAL_BUILD_DIR), mints tokens, talks to the admin and
// event APIs, and drives Debian's Chromium through playwright-core.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '../..');
export const BUILD_DIR = path.resolve(process.env.SIGNAL_BUILD_DIR || path.join(REPO_ROOT, 'build'));
export const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'ui');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// The credentials the fake Hightouch accepts (twenty characters, as Hightouch's keys are
// at least that long) and the workspace/source it knows.
export const GOOD_KEY = 'xxxxxxxxxxxxxxxxxxxx';
export const WRONG_KEY = 'yyyyyyyyyyyyyyyyyyyy';
export const WORKSPACE_ID = '12345';
export const SOURCE_ID = 'src-12345';

const execFileAsync = promisify(execFile);
const STARTUP_TIMEOUT_MS = 30000;

// Finds an executable by name under the build dir (targets land in their source folders).
export function findBinary(name) {
  const candidates = {
    'signal-delivery-host': ['host/daemon/signal-delivery-host', 'host/signal-delivery-host', 'signal-delivery-host'],
    'fake-hightouch': ['tests/fake_hightouch/fake-hightouch', 'tests/fake-hightouch', 'fake-hightouch'],
  }[name] || [name];
  for (const rel of candidates) {
    const full = path.join(BUILD_DIR, rel);
    if (isExecutable(full)) return full;
  }
  const found = walk(BUILD_DIR, 4).find((file) => path.basename(file) === name && isExecutable(file));
  if (!found) throw new Error(`${name} not found under ${BUILD_DIR}; build it or set SIGNAL_BUILD_DIR`);
  return found;
}

// The directory holding libsignal_hightouch.so, for --plugin-dir.
export function findPluginDir() {
  const found = walk(BUILD_DIR, 4).find((file) => path.basename(file) === 'libsignal_hightouch.so');
  if (!found) throw new Error(`libsignal_hightouch.so not found under ${BUILD_DIR}`);
  return path.dirname(found);
}

function isExecutable(file) {
  try {
    const stat = fs.statSync(file);
    return stat.isFile() && (stat.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function walk(dir, depth) {
  const out = [];
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (depth > 0 && !entry.name.startsWith('.') && entry.name !== 'CMakeFiles') out.push(...walk(full, depth - 1));
    } else {
      out.push(full);
    }
  }
  return out;
}

// A child process whose output is watched for lines announcing readiness.
export class Service {
  constructor(name, command, args, options = {}) {
    this.name = name;
    this.output = '';
    this.exited = null;
    this.proc = spawn(command, args, {
      env: { ...process.env, ...(options.env || {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (chunk) => {
      this.output += chunk.toString();
      for (const waiter of [...this.waiters]) waiter();
    };
    this.waiters = new Set();
    this.proc.stdout.on('data', onData);
    this.proc.stderr.on('data', onData);
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = { code, signal };
        for (const waiter of [...this.waiters]) waiter();
        resolve(this.exited);
      });
    });
  }

  // Resolves with the first match of `pattern` in the output.
  waitFor(pattern, timeoutMs = STARTUP_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.output);
        if (match) {
          done();
          resolve(match);
        } else if (this.exited) {
          done();
          reject(new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before printing ${pattern}:\n${this.output}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.output}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  async stop() {
    if (this.exited) return this.exited;
    this.proc.kill('SIGTERM');
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
    const result = await this.exitPromise;
    clearTimeout(killer);
    return result;
  }
}

// One fake Hightouch plus one host in a fresh data dir; torn down with stop().
export class Stack {
  static async start() {
    const stack = new Stack();
    try {
      await stack.#start();
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  async #start() {
    this.dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'signal-ui-test-'));
    this.hostBinary = findBinary('signal-delivery-host');
    this.fake = new Service('fake-hightouch', findBinary('fake-hightouch'), [
      '--port', '0',
      '--write-key', GOOD_KEY,
      '--api-key', GOOD_KEY,
      '--source', `${SOURCE_ID}:${WORKSPACE_ID}`,
    ]);
    const fakeMatch = await this.fake.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    this.fakeUrl = fakeMatch[1];

    this.host = new Service('signal-delivery-host', this.hostBinary, [
      '--data-dir', this.dataDir,
      '--plugin-dir', findPluginDir(),
      '--admin-port', '0',
      '--events-port', '0',
      '--plugin-option', `hightouch.events_base_url=${this.fakeUrl}`,
      '--plugin-option', `hightouch.api_base_url=${this.fakeUrl}`,
    ]);
    this.adminUrl = (await this.host.waitFor(/admin listening on (http:\/\/127\.0\.0\.1:\d+)/))[1];
    this.eventsUrl = (await this.host.waitFor(/events listening on (http:\/\/127\.0\.0\.1:\d+)/))[1];
    // "pipeline NAME key: KEY", one line per pipeline; the default one routes everywhere.
    await this.host.waitFor(/pipeline \S+ key: \S+/);
    const keys = [...this.host.output.matchAll(/pipeline (\S+) key: (\S+)/g)];
    this.pipelineKey = (keys.find((m) => m[1] === 'default') || keys[0])[2];
    this.editorToken = await this.token('editor');
    this.viewerToken = await this.token('viewer');
  }

  async token(role) {
    const { stdout } = await execFileAsync(this.hostBinary, ['token', '--role', role, '--data-dir', this.dataDir]);
    const match = /[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.exec(stdout);
    if (!match) throw new Error(`no token in the output of "token --role ${role}": ${stdout}`);
    return match[0];
  }

  // Calls the admin API; returns { status, body, headers }.
  async admin(method, apiPath, { token = this.editorToken, body } = {}) {
    const response = await fetch(`${this.adminUrl}${apiPath}`, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
  }

  async installHightouch(name = 'Hightouch') {
    const result = await this.admin('POST', '/v1/admin/integration-catalog/hightouch/install', {
      body: {
        name,
        variant: 'default',
        config: { api_key: GOOD_KEY, workspace_id: WORKSPACE_ID, source_id: SOURCE_ID },
        delivery_mode: 'server_side',
      },
    });
    if (result.status !== 201) throw new Error(`install failed: ${result.status} ${JSON.stringify(result.body)}`);
    return result.body;
  }

  // Sends one track event through the event API; returns its messageId.
  async track(event = 'Order Completed', messageId = crypto.randomUUID()) {
    const response = await fetch(`${this.eventsUrl}/v1/t`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.pipelineKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        messageId,
        event,
        anonymousId: 'anon-ui-test',
        userId: 'user-ui-test',
        properties: { revenue: 42.5, currency: 'EUR' },
      }),
    });
    const body = await response.json();
    if (response.status !== 200 || body.success !== true) {
      throw new Error(`event API refused the event: ${response.status} ${JSON.stringify(body)}`);
    }
    return messageId;
  }

  // Replaces the fake Hightouch's fault set (see fake-hightouch --help, FAULTS).
  async setFaults(faults) {
    const response = await fetch(`${this.fakeUrl}/_fake/faults`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(faults),
    });
    if (response.status !== 200) throw new Error(`fake refused faults: ${response.status} ${await response.text()}`);
  }

  async stop() {
    await this.host?.stop();
    await this.fake?.stop();
    if (this.dataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A page with its console errors, page errors and requests recorded.
export async function openPage(browser, baseUrl, { width = 1280, height = 860 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, baseURL: baseUrl });
  const page = await context.newPage();
  const record = { consoleErrors: [], consoleWarnings: [], pageErrors: [], requests: [], navigations: 0 };
  page.on('console', (message) => {
    if (message.type() === 'error') record.consoleErrors.push(message.text());
    if (message.type() === 'warning') record.consoleWarnings.push(message.text());
  });
  page.on('pageerror', (error) => record.pageErrors.push(String(error)));
  page.on('request', (request) => record.requests.push({ method: request.method(), url: request.url() }));
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) record.navigations += 1;
  });
  return { context, page, record };
}

// Chrome reports every HTTP error response as a console error ("Failed to load resource:
// the server responded with a status of 422"). A test lists the statuses it provokes on
// purpose; anything else, and any page error or warning, fails it.
export function unexpectedConsole(record, expectedStatuses = []) {
  const network = /^Failed to load resource: the server responded with a status of (\d{3})/;
  const errors = record.consoleErrors.filter((text) => {
    const match = network.exec(text);
    return !(match && expectedStatuses.includes(Number(match[1])));
  });
  return { errors, warnings: record.consoleWarnings, pageErrors: record.pageErrors };
}

export async function signIn(page, token) {
  await page.goto('/');
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Integrations' }).waitFor();
}

export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

// Polls `fn` until it returns a truthy value.
export async function eventually(fn, { timeoutMs = 30000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
