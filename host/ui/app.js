// Management UI of signal-delivery-host: sign-in, Integration Library, My Integrations and
// Live Events. It talks only to the admin API on the same origin (docs/API.md), builds
// every element with the DOM API (no innerHTML with server data) and needs no network.
// Kept ASCII-only (non-ASCII text as \u escapes): the build embeds it as a char array.

const API_BASE = '/v1/admin';
const TOKEN_KEY = 'signal.admin.token';
const WRITE_ROLES = new Set(['editor', 'admin', 'owner']);
const LIVE_ROW_LIMIT = 500;

const CATEGORY_LABELS = {
  advertising: 'Advertising',
  analytics: 'Analytics',
  attribution: 'Attribution',
  cdp: 'CDP',
  cloud_storage: 'Cloud storage',
  marketing_automation: 'Marketing automation',
  notifications: 'Notifications',
  other: 'Other',
};

// Delivery outcomes recorded per attempt, with the badge tone each one gets.
const OUTCOMES = {
  delivered: { label: 'Delivered', tone: 'success' },
  transient: { label: 'Transient error', tone: 'warning' },
  throttle: { label: 'Throttled', tone: 'warning' },
  split: { label: 'Split', tone: 'info' },
  setup_failure: { label: 'Setup failure', tone: 'danger' },
  reject: { label: 'Rejected', tone: 'danger' },
};

const INTEGRATION_STATUS = {
  active: { label: 'Active', tone: 'success' },
  held: { label: 'Held', tone: 'warning' },
  disabled: { label: 'Disabled', tone: 'neutral' },
};

const state = {
  token: null,
  claims: null,
  expiryTimer: 0,
  catalog: [],
  catalogStatus: 'idle', // idle | loading | ready | error
  catalogError: '',
  category: 'all',
  query: '',
  integrations: [],
  integrationsStatus: 'idle',
  integrationsError: '',
  tab: 'library',
  view: null,
  live: {
    rows: [],
    ids: new Set(),
    source: null,
    buffer: null, // stream events received while the list is loading
    nextCursor: null,
    paused: false,
    generation: 0,
    listAbort: null,
  },
};

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------
// DOM helpers

// h('button', {class: 'btn', onclick: fn}, 'Text', child, [more]) builds an element.
// Strings become text nodes, so server data can never inject markup.
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') for (const [p, v] of Object.entries(value)) el.style.setProperty(p, v);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value') el.value = value;
    else if (key === 'checked') el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

function clear(el) {
  el.replaceChildren();
  return el;
}

function badge(text, tone, extraClass = '') {
  return h('span', { class: `badge badge-${tone} ${extraClass}`.trim() }, text);
}

// Text colour for a brand-coloured badge: dark on light colours, white otherwise.
function readableOn(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(String(hex || '').trim());
  if (!m) return '#fff';
  const n = parseInt(m[1], 16);
  const channel = (c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const lum = 0.2126 * channel(n >> 16) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
  return lum > 0.45 ? '#111827' : '#ffffff';
}

function initialsOf(entry) {
  if (entry.initials) return String(entry.initials).slice(0, 3);
  return String(entry.name || entry.key || '?')
    .split(/\s+/)
    .map((w) => w[0] || '')
    .join('')
    .slice(0, 2)
    .toUpperCase();
}

function vendorMark(entry, size = '') {
  const color = /^#[0-9a-f]{3,8}$/i.test(entry.brand_color || '') ? entry.brand_color : '#475467';
  const cls = `vendor-mark ${size}`.trim();
  if (entry.logo_url && /^(\/|data:image\/)/.test(entry.logo_url)) {
    return h('span', { class: cls, 'aria-hidden': 'true' }, h('img', { src: entry.logo_url, alt: '' }));
  }
  return h('span', {
    class: cls,
    'aria-hidden': 'true',
    style: { '--brand': color, '--brand-ink': readableOn(color) },
  }, initialsOf(entry));
}

function categoryLabel(key) {
  if (!key) return 'Other';
  return CATEGORY_LABELS[key] || key.replace(/_/g, ' ').replace(/^\w/, (c) => c.toUpperCase());
}

function statusLabel(status) {
  return { ga: 'Generally available', beta: 'Beta', alpha: 'Alpha' }[status] || status || 'Generally available';
}

function statusTone(status) {
  return { ga: 'neutral', beta: 'info', alpha: 'warning', deprecated: 'danger' }[status] || 'neutral';
}

function pluralize(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso || '');
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function formatDateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso || '');
  return d.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

function relativeTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const seconds = Math.round((Date.now() - d.getTime()) / 1000);
  if (seconds < 45) return 'just now';
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return formatDateTime(iso);
}

function prettyBody(body) {
  if (body === undefined || body === null || body === '') return '';
  if (typeof body !== 'string') return JSON.stringify(body, null, 2);
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body; // truncated or not JSON: shown as sent
  }
}

// ---------------------------------------------------------------------------------------
// Toasts

function toast(message, { tone = 'success', title = '', timeout = 7000 } = {}) {
  const container = $('toasts');
  const close = h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss' }, '\u00d7');
  const node = h('div', { class: `toast toast-${tone}`, role: tone === 'danger' ? 'alert' : 'status' },
    h('div', { class: 'toast-body' }, title ? h('strong', {}, title) : null, h('span', {}, message)),
    close);
  const remove = () => node.remove();
  close.addEventListener('click', remove);
  container.append(node);
  if (timeout) setTimeout(remove, timeout);
  return node;
}

// ---------------------------------------------------------------------------------------
// API client

class ApiError extends Error {
  constructor(status, body, headers) {
    const error = (body && body.error) || {};
    super(error.message || (status ? `The host answered HTTP ${status}.` : 'Request failed.'));
    this.status = status;
    this.code = error.code || (status ? `HTTP_${status}` : 'NETWORK');
    this.details = Array.isArray(error.details) ? error.details : [];
    this.vendorStatus = error.vendor_status ?? body?.vendor_status ?? null;
    this.outcome = error.outcome ?? body?.outcome ?? null;
    const retry = headers ? headers.get('Retry-After') : null;
    this.retryAfter = retry ? Number(retry) || retry : null;
  }
}

async function api(path, { method = 'GET', body, signal, redirectOn401 = true } = {}) {
  const headers = { Accept: 'application/json', Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(`${API_BASE}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: 'no-store',
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, {
      error: { code: 'NETWORK', message: 'Could not reach signal-delivery-host. Is it running?' },
    });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const err = new ApiError(response.status, data, response.headers);
    if (response.status === 401 && redirectOn401) signOut(`You were signed out: ${err.message}`);
    throw err;
  }
  return data;
}

// Follows next_cursor until the list ends (or `max` items), for the small lists the UI shows.
async function listAll(path, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...((page && page.data) || []));
    cursor = page && page.has_more !== false ? page.next_cursor : null;
  } while (cursor && items.length < max);
  return items;
}

function errorText(err) {
  if (err.status === 403) return `Your role cannot do this. ${err.message}`;
  if (err.status === 429 || err.status === 503) {
    return err.retryAfter ? `${err.message} Try again in ${err.retryAfter} s.` : err.message;
  }
  return err.message;
}

// ---------------------------------------------------------------------------------------
// Session

function decodeClaims(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '='));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

function tokenExpired(claims) {
  return typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now();
}

function canWrite() {
  return WRITE_ROLES.has(String(state.claims?.role || '').toLowerCase());
}

function adopt(token, claims) {
  state.token = token;
  state.claims = claims;
  sessionStorage.setItem(TOKEN_KEY, token);
  clearTimeout(state.expiryTimer);
  if (typeof claims.exp === 'number') {
    const ms = claims.exp * 1000 - Date.now();
    // setTimeout overflows past ~24.8 days; such tokens simply do not get a timer.
    if (ms < 2 ** 31 - 1) {
      state.expiryTimer = setTimeout(() => signOut('Your token expired. Paste a new one.'), ms);
    }
  }
}

function signOut(message = '') {
  clearTimeout(state.expiryTimer);
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  state.claims = null;
  state.catalog = [];
  state.catalogStatus = 'idle';
  state.integrations = [];
  state.integrationsStatus = 'idle';
  state.view = null; // the next sign-in loads its view afresh
  stopLive();
  state.live.rows = [];
  state.live.ids = new Set();
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  showSignin(message);
}

function showSignin(message = '') {
  $('console-view').hidden = true;
  $('signin-view').hidden = false;
  const note = $('signin-message');
  note.textContent = message;
  note.hidden = !message;
  $('signin-token').value = '';
  setFieldError($('signin-token'), $('signin-token-error'), '');
  document.title = 'Sign in \u00b7 Signal';
  $('signin-token').focus();
}

async function onSignin(event) {
  event.preventDefault();
  const input = $('signin-token');
  const errorEl = $('signin-token-error');
  const token = input.value.trim().replace(/^Bearer\s+/i, '');
  setFieldError(input, errorEl, '');
  if (!token) return failSignin('Paste an access token.');
  // Signal's tokens are a few hundred bytes; anything this long is pasted by mistake.
  if (token.length > 8192) return failSignin('This token is too long to be an access token.');
  const claims = decodeClaims(token);
  if (!claims) return failSignin('This is not a JWT: expected three dot-separated parts.');
  if (tokenExpired(claims)) return failSignin('This token has expired. Create a new one.');

  const submit = $('signin-submit');
  submit.disabled = true;
  submit.textContent = 'Signing in\u2026';
  state.token = token;
  try {
    await api('/integration-catalog?limit=1', { redirectOn401: false });
    adopt(token, claims);
    $('signin-message').hidden = true;
    enterConsole();
  } catch (err) {
    state.token = null;
    failSignin(err.status >= 400 && err.status < 500
      ? `The host refused this token: ${err.message}`
      : errorText(err));
  } finally {
    submit.disabled = false;
    submit.textContent = 'Sign in';
  }

  function failSignin(message) {
    setFieldError(input, errorEl, message);
    input.focus();
  }
}

function enterConsole() {
  $('signin-view').hidden = true;
  $('console-view').hidden = false;
  const claims = state.claims;
  const role = String(claims.role || 'unknown');
  $('session-org').textContent = claims.org_id || 'no organisation';
  $('session-user').textContent = claims.sub || '';
  $('session-user').title = claims.exp ? `Token expires ${formatDateTime(claims.exp * 1000)}` : '';
  const roleEl = $('session-role');
  roleEl.textContent = role;
  roleEl.dataset.role = role.toLowerCase();
  $('viewer-notice').hidden = canWrite();
  if (!location.hash || location.hash === '#') {
    history.replaceState(null, '', '#/integrations/library');
  }
  route();
}

// ---------------------------------------------------------------------------------------
// Routing: #/integrations/library, #/integrations/installed, #/live-events

function route() {
  if (!state.token) return;
  const hash = location.hash || '#/integrations/library';
  if (hash.startsWith('#/live-events')) {
    showView('live');
  } else {
    showView('integrations');
    selectTab(hash.startsWith('#/integrations/installed') ? 'installed' : 'library');
  }
}

function showView(view) {
  const changed = state.view !== view;
  state.view = view;
  $('view-integrations').hidden = view !== 'integrations';
  $('view-live').hidden = view !== 'live';
  for (const link of document.querySelectorAll('.nav-link')) {
    if (link.dataset.nav === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${view === 'live' ? 'Live Events' : 'Integrations'} \u00b7 Signal`;
  if (!changed) return;
  if (view === 'live') {
    startLive();
  } else {
    stopLive();
    ensureCatalog();
    loadIntegrations();
  }
}

// ---------------------------------------------------------------------------------------
// Tabs (WAI-ARIA tabs with automatic activation)

function tabs() {
  return [...document.querySelectorAll('#integrations-tabs [role="tab"]')];
}

function selectTab(name) {
  state.tab = name;
  for (const tab of tabs()) {
    const selected = tab.dataset.tab === name;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute('aria-controls')).hidden = !selected;
  }
  if (name === 'installed') loadIntegrations();
}

function goToTab(name, { focusTab = false } = {}) {
  const hash = `#/integrations/${name}`;
  if (location.hash !== hash) history.pushState(null, '', hash);
  route();
  if (focusTab) $(`tab-${name}`).focus();
}

function onTabKeydown(event) {
  const list = tabs();
  const index = list.indexOf(event.target);
  if (index < 0) return;
  let next = null;
  if (event.key === 'ArrowRight') next = list[(index + 1) % list.length];
  else if (event.key === 'ArrowLeft') next = list[(index - 1 + list.length) % list.length];
  else if (event.key === 'Home') next = list[0];
  else if (event.key === 'End') next = list[list.length - 1];
  if (!next) return;
  event.preventDefault();
  goToTab(next.dataset.tab, { focusTab: true });
}

// ---------------------------------------------------------------------------------------
// Integration Library

async function ensureCatalog(force = false) {
  if (!force && (state.catalogStatus === 'ready' || state.catalogStatus === 'loading')) {
    renderLibrary();
    return;
  }
  state.catalogStatus = 'loading';
  renderLibrary();
  try {
    state.catalog = await listAll('/integration-catalog');
    state.catalogStatus = 'ready';
  } catch (err) {
    if (!state.token) return;
    state.catalogStatus = 'error';
    state.catalogError = errorText(err);
  }
  renderLibrary();
  if (state.tab === 'installed') renderInstalled();
}

function matchesQuery(entry, query) {
  if (!query) return true;
  const haystack = `${entry.name} ${entry.key} ${entry.description} ${categoryLabel(entry.category)}`.toLowerCase();
  return query.toLowerCase().split(/\s+/).filter(Boolean).every((word) => haystack.includes(word));
}

function renderLibrary() {
  const grid = clear($('library-grid'));
  const stateEl = clear($('library-state'));
  renderChips();
  if (state.catalogStatus === 'loading' && state.catalog.length === 0) {
    stateEl.append(h('p', { class: 'empty muted' }, 'Loading the catalog\u2026'));
    $('library-count').textContent = '';
    return;
  }
  if (state.catalogStatus === 'error') {
    stateEl.append(h('div', { class: 'notice notice-danger', role: 'alert' },
      h('span', {}, `Could not load the catalog. ${state.catalogError}`),
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => ensureCatalog(true) },
        'Retry')));
    $('library-count').textContent = '';
    return;
  }
  const visible = state.catalog.filter((entry) =>
    (state.category === 'all' || entry.category === state.category) && matchesQuery(entry, state.query));
  const where = state.category === 'all' ? '' : ` in ${categoryLabel(state.category)}`;
  $('library-count').textContent = `${pluralize(visible.length, 'integration')}${where}`;
  if (visible.length === 0) {
    stateEl.append(h('div', { class: 'empty' },
      h('p', {}, state.query
        ? `No integrations${where} match \u201c${state.query}\u201d.`
        : `No integrations${where} yet.`),
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: clearLibraryFilters },
        'Clear filters')));
    return;
  }
  for (const entry of visible) grid.append(libraryCard(entry));
}

function clearLibraryFilters() {
  state.query = '';
  state.category = 'all';
  $('library-search').value = '';
  renderLibrary();
  $('library-search').focus();
}

function renderChips() {
  const container = clear($('category-chips'));
  const counts = new Map();
  for (const entry of state.catalog) counts.set(entry.category, (counts.get(entry.category) || 0) + 1);
  // The known categories first, in a stable order, then any others the catalog uses.
  const keys = [...Object.keys(CATEGORY_LABELS)];
  for (const key of counts.keys()) if (key && !keys.includes(key)) keys.push(key);
  const chip = (key, label, count) => h('button', {
    type: 'button',
    class: 'chip',
    'aria-pressed': String(state.category === key),
    dataset: { category: key },
    onclick: () => {
      state.category = key;
      renderLibrary();
      container.querySelector(`[data-category="${key}"]`)?.focus();
    },
  }, label, h('span', { class: 'chip-count' },
    h('span', { class: 'visually-hidden' }, ', '), String(count),
    h('span', { class: 'visually-hidden' }, count === 1 ? ' integration' : ' integrations')));
  container.append(chip('all', 'All', state.catalog.length));
  for (const key of keys) {
    const count = counts.get(key) || 0;
    // Empty categories stay out of the way unless selected.
    if (count === 0 && state.category !== key) continue;
    container.append(chip(key, categoryLabel(key), count));
  }
}

function installedCountFor(key) {
  return state.integrations.filter((i) => (i.catalog_vendor_key || i.vendor) === key).length;
}

function libraryCard(entry) {
  const titleId = `card-${entry.key}-title`;
  const installButton = h('button', {
    type: 'button',
    class: 'btn btn-primary btn-small',
    'aria-label': `Install ${entry.name}`,
    onclick: () => openInstall(entry),
  }, 'Install');
  guardWrite(installButton, 'install integrations');
  const installed = installedCountFor(entry.key);
  return h('li', { class: 'card', 'aria-labelledby': titleId, dataset: { key: entry.key } },
    h('div', { class: 'card-head' },
      vendorMark(entry),
      h('div', { class: 'card-title' },
        h('h3', { id: titleId }, entry.name || entry.key),
        h('p', { class: 'card-category' }, categoryLabel(entry.category))),
      entry.status && entry.status !== 'ga'
        ? badge(entry.status, statusTone(entry.status), 'badge-status')
        : null),
    h('p', { class: 'card-description' }, entry.description || ''),
    h('div', { class: 'card-foot' },
      installed
        ? h('span', { class: 'installed-mark' }, h('span', { class: 'check', 'aria-hidden': 'true' }, '\u2713'),
          ` ${installed} installed`)
        : h('span', { class: 'card-modes muted' }, (entry.delivery_modes || []).map(modeLabel).join(' \u00b7 ')),
      h('div', { class: 'card-actions' },
        entry.website && /^https?:\/\//.test(entry.website)
          ? h('a', {
            class: 'btn btn-ghost btn-small', href: entry.website, target: '_blank', rel: 'noopener noreferrer',
            'aria-label': `${entry.name} documentation (opens in a new tab)`,
          }, 'Docs')
          : null,
        installButton)));
}

function modeLabel(mode) {
  return { server_side: 'Server-side', client_side: 'Client-side' }[mode] || mode;
}

// Viewers see write buttons disabled, with the reason as a tooltip and for screen readers.
function guardWrite(button, what) {
  if (canWrite()) return;
  const role = state.claims?.role || 'your';
  button.setAttribute('aria-disabled', 'true');
  button.classList.add('is-disabled');
  button.title = `The ${role} role cannot ${what}; it needs the editor role.`;
  button.setAttribute('aria-describedby', 'viewer-notice');
  button.addEventListener('click', (event) => {
    event.preventDefault();
    event.stopImmediatePropagation();
    toast(button.title, { tone: 'info', title: 'Read-only' });
  }, { capture: true });
}

// ---------------------------------------------------------------------------------------
// Install and new-revision form

let formContext = null;

function defaultFor(field, variant) {
  const fromVariant = variant?.default_config?.[field.key];
  if (fromVariant !== undefined) return fromVariant;
  if (field.default !== undefined) return field.default;
  if (field.default_value !== undefined && field.default_value !== '') return field.default_value;
  return undefined;
}

function fieldType(field) {
  return String(field.type || 'string').toLowerCase();
}

async function openInstall(entry) {
  if (!canWrite()) return;
  openForm({ mode: 'install', entry });
}

async function openRevision(integration) {
  if (!canWrite()) return;
  const key = integration.catalog_vendor_key || integration.vendor;
  try {
    let entry = state.catalog.find((e) => e.key === key);
    if (!entry) entry = await api(`/integration-catalog/${encodeURIComponent(key)}`);
    const data = await api(
      `/integrations/${encodeURIComponent(integration.id)}/revisions/${integration.current_revision}`);
    const revision = data?.revision || data;
    openForm({ mode: 'revision', entry, integration, revision });
  } catch (err) {
    if (state.token) toast(errorText(err), { tone: 'danger', title: 'Could not open the revision' });
  }
}

function openForm(context) {
  const { mode, entry, integration, revision } = context;
  const dialog = $('form-dialog');
  const variants = entry.variants?.length ? entry.variants : [{ key: 'default', name: 'Default' }];
  const currentVariantKey = integration?.catalog_variant_key || variants[0].key;
  const fields = entry.config_fields || [];
  const fieldKeys = new Set(fields.map((f) => f.key));
  const currentConfig = revision?.config || {};
  formContext = { ...context, fields, variants, inputs: new Map(), advanced: new Map() };

  const alertBox = h('div', { class: 'form-alert', role: 'alert', tabindex: '-1', hidden: true });
  const title = mode === 'install' ? `Install ${entry.name}` : `New revision of ${integration.name}`;
  const subtitle = mode === 'install'
    ? `${categoryLabel(entry.category)} \u00b7 ${statusLabel(entry.status)} \u00b7 ${(entry.delivery_modes || []).map(modeLabel).join(', ')}`
    : `Revision ${integration.current_revision + 1}. Secrets left as \u2022\u2022\u2022 keep their stored value.`;

  const body = h('div', { class: 'dialog-body' }, alertBox);

  // Name, description and variant: only when installing (a revision keeps them).
  if (mode === 'install') {
    body.append(h('fieldset', { class: 'form-section' },
      h('legend', {}, 'Integration'),
      textField({ id: 'f-name', label: 'Name', required: true, value: entry.name,
        help: 'Shown in My Integrations and Live Events. Unique in your organisation.' }),
      variantField(variants, currentVariantKey),
      textField({ id: 'f-description', label: 'Description', required: false, value: '',
        help: 'Optional: what this integration is for.' })));
  }

  const configSection = h('fieldset', { class: 'form-section' },
    h('legend', {}, mode === 'install' ? 'Credentials and settings' : 'Configuration'),
    h('p', { class: 'section-note' }, `Signal checks the credentials with ${entry.name} before anything is saved.`));
  for (const field of fields) {
    const initial = mode === 'revision'
      ? currentConfig[field.key]
      : defaultFor(field, variants.find((v) => v.key === currentVariantKey));
    configSection.append(configField(field, initial, mode));
  }
  body.append(configSection);

  // Delivery settings that come from the variant (batch size, rate limit...): editable, folded.
  // Only scalar settings get an input; anything structured is kept as it is.
  const advancedKeys = [];
  const scalar = (v) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
  const variantDefaults = variants.find((v) => v.key === currentVariantKey)?.default_config || {};
  for (const [key, value] of Object.entries(variantDefaults)) {
    if (!fieldKeys.has(key) && scalar(value)) advancedKeys.push(key);
  }
  if (mode === 'revision') {
    for (const [key, value] of Object.entries(currentConfig)) {
      if (!fieldKeys.has(key) && !advancedKeys.includes(key) && scalar(value)) advancedKeys.push(key);
    }
  }
  if (advancedKeys.length) {
    const grid = h('div', { class: 'advanced-grid' });
    for (const key of advancedKeys) {
      const value = mode === 'revision' && key in currentConfig ? currentConfig[key] : variantDefaults[key];
      grid.append(advancedField(key, value, variantDefaults[key]));
    }
    body.append(h('details', { class: 'form-details', id: 'advanced-details' },
      h('summary', {}, 'Delivery settings',
        h('span', { class: 'muted' }, mode === 'install' ? ' \u00b7 the variant\u2019s defaults' : ' \u00b7 current values')),
      grid));
  }

  const modes = entry.delivery_modes?.length ? entry.delivery_modes : ['server_side'];
  const currentMode = revision?.delivery_mode || modes[0];
  if (modes.length > 1) {
    const select = h('select', { id: 'f-delivery-mode' },
      modes.map((m) => h('option', { value: m }, modeLabel(m))));
    select.value = currentMode;
    body.append(h('div', { class: 'field' }, h('label', { for: 'f-delivery-mode' }, 'Delivery mode'), select));
  }
  formContext.deliveryMode = currentMode;

  if (mode === 'install' && entry.event_mappings?.length) {
    body.append(h('details', { class: 'form-details' },
      h('summary', {}, 'Event mapping'),
      h('table', { class: 'table table-compact' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Signal event'),
          h('th', { scope: 'col' }, `${entry.name} concept`), h('th', { scope: 'col' }, 'Notes'))),
        h('tbody', {}, entry.event_mappings.map((m) => h('tr', {},
          h('td', {}, h('code', {}, m.signal_event)), h('td', {}, m.vendor_concept), h('td', {}, m.notes || '')))))));
  }

  if (mode === 'revision') {
    body.append(h('fieldset', { class: 'form-section' },
      h('legend', {}, 'Change'),
      textField({ id: 'f-change-summary', label: 'Change summary', required: false, value: '',
        placeholder: 'e.g. Rotated the API key',
        help: 'Recorded with the revision, so that others know why it changed.' })));
  }

  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'form-submit' },
    mode === 'install' ? 'Install Integration' : 'Create revision');
  const closeButton = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', onclick: () => dialog.close() },
    h('span', { 'aria-hidden': 'true' }, '\u00d7'));
  const form = h('form', { class: 'dialog-form', novalidate: true, onsubmit: onFormSubmit },
    h('header', { class: 'dialog-header' },
      vendorMark(entry, 'vendor-mark-small'),
      h('div', {},
        h('h2', { id: 'form-title' }, title),
        h('p', { class: 'muted' }, subtitle)),
      closeButton),
    body,
    h('footer', { class: 'dialog-footer' },
      h('p', { class: 'muted required-legend' }, h('span', { class: 'req', 'aria-hidden': 'true' }, '*'), ' required'),
      h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => dialog.close() }, 'Cancel'),
      submit));
  formContext.alertBox = alertBox;
  formContext.submit = submit;
  clear(dialog).append(form);
  openDialog(dialog, mode === 'install' ? $('f-name') : firstEditable(form));
}

function firstEditable(root) {
  return root.querySelector('.dialog-body input:not([type=hidden]), .dialog-body select, .dialog-body textarea');
}

function fieldShell(id, label, required, help, control) {
  const helpId = help ? `${id}-help` : null;
  const errorId = `${id}-error`;
  if (helpId) control.setAttribute('aria-describedby', helpId);
  if (required) control.setAttribute('aria-required', 'true');
  // aria-required tells assistive technology; the star (CSS, empty alt text) is for the eye.
  const labelEl = h('label', { for: id, class: required ? 'is-required' : null }, label);
  return h('div', { class: 'field', dataset: { field: id } },
    control.type === 'checkbox' ? null : labelEl,
    control.type === 'checkbox' ? h('div', { class: 'checkbox-row' }, control, labelEl) : control,
    help ? h('p', { class: 'help', id: helpId }, help) : null,
    h('p', { class: 'field-error', id: errorId, hidden: true }));
}

function textField({ id, label, required, value, help, placeholder }) {
  const input = h('input', { type: 'text', id, name: id, value: value ?? '', placeholder, autocomplete: 'off',
    spellcheck: 'false' });
  return fieldShell(id, label, required, help, input);
}

function variantField(variants, selected) {
  const select = h('select', { id: 'f-variant', name: 'variant' },
    variants.map((v) => h('option', { value: v.key }, v.name || v.key)));
  select.value = selected;
  const describe = () => variants.find((v) => v.key === select.value)?.description || '';
  const shell = fieldShell('f-variant', 'Variant', false, describe() || 'The variant\u2019s delivery defaults.', select);
  select.addEventListener('change', () => {
    $('f-variant-help').textContent = describe() || 'The variant\u2019s delivery defaults.';
    applyVariantDefaults(select.value);
  });
  return shell;
}

// When the variant changes, fields the operator has not touched take the new defaults.
function applyVariantDefaults(variantKey) {
  const variant = formContext.variants.find((v) => v.key === variantKey);
  for (const [key, { field, input }] of formContext.inputs) {
    if (input.dataset.touched) continue;
    const value = defaultFor(field, variant);
    if (value !== undefined) setControlValue(input, value);
  }
  for (const [key, { input }] of formContext.advanced) {
    if (input.dataset.touched) continue;
    const value = variant?.default_config?.[key];
    if (value !== undefined) setControlValue(input, value);
    input.dataset.default = JSON.stringify(value ?? null);
  }
}

function setControlValue(input, value) {
  if (input.type === 'checkbox') input.checked = value === true || value === 'true';
  else input.value = value === undefined || value === null ? '' : String(value);
}

function configField(field, initial, mode) {
  const id = `cfg-${field.key}`;
  const type = fieldType(field);
  let control;
  if (type === 'select') {
    const options = field.options || [];
    control = h('select', { id, name: field.key },
      field.required ? null : h('option', { value: '' }, '\u2014 Not set \u2014'),
      options.map((o) => (typeof o === 'object'
        ? h('option', { value: o.value }, o.label || o.value)
        : h('option', { value: o }, String(o)))));
    if (initial !== undefined && initial !== null) control.value = String(initial);
  } else if (type === 'boolean') {
    control = h('input', { type: 'checkbox', id, name: field.key });
    setControlValue(control, initial);
  } else if (type === 'textarea' || type === 'json') {
    control = h('textarea', { id, name: field.key, rows: '4', placeholder: field.placeholder, spellcheck: 'false' });
    setControlValue(control, typeof initial === 'object' && initial ? JSON.stringify(initial, null, 2) : initial);
  } else {
    const inputType = type === 'secret' ? 'password' : type === 'number' || type === 'integer' ? 'number' : 'text';
    control = h('input', {
      type: inputType, id, name: field.key, placeholder: field.placeholder,
      autocomplete: 'off', spellcheck: 'false',
      inputmode: type === 'number' || type === 'integer' ? 'decimal' : null,
    });
    setControlValue(control, initial);
    if (type === 'secret' && mode === 'revision' && control.value === '***') {
      // The stored secret: typing replaces it, leaving it keeps it.
      control.dataset.stored = 'true';
      control.addEventListener('focus', () => control.select());
    }
  }
  control.addEventListener('input', () => { control.dataset.touched = 'true'; });
  control.addEventListener('change', () => { control.dataset.touched = 'true'; });
  formContext.inputs.set(field.key, { field, input: control });
  let help = field.help_text || '';
  if (control.dataset.stored) help = `${help} A value is stored; leave \u2022\u2022\u2022 to keep it.`.trim();
  const shell = fieldShell(id, field.label || field.key, Boolean(field.required), help, control);
  if (type === 'secret') {
    const toggle = h('button', {
      type: 'button', class: 'reveal', 'aria-controls': id, 'aria-pressed': 'false',
      'aria-label': `Show ${field.label || field.key}`,
    }, 'Show');
    toggle.addEventListener('click', () => {
      const shown = control.type === 'text';
      control.type = shown ? 'password' : 'text';
      toggle.textContent = shown ? 'Show' : 'Hide';
      toggle.setAttribute('aria-pressed', String(!shown));
    });
    const wrap = h('div', { class: 'secret-wrap' });
    control.replaceWith(wrap);
    wrap.append(control, toggle);
  }
  return shell;
}

function advancedField(key, value, defaultValue) {
  const id = `adv-${key}`;
  const label = key.replace(/_/g, ' ').replace(/^\w/, (c) => c.toUpperCase());
  let control;
  if (typeof value === 'boolean' || typeof defaultValue === 'boolean') {
    control = h('input', { type: 'checkbox', id, name: key });
  } else if (typeof value === 'number' || typeof defaultValue === 'number') {
    control = h('input', { type: 'number', id, name: key, inputmode: 'decimal' });
  } else {
    control = h('input', { type: 'text', id, name: key, spellcheck: 'false', autocomplete: 'off' });
  }
  setControlValue(control, value);
  control.dataset.default = JSON.stringify(defaultValue ?? null);
  control.addEventListener('input', () => { control.dataset.touched = 'true'; });
  formContext.advanced.set(key, { input: control, kind: typeof (value ?? defaultValue) });
  const help = defaultValue === undefined ? key : `${key} \u00b7 default ${JSON.stringify(defaultValue)}`;
  return fieldShell(id, label, false, help, control);
}

function readControl(input, type) {
  if (input.type === 'checkbox') return input.checked;
  const raw = input.value;
  if (type === 'number' || type === 'integer') return raw.trim() === '' ? '' : Number(raw);
  if (type === 'json') {
    try {
      return raw.trim() === '' ? '' : JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return type === 'secret' ? raw : raw.trim();
}

function setFieldError(input, errorEl, message) {
  if (!errorEl) return;
  errorEl.textContent = message;
  errorEl.hidden = !message;
  const ids = new Set((input.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean));
  if (message) {
    ids.add(errorEl.id);
    input.setAttribute('aria-invalid', 'true');
  } else {
    ids.delete(errorEl.id);
    input.removeAttribute('aria-invalid');
  }
  if (ids.size) input.setAttribute('aria-describedby', [...ids].join(' '));
  else input.removeAttribute('aria-describedby');
  input.closest('.field')?.classList.toggle('has-error', Boolean(message));
}

function errorElFor(input) {
  return $(`${input.id}-error`);
}

function clearFormErrors() {
  const dialog = $('form-dialog');
  for (const input of dialog.querySelectorAll('[aria-invalid="true"]')) setFieldError(input, errorElFor(input), '');
  showFormAlert(null);
}

function showFormAlert(content) {
  const box = formContext?.alertBox;
  if (!box) return;
  clear(box);
  box.className = 'form-alert';
  if (!content) {
    box.hidden = true;
    return;
  }
  box.classList.add(`form-alert-${content.tone || 'danger'}`);
  append(box, [
    h('strong', { class: 'form-alert-title' }, content.title),
    content.message ? h('p', {}, content.message) : null,
    content.extra || null,
  ]);
  box.hidden = false;
  box.scrollIntoView({ block: 'nearest' });
}

// Client-side checks: required fields and numbers. Returns the invalid inputs.
function validateForm() {
  const bad = [];
  const check = (input, message) => {
    setFieldError(input, errorElFor(input), message || '');
    if (message) bad.push(input);
  };
  if (formContext.mode === 'install') {
    const name = $('f-name');
    check(name, name.value.trim() ? '' : 'Give the integration a name.');
  }
  for (const { field, input } of formContext.inputs.values()) {
    const type = fieldType(field);
    const value = readControl(input, type);
    const label = field.label || field.key;
    if (field.required && type !== 'boolean' && (value === '' || value === null)) {
      check(input, `${label} is required.`);
    } else if ((type === 'number' || type === 'integer') && value !== '' && !Number.isFinite(value)) {
      check(input, `${label} must be a number.`);
    } else {
      check(input, '');
    }
  }
  for (const [key, { input, kind }] of formContext.advanced) {
    if (kind === 'number' && input.value.trim() !== '' && !Number.isFinite(Number(input.value))) {
      check(input, `${key} must be a number.`);
    } else {
      check(input, '');
    }
  }
  return bad;
}

function collectConfig() {
  const { mode, revision } = formContext;
  const config = mode === 'revision' ? { ...(revision?.config || {}) } : {};
  for (const { field, input } of formContext.inputs.values()) {
    const value = readControl(input, fieldType(field));
    if (value === '' || value === null) delete config[field.key];
    else config[field.key] = value;
  }
  for (const [key, { input, kind }] of formContext.advanced) {
    let value;
    if (input.type === 'checkbox') value = input.checked;
    else if (kind === 'number') value = input.value.trim() === '' ? null : Number(input.value);
    else value = input.value;
    // Installing: only what differs from the variant's defaults, which the host merges anyway.
    if (mode === 'install' && JSON.stringify(value) === input.dataset.default) continue;
    if (value === null || value === '') delete config[key];
    else config[key] = value;
  }
  return config;
}

async function onFormSubmit(event) {
  event.preventDefault();
  if (!formContext || formContext.busy) return;
  clearFormErrors();
  const bad = validateForm();
  if (bad.length) {
    showFormAlert({
      title: bad.length === 1 ? 'One field needs your attention.' : `${bad.length} fields need your attention.`,
    });
    if (bad[0].closest('details')) bad[0].closest('details').open = true;
    bad[0].focus();
    return;
  }
  const { mode, entry, integration } = formContext;
  const config = collectConfig();
  const deliveryMode = $('f-delivery-mode')?.value || formContext.deliveryMode;
  let path;
  let body;
  if (mode === 'install') {
    path = `/integration-catalog/${encodeURIComponent(entry.key)}/install`;
    body = { name: $('f-name').value.trim(), variant: $('f-variant').value, config, delivery_mode: deliveryMode };
    const description = $('f-description').value.trim();
    if (description) body.description = description;
  } else {
    path = `/integrations/${encodeURIComponent(integration.id)}/revisions`;
    body = {
      config,
      change_summary: $('f-change-summary').value.trim() || 'Edited in the Management UI',
      delivery_mode: deliveryMode,
    };
  }

  setBusy(true, mode === 'install' ? `Checking credentials with ${entry.name}\u2026` : 'Checking\u2026');
  try {
    const result = await api(path, { method: 'POST', body });
    setBusy(false);
    $('form-dialog').close();
    onFormSuccess(mode, result);
  } catch (err) {
    setBusy(false);
    if (!state.token) return; // 401: already back at sign-in
    showServerError(err);
  }
}

function setBusy(busy, label = '') {
  const { submit } = formContext;
  formContext.busy = busy;
  submit.disabled = busy;
  submit.setAttribute('aria-busy', String(busy));
  if (busy) {
    submit.dataset.label = submit.textContent;
    submit.textContent = label;
  } else if (submit.dataset.label) {
    submit.textContent = submit.dataset.label;
  }
}

function inputForDetail(fieldName) {
  const key = String(fieldName || '').replace(/^config\./, '').replace(/^config\[(.+)\]$/, '$1');
  if (key === 'name') return $('f-name');
  if (key === 'variant') return $('f-variant');
  if (key === 'description') return $('f-description');
  if (key === 'change_summary') return $('f-change-summary');
  return formContext.inputs.get(key)?.input || formContext.advanced.get(key)?.input || null;
}

function showServerError(err) {
  const { entry } = formContext;
  const vendor = entry.name;
  if (err.code === 'CREDENTIALS_REJECTED') {
    const status = err.vendorStatus ? `${vendor} answered HTTP ${err.vendorStatus}.` : '';
    showFormAlert({
      title: `${vendor} rejected the credentials`,
      message: err.message,
      extra: status ? h('p', { class: 'muted' }, `${status} Nothing was installed.`) : h('p', { class: 'muted' }, 'Nothing was installed.'),
    });
    formContext.alertBox.focus();
    return;
  }
  const unmatched = [];
  let firstBad = null;
  for (const detail of err.details) {
    const input = inputForDetail(detail.field);
    if (input) {
      setFieldError(input, errorElFor(input), detail.message || detail.code || 'Invalid value.');
      if (input.closest('details')) input.closest('details').open = true;
      firstBad ||= input;
    } else {
      unmatched.push(detail);
    }
  }
  if (err.status === 409 && !firstBad && $('f-name')) {
    setFieldError($('f-name'), $('f-name-error'), err.message);
    firstBad = $('f-name');
  }
  const titles = {
    403: 'Your role cannot do this',
    409: 'That name is taken',
    422: 'The configuration was not accepted',
    429: 'Too many requests',
    502: `Could not reach ${vendor}`,
    503: `${vendor} is rate-limiting the check`,
  };
  const message = firstBad && unmatched.length === 0
    ? 'Fix the highlighted fields and try again.'
    : errorText(err);
  showFormAlert({
    title: titles[err.status] || 'The request failed',
    message,
    extra: unmatched.length
      ? h('ul', {}, unmatched.map((d) => h('li', {}, d.field ? h('code', {}, d.field) : null,
        d.field ? ' ' : null, d.message || d.code)))
      : null,
  });
  (firstBad || formContext.alertBox).focus();
}

function onFormSuccess(mode, result) {
  const integration = result?.integration;
  const revision = result?.revision || result;
  const check = result?.credential_check;
  if (mode === 'install') {
    const name = integration?.name || formContext.entry.name;
    toast(check?.message ? `Credentials verified: ${check.message}` : 'It is active and receiving events.',
      { title: `Installed ${name}` });
    state.highlight = integration?.id || null;
    goToTab('installed', { focusTab: true });
  } else {
    toast(`Revision ${revision?.revision_number ?? ''} of ${formContext.integration.name} is now current.`,
      { title: 'Revision created' });
    state.highlight = formContext.integration.id;
  }
  formContext = null;
  loadIntegrations();
}

// ---------------------------------------------------------------------------------------
// Dialogs: focus trap, Escape, focus return

function openDialog(dialog, focusTarget) {
  dialog.returnFocusTo = document.activeElement;
  dialog.showModal();
  (focusTarget || dialog.querySelector('button, input, select, textarea, [tabindex]'))?.focus();
}

function focusables(root) {
  return [...root.querySelectorAll(
    'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])')]
    .filter((el) => el.offsetParent !== null || el === document.activeElement);
}

function setupDialog(dialog) {
  dialog.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab') return;
    const items = focusables(dialog);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
  dialog.addEventListener('cancel', (event) => {
    // Escape closes, except while a request is in flight.
    if (dialog.id === 'form-dialog' && formContext?.busy) event.preventDefault();
  });
  dialog.addEventListener('close', () => {
    const target = dialog.returnFocusTo;
    dialog.returnFocusTo = null;
    if (dialog.id === 'attempt-dialog') {
      document.querySelector('#live-rows tr[aria-current]')?.removeAttribute('aria-current');
    }
    if (target && document.contains(target) && !target.closest('[hidden]')) target.focus();
  });
  // A click on the backdrop (outside the dialog box) closes it.
  dialog.addEventListener('mousedown', (event) => {
    if (event.target === dialog && !(dialog.id === 'form-dialog' && formContext?.busy)) {
      const r = dialog.getBoundingClientRect();
      const inside = event.clientX >= r.left && event.clientX <= r.right
        && event.clientY >= r.top && event.clientY <= r.bottom;
      if (!inside) dialog.close();
    }
  });
}

// ---------------------------------------------------------------------------------------
// My Integrations

// Concurrent callers share one request.
function loadIntegrations() {
  if (!state.integrationsPromise) {
    state.integrationsPromise = fetchIntegrations().finally(() => { state.integrationsPromise = null; });
  }
  return state.integrationsPromise;
}

async function fetchIntegrations() {
  state.integrationsStatus = state.integrations.length ? 'refreshing' : 'loading';
  renderInstalled();
  try {
    state.integrations = await listAll('/integrations');
    state.integrationsStatus = 'ready';
  } catch (err) {
    if (!state.token) return;
    state.integrationsStatus = 'error';
    state.integrationsError = errorText(err);
  }
  renderInstalled();
  if (state.catalogStatus === 'ready') renderLibrary();
  fillIntegrationFilter();
}

function renderInstalled() {
  const count = $('installed-count');
  count.hidden = state.integrations.length === 0;
  count.textContent = String(state.integrations.length);
  if (state.tab !== 'installed') return;
  const stateEl = clear($('installed-state'));
  const tbody = clear($('installed-rows'));
  const wrap = $('installed-table-wrap');
  const summary = $('installed-summary');
  if (state.integrationsStatus === 'loading') {
    wrap.hidden = true;
    summary.textContent = '';
    stateEl.append(h('p', { class: 'empty muted' }, 'Loading your integrations\u2026'));
    return;
  }
  if (state.integrationsStatus === 'error') {
    wrap.hidden = true;
    summary.textContent = '';
    stateEl.append(h('div', { class: 'notice notice-danger', role: 'alert' },
      h('span', {}, `Could not load your integrations. ${state.integrationsError}`),
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: loadIntegrations }, 'Retry')));
    return;
  }
  const list = state.integrations;
  const held = list.filter((i) => i.status === 'held').length;
  summary.textContent = `${pluralize(list.length, 'integration')} installed${held ? `, ${held} held` : ''}`;
  if (list.length === 0) {
    wrap.hidden = true;
    stateEl.append(h('div', { class: 'empty' },
      h('p', {}, 'Nothing installed yet.'),
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: () => goToTab('library', { focusTab: true }) },
        'Browse the Integration Library')));
    return;
  }
  wrap.hidden = false;
  for (const integration of list) tbody.append(installedRow(integration));
  if (state.highlight) {
    const row = tbody.querySelector(`tr[data-id="${CSS.escape(state.highlight)}"]`);
    if (row) {
      row.classList.add('row-new');
      state.highlight = null;
    }
  }
}

function installedRow(integration) {
  const key = integration.catalog_vendor_key || integration.vendor;
  const entry = state.catalog.find((e) => e.key === key) || { key, name: key };
  const status = INTEGRATION_STATUS[integration.status] || { label: integration.status || 'unknown', tone: 'neutral' };
  const revise = h('button', {
    type: 'button', class: 'btn btn-secondary btn-small',
    'aria-label': `New revision of ${integration.name}`,
    onclick: () => openRevision(integration),
  }, 'New revision');
  guardWrite(revise, 'create revisions');
  const depth = Number(integration.queue_depth ?? 0);
  return h('tr', { dataset: { id: integration.id } },
    h('td', {},
      h('div', { class: 'cell-title' }, integration.name),
      h('div', { class: 'cell-sub mono', title: 'Integration ID' }, integration.id)),
    h('td', {},
      h('div', { class: 'vendor-cell' }, vendorMark(entry, 'vendor-mark-tiny'), h('span', {}, entry.name || key)),
      integration.catalog_variant_key
        ? h('div', { class: 'cell-sub' }, `${variantName(entry, integration.catalog_variant_key)} variant`)
        : null),
    h('td', {},
      badge(status.label, status.tone, 'badge-dot'),
      integration.status_reason ? h('p', { class: 'status-reason' }, integration.status_reason) : null),
    h('td', {},
      h('div', { class: 'mono' }, `v${integration.current_revision ?? '?'}`),
      h('div', { class: 'cell-sub' }, 'updated ',
        h('time', { datetime: integration.updated_at, title: formatDateTime(integration.updated_at) },
          relativeTime(integration.updated_at)))),
    h('td', { class: 'num' }, h('span', { class: depth > 0 ? 'queue queue-busy' : 'queue' }, depth.toLocaleString())),
    h('td', { class: 'actions' }, revise));
}

function variantName(entry, key) {
  return entry.variants?.find((v) => v.key === key)?.name || key;
}

// ---------------------------------------------------------------------------------------
// Live Events

function liveFilters() {
  return { integration_id: $('live-integration').value, outcome: $('live-outcome').value };
}

function filterQuery(filters, extra = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filters, ...extra })) if (v) params.set(k, v);
  const s = params.toString();
  return s ? `?${s}` : '';
}

function fillOutcomeFilter() {
  const select = $('live-outcome');
  if (select.options.length > 1) return;
  for (const [value, { label }] of Object.entries(OUTCOMES)) select.append(h('option', { value }, label));
}

function fillIntegrationFilter() {
  const select = $('live-integration');
  const selected = select.value;
  append(clear(select), [h('option', { value: '' }, 'All integrations'),
    state.integrations.map((i) => h('option', { value: i.id }, i.name))]);
  if (selected && !state.integrations.some((i) => i.id === selected)) {
    select.append(h('option', { value: selected }, selected));
  }
  select.value = selected;
}

function startLive() {
  fillOutcomeFilter();
  if (state.integrationsStatus !== 'ready') loadIntegrations();
  else fillIntegrationFilter();
  reloadLive();
}

function stopLive() {
  const live = state.live;
  live.generation += 1;
  live.listAbort?.abort();
  live.listAbort = null;
  if (live.source) {
    live.source.close();
    live.source = null;
  }
  setStreamStatus('idle', 'Not connected');
}

// Re-queries the list and reconnects the stream for the current filters. The stream is
// opened first and buffered, so that no attempt falls between the list and the stream.
async function reloadLive() {
  stopLive();
  const live = state.live;
  const generation = live.generation;
  const filters = liveFilters();
  $('live-clear').hidden = !filters.integration_id && !filters.outcome;
  live.rows = [];
  live.ids = new Set();
  live.nextCursor = null;
  live.buffer = [];
  clear($('live-rows'));
  $('live-more').hidden = true;
  setLiveState('Loading recent attempts\u2026');
  if (!live.paused) connectStream(filters, generation);
  live.listAbort = new AbortController();
  try {
    const page = await api(`/live-events${filterQuery(filters, { limit: 50 })}`, { signal: live.listAbort.signal });
    if (generation !== live.generation) return;
    const buffered = live.buffer || [];
    live.buffer = null;
    addRows(page?.data || [], { position: 'end' });
    // Stream events that arrived during the query, newest last, go on top.
    for (const attempt of buffered) addRows([attempt], { position: 'start', fresh: true });
    live.nextCursor = page?.has_more ? page.next_cursor : null;
    $('live-more').hidden = !live.nextCursor;
    updateLiveCount();
  } catch (err) {
    if (err.name === 'AbortError' || generation !== live.generation || !state.token) return;
    live.buffer = null;
    setLiveState(`Could not load recent attempts. ${errorText(err)}`, true);
  }
}

function connectStream(filters, generation) {
  const live = state.live;
  const url = `${API_BASE}/live-events/stream${filterQuery(filters, { access_token: state.token })}`;
  const source = new EventSource(url);
  live.source = source;
  setStreamStatus('connecting', 'Connecting\u2026');
  source.addEventListener('open', () => {
    if (generation === live.generation) setStreamStatus('live', 'Live');
  });
  source.addEventListener('attempt', (event) => {
    if (generation !== live.generation) return;
    let attempt;
    try {
      attempt = JSON.parse(event.data);
    } catch {
      return; // a malformed frame is skipped, the stream goes on
    }
    if (!matchesLiveFilters(attempt, filters)) return;
    if (live.buffer) live.buffer.push(attempt);
    else {
      addRows([attempt], { position: 'start', fresh: true });
      updateLiveCount();
    }
  });
  source.addEventListener('error', () => {
    if (generation !== live.generation) return;
    if (source.readyState === EventSource.CLOSED) {
      live.source = null;
      setStreamStatus('error', 'Disconnected');
      // The stream is refused for a bad token too: a plain request tells which.
      api('/live-events?limit=1').then(() => {
        if (generation === live.generation && !live.paused) {
          setTimeout(() => { if (generation === live.generation) connectStream(filters, generation); }, 3000);
        }
      }, () => {});
    } else {
      setStreamStatus('connecting', 'Reconnecting\u2026');
    }
  });
}

function matchesLiveFilters(attempt, filters) {
  if (filters.integration_id && attempt.integration_id !== filters.integration_id) return false;
  if (filters.outcome && attempt.outcome !== filters.outcome) return false;
  return true;
}

function setStreamStatus(stateName, text) {
  const el = $('stream-status');
  el.dataset.state = stateName;
  $('stream-status-text').textContent = state.live.paused && stateName === 'idle' ? 'Paused' : text;
}

function setLiveState(message, isError = false) {
  const el = clear($('live-state'));
  if (!message) return;
  el.append(isError
    ? h('div', { class: 'notice notice-danger', role: 'alert' }, h('span', {}, message),
      h('button', { type: 'button', class: 'btn btn-secondary btn-small', onclick: reloadLive }, 'Retry'))
    : h('p', { class: 'empty muted' }, message));
}

function updateLiveCount() {
  const n = state.live.rows.length;
  $('live-count').textContent = n ? `Showing ${pluralize(n, 'attempt')}, newest first` : '';
  if (n) setLiveState('');
  else {
    const filters = liveFilters();
    setLiveState(filters.integration_id || filters.outcome
      ? 'No attempts match these filters yet. New ones appear here as they happen.'
      : 'No delivery attempts yet. Send an event to the event API and it appears here as it is delivered.');
  }
}

function addRows(attempts, { position, fresh = false }) {
  const live = state.live;
  const tbody = $('live-rows');
  const fragment = document.createDocumentFragment();
  const added = [];
  for (const attempt of attempts) {
    const id = String(attempt.id ?? `${attempt.created_at}-${attempt.integration_id}`);
    if (live.ids.has(id)) continue;
    live.ids.add(id);
    attempt.id = id;
    added.push(attempt);
    fragment.append(liveRow(attempt, fresh));
  }
  if (!added.length) return;
  if (position === 'start') {
    live.rows.unshift(...added.reverse());
    // Rows were appended oldest-last into the fragment; newest goes on top.
    const nodes = [...fragment.childNodes].reverse();
    tbody.prepend(...nodes);
  } else {
    live.rows.push(...added);
    tbody.append(fragment);
  }
  while (live.rows.length > LIVE_ROW_LIMIT) {
    const dropped = live.rows.pop();
    live.ids.delete(dropped.id);
    tbody.lastElementChild?.remove();
  }
}

function eventTypesOf(attempt) {
  const types = attempt.event_types;
  if (Array.isArray(types)) return types;
  return String(types || '').split(',').map((t) => t.trim()).filter(Boolean);
}

function liveRow(attempt, fresh) {
  const outcome = OUTCOMES[attempt.outcome] || { label: attempt.outcome || 'unknown', tone: 'neutral' };
  const ids = attempt.message_ids || [];
  const status = Number(attempt.http_status || 0);
  const statusTone = !status ? 'neutral' : status < 300 ? 'success' : status < 500 && status !== 408 && status !== 429 ? 'danger' : 'warning';
  const row = h('tr', {
    tabindex: '0',
    class: fresh ? 'row-new' : null,
    dataset: { id: attempt.id, outcome: attempt.outcome || '' },
    'aria-label': `${formatTime(attempt.created_at)}, ${attempt.integration_name || attempt.integration_id}, ${outcome.label}, HTTP ${status || 'no response'}. Press Enter for details.`,
    onclick: () => openAttempt(attempt, row),
    onkeydown: (event) => onLiveRowKey(event, attempt, row),
  },
  h('td', { class: 'mono' }, h('time', { datetime: attempt.created_at, title: formatDateTime(attempt.created_at) },
    formatTime(attempt.created_at))),
  h('td', {}, attempt.integration_name || attempt.integration_id),
  h('td', {}, h('span', { class: 'types' }, eventTypesOf(attempt).map((t) => h('span', { class: 'type-tag' }, t))),
    ids.length > 1 ? h('span', { class: 'muted small' }, ` ${ids.length} events`) : null),
  h('td', { class: 'mono ellipsis', title: ids.join('\n') }, ids[0] || '\u2014',
    ids.length > 1 ? h('span', { class: 'muted' }, ` +${ids.length - 1}`) : null),
  h('td', { class: 'num' }, status ? h('span', { class: `http http-${statusTone}` }, String(status))
    : h('span', { class: 'muted', title: 'No response' }, '\u2014')),
  h('td', { class: 'num mono' }, `${Number(attempt.latency_ms ?? 0).toLocaleString()} ms`),
  h('td', {}, badge(outcome.label, outcome.tone, 'badge-dot'),
    Number(attempt.attempt) > 1 ? h('span', { class: 'muted small' }, ` attempt ${attempt.attempt}`) : null));
  return row;
}

function onLiveRowKey(event, attempt, row) {
  if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    openAttempt(attempt, row);
  } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
    event.preventDefault();
    const next = event.key === 'ArrowDown' ? row.nextElementSibling : row.previousElementSibling;
    next?.focus();
  }
}

async function loadOlder() {
  const live = state.live;
  if (!live.nextCursor) return;
  const generation = live.generation;
  const button = $('live-more');
  button.disabled = true;
  try {
    const page = await api(`/live-events${filterQuery(liveFilters(), { limit: 50, cursor: live.nextCursor })}`);
    if (generation !== live.generation) return;
    addRows(page?.data || [], { position: 'end' });
    live.nextCursor = page?.has_more ? page.next_cursor : null;
    button.hidden = !live.nextCursor;
    updateLiveCount();
  } catch (err) {
    if (state.token) toast(errorText(err), { tone: 'danger', title: 'Could not load older attempts' });
  } finally {
    button.disabled = false;
  }
}

function togglePause() {
  const live = state.live;
  live.paused = !live.paused;
  const button = $('live-pause');
  button.setAttribute('aria-pressed', String(live.paused));
  button.textContent = live.paused ? 'Resume' : 'Pause';
  if (live.paused) stopLive();
  else reloadLive();
}

function requestParts(request) {
  if (!request) return null;
  if (typeof request === 'string') {
    try {
      return requestParts(JSON.parse(request));
    } catch {
      return { method: '', url: '', headers: [], body: request };
    }
  }
  let headers = request.headers || [];
  if (!Array.isArray(headers)) headers = Object.entries(headers);
  headers = headers.map((hdr) => (Array.isArray(hdr) ? hdr : [hdr.name ?? hdr.key, hdr.value]));
  return { method: request.method || '', url: request.url || '', headers, body: request.body };
}

function responseParts(response, attempt) {
  if (response && typeof response === 'object' && !Array.isArray(response)) {
    let headers = response.headers || [];
    if (!Array.isArray(headers)) headers = Object.entries(headers);
    return { status: response.status ?? attempt.http_status, headers, body: response.body ?? '' };
  }
  return { status: attempt.http_status, headers: [], body: response ?? '' };
}

function codeBlock(text, label) {
  return h('pre', { class: 'code', tabindex: '0', 'aria-label': label }, h('code', {}, text || '(empty)'));
}

function openAttempt(attempt, row) {
  const dialog = $('attempt-dialog');
  document.querySelector('#live-rows tr[aria-current]')?.removeAttribute('aria-current');
  row?.setAttribute('aria-current', 'true');
  const outcome = OUTCOMES[attempt.outcome] || { label: attempt.outcome || 'unknown', tone: 'neutral' };
  const request = requestParts(attempt.request);
  const response = responseParts(attempt.response, attempt);
  const ids = attempt.message_ids || [];
  const headersTable = (headers, label) => (headers.length
    ? h('table', { class: 'kv' }, h('caption', { class: 'visually-hidden' }, label),
      h('tbody', {}, headers.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, String(k)), h('td', { class: 'mono' }, String(v))))))
    : null);
  const close = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', onclick: () => dialog.close() },
    h('span', { 'aria-hidden': 'true' }, '\u00d7'));
  const content = h('div', { class: 'drawer-inner' },
    h('header', { class: 'dialog-header' },
      h('div', {},
        h('h2', { id: 'attempt-title' }, 'Delivery attempt'),
        h('p', { class: 'muted mono' }, attempt.id)),
      close),
    h('div', { class: 'dialog-body' },
      h('div', { class: 'attempt-summary' },
        badge(outcome.label, outcome.tone, 'badge-dot badge-large'),
        attempt.message ? h('p', { class: 'attempt-message' }, attempt.message) : null),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Time'), h('dd', {}, formatDateTime(attempt.created_at), h('span', { class: 'muted mono' }, ` ${formatTime(attempt.created_at)}`)),
        h('dt', {}, 'Integration'), h('dd', {}, attempt.integration_name || attempt.integration_id),
        h('dt', {}, 'HTTP status'), h('dd', { class: 'mono' }, attempt.http_status ? String(attempt.http_status) : 'No response'),
        h('dt', {}, 'Latency'), h('dd', { class: 'mono' }, `${attempt.latency_ms ?? 0} ms`),
        h('dt', {}, 'Attempt'), h('dd', {}, String(attempt.attempt ?? 1)),
        h('dt', {}, 'Event types'), h('dd', {}, eventTypesOf(attempt).join(', ') || '\u2014'),
        h('dt', {}, ids.length === 1 ? 'Message ID' : `Message IDs (${ids.length})`),
        h('dd', {}, h('ul', { class: 'id-list mono' }, ids.map((id) => h('li', {}, id))))),
      h('section', { class: 'detail-section', 'aria-labelledby': 'attempt-request-title' },
        h('h3', { id: 'attempt-request-title' }, 'Request', h('span', { class: 'muted small' }, ' \u00b7 secrets redacted')),
        request
          ? [h('p', { class: 'request-line mono' }, h('strong', {}, request.method), ' ', request.url),
            headersTable(request.headers, 'Request headers'),
            codeBlock(prettyBody(request.body), 'Request body')]
          : h('p', { class: 'muted' }, 'No request was recorded (rejected before sending).')),
      h('section', { class: 'detail-section', 'aria-labelledby': 'attempt-response-title' },
        h('h3', { id: 'attempt-response-title' }, 'Response',
          response.status ? h('span', { class: 'muted small' }, ` \u00b7 HTTP ${response.status}`) : null),
        headersTable(response.headers, 'Response headers'),
        codeBlock(prettyBody(response.body), 'Response body'))));
  clear(dialog).append(content);
  openDialog(dialog, close);
}

// ---------------------------------------------------------------------------------------
// Start-up

function init() {
  $('signin-form').addEventListener('submit', onSignin);
  $('signin-token').addEventListener('keydown', (event) => {
    // Enter submits (a token has no line breaks); Shift+Enter is ignored too.
    if (event.key === 'Enter') {
      event.preventDefault();
      $('signin-form').requestSubmit();
    }
  });
  $('signout').addEventListener('click', () => signOut('You signed out.'));
  $('integrations-tabs').addEventListener('keydown', onTabKeydown);
  for (const tab of tabs()) tab.addEventListener('click', () => goToTab(tab.dataset.tab));
  for (const link of document.querySelectorAll('.nav-link')) {
    link.addEventListener('click', () => {
      // After the hash change, move focus to the view's heading for screen-reader users.
      setTimeout(() => $(link.dataset.nav === 'live' ? 'live-title' : 'integrations-title').focus(), 0);
    });
  }
  $('library-search').addEventListener('input', (event) => {
    state.query = event.target.value.trim();
    renderLibrary();
  });
  $('installed-refresh').addEventListener('click', loadIntegrations);
  $('live-integration').addEventListener('change', reloadLive);
  $('live-outcome').addEventListener('change', reloadLive);
  $('live-clear').addEventListener('click', () => {
    $('live-integration').value = '';
    $('live-outcome').value = '';
    reloadLive();
    $('live-integration').focus();
  });
  $('live-more').addEventListener('click', loadOlder);
  $('live-pause').addEventListener('click', togglePause);
  setupDialog($('form-dialog'));
  setupDialog($('attempt-dialog'));
  window.addEventListener('hashchange', route);
  window.addEventListener('popstate', route);
  // Relative times in My Integrations stay fresh.
  setInterval(() => {
    if (state.view === 'integrations' && state.tab === 'installed' && !document.hidden) {
      for (const time of document.querySelectorAll('#installed-rows time')) {
        time.textContent = relativeTime(time.getAttribute('datetime'));
      }
    }
  }, 30000);

  const token = sessionStorage.getItem(TOKEN_KEY);
  const claims = token ? decodeClaims(token) : null;
  if (!token || !claims) {
    showSignin();
  } else if (tokenExpired(claims)) {
    signOut('Your token expired. Paste a new one.');
  } else {
    adopt(token, claims);
    enterConsole();
  }
}

init();
