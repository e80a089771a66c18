// The lbha console: reads the coordinator's HTTP API with the caller's credentials (a bearer
// token kept for this tab, or the browser's client certificate) and follows its event stream.
// Operator actions go to the same API, which refuses them for a read-only identity; the console
// shows the refusal. Every value from the API is written as text, never as HTML.
'use strict';

const state = { token: sessionStorage.getItem('lbha-token') || '', refreshTimer: 0, lastSeq: 0 };

function $(id) {
  return document.getElementById(id);
}

function say(text, error) {
  const m = $('message');
  m.textContent = text;
  m.className = error ? 'error' : '';
}

async function api(path, options) {
  const headers = { accept: 'application/json' };
  if (state.token) headers.authorization = 'Bearer ' + state.token;
  if (options && options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method: (options && options.method) || 'GET', headers, body: options && options.body !== undefined ? JSON.stringify(options.body) : undefined });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = body.error || {};
    const err = new Error((e.code || res.status) + ': ' + (e.message || res.statusText));
    err.status = res.status;
    throw err;
  }
  return body;
}

function cell(tr, text, className) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null ? '' : String(text);
  if (className) td.className = className;
  tr.appendChild(td);
  return td;
}

function fill(id, rows, render) {
  const tbody = $(id).querySelector('tbody');
  tbody.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement('tr');
    render(tr, r);
    tbody.appendChild(tr);
  }
}

const MODES = { NODE_MODE_ACTIVE: 'active', NODE_MODE_DRAINING: 'draining', NODE_MODE_DRAINED: 'drained', NODE_MODE_MAINTENANCE: 'maintenance' };

async function drain(node) {
  say('asking to drain ' + node + '...');
  try {
    const r = await api('/v1/nodes/' + encodeURIComponent(node) + '/drain', { method: 'POST', body: { reason: 'from the console' } });
    say('drain of ' + node + ' started: operation ' + r.operation.id);
  } catch (e) {
    say('drain of ' + node + ' refused: ' + e.message, true);
  }
  schedule(0);
}

function renderOperations(ops) {
  const box = $('operations');
  box.replaceChildren();
  const running = ops.filter((o) => o.state === 'running' || o.state === 'pending');
  if (running.length === 0) {
    box.textContent = 'none';
    return;
  }
  for (const o of running) {
    const div = document.createElement('div');
    div.className = 'op';
    const title = document.createElement('div');
    title.textContent = o.kind + ' ' + (o.node || o.cluster) + ' (' + o.id + ', by ' + (o.actor || '?') + '): ' + (o.message || o.state);
    div.appendChild(title);
    const steps = document.createElement('ol');
    for (const s of o.steps || []) {
      const li = document.createElement('li');
      li.textContent = s.name + ': ' + s.state + (s.message ? ' - ' + s.message : '');
      steps.appendChild(li);
    }
    div.appendChild(steps);
    box.appendChild(div);
  }
}

async function refresh() {
  try {
    const [who, clusters, nodes, vips, ops] = await Promise.all([api('/v1/whoami'), api('/v1/clusters'), api('/v1/nodes'), api('/v1/vips'), api('/v1/operations?limit=50')]);
    $('who').textContent = (who.actor || '?') + ' (' + (who.role || '?') + ')';
    fill('clusters', clusters.clusters, (tr, c) => {
      cell(tr, c.name);
      cell(tr, c.nodes);
      cell(tr, c.connectedNodes);
      cell(tr, c.vips);
    });
    fill('vips', vips.vips, (tr, v) => {
      tr.dataset.vip = v.name;
      cell(tr, v.cluster);
      cell(tr, v.name);
      cell(tr, v.address);
      cell(tr, v.desiredHolder || '-', 'desired');
      cell(tr, (v.actualHolders || []).join(', ') || '-', 'actual');
      cell(tr, v.status, v.status === 'ok' ? 'status-ok' : 'status-bad');
      cell(tr, (v.reason || '') + (v.pin ? ' [' + (v.pin.sticky ? 'pinned' : 'moved') + ' by ' + v.pin.actor + ']' : ''));
    });
    fill('nodes', nodes.nodes, (tr, n) => {
      tr.dataset.node = n.name;
      cell(tr, n.cluster);
      cell(tr, n.name);
      cell(tr, n.connected ? (n.stale ? 'stale' : 'connected') : 'disconnected');
      cell(tr, n.connected ? (n.healthy ? 'healthy' : 'unhealthy') : 'unknown', n.healthy ? 'status-ok' : 'status-bad');
      cell(tr, MODES[n.mode] || n.mode || 'active');
      const td = cell(tr, '');
      const b = document.createElement('button');
      b.textContent = 'Drain';
      b.className = 'drain';
      b.addEventListener('click', () => drain(n.name));
      td.appendChild(b);
    });
    renderOperations(ops.operations);
    document.body.dataset.refreshed = String(Date.now());
  } catch (e) {
    say(e.status === 401 ? 'sign in: ' + e.message : 'could not read the API: ' + e.message, true);
  }
}

function schedule(delay) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refresh, delay);
}

function addEvent(e) {
  const li = document.createElement('li');
  const t = new Date(Number(e.timeMs || 0)).toISOString().slice(11, 23);
  li.textContent = t + ' ' + e.type + ' ' + (e.message || '');
  const list = $('events');
  list.insertBefore(li, list.firstChild);
  while (list.children.length > 200) list.removeChild(list.lastChild);
}

// EventSource cannot send an Authorization header, so the stream is read with fetch.
async function follow() {
  for (;;) {
    try {
      const headers = { accept: 'text/event-stream' };
      if (state.token) headers.authorization = 'Bearer ' + state.token;
      const res = await fetch('/v1/events/stream?afterSeq=' + state.lastSeq, { headers });
      if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
      $('stream').textContent = '(live)';
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (!data) continue;
          const e = JSON.parse(data);
          if (e.seq) state.lastSeq = Math.max(state.lastSeq, Number(e.seq));
          addEvent(e);
          schedule(150);
        }
      }
    } catch (e) {
      $('stream').textContent = '(reconnecting: ' + e.message + ')';
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

$('login').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.token = $('token').value;
  sessionStorage.setItem('lbha-token', state.token);
  $('token').value = '';
  say('');
  schedule(0);
});

// A link may carry the token in its fragment (never sent to the server): #token=...
const m = /[#&]token=([^&]+)/.exec(location.hash);
if (m) {
  state.token = decodeURIComponent(m[1]);
  sessionStorage.setItem('lbha-token', state.token);
  history.replaceState(null, '', location.pathname);
}
refresh();
follow();
// Also every 5 s: what agents report between events (health, operation progress).
setInterval(() => schedule(0), 5000);
