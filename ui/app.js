// offload dashboard. Plain JS, no framework, nothing from another origin.
//
// It polls every second rather than using server-sent events: a poll is a
// plain GET through evhttp (SSE would need long-lived chunked replies kept
// per client), /queues and /workers are at most 1 s old anyway (one shared
// Redis fetch a second), and a 1 s view is what an operator watching a
// queue needs.
//
// Every value from the API reaches the page through textContent, never
// innerHTML; the page's Content-Security-Policy refuses inline scripts.
'use strict';

const POLL_MS = 1000;
const CHART_POINTS = 300;     // 5 minutes of 1 s samples, kept in memory only
const DEAD_LIMIT = 10;        // latest failures shown per queue
const DEAD_QUEUES_MAX = 20;   // queues whose failures are fetched per poll
const TOKEN_KEY = 'offload-token';
const NOTICE_MS = 15000;     // how long an action's message stays

const $ = (id) => document.getElementById(id);
const samples = [];           // [{t, in, out}], oldest first
let waitingForToken = false;
let timer = null;
let shownJob = null;

// ---- HTTP: the token goes in a header, never in a URL ----

class AuthNeeded extends Error {}

async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, cache: 'no-store', credentials: 'omit',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    askToken(token ? 'The token was refused: enter it again.' : null);
    throw new AuthNeeded('token needed');
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const why = data && data.error ? data.error : res.status + ' ' + res.statusText;
    const err = new Error(why);
    err.status = res.status;
    throw err;
  }
  return data;
}

// Shows the token form once; polling waits until it is submitted.
function askToken(msg) {
  if (waitingForToken) return;
  waitingForToken = true;
  if (msg) $('auth-msg').textContent = msg;
  $('auth').hidden = false;
  $('auth-token').focus();
  setStatus('waiting for the token', true);
}

$('auth').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const v = $('auth-token').value.trim();
  if (!v) return;
  sessionStorage.setItem(TOKEN_KEY, v);
  $('auth-token').value = '';
  $('auth').hidden = true;
  waitingForToken = false;
  poll();
});

// ---- DOM helpers (text only) ----

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells, cls) {
  const tr = el('tr', null, cls);
  for (const c of cells) tr.appendChild(c instanceof Node ? c : el('td', c));
  return tr;
}

function num(v, digits) {
  const td = el('td', v === null || v === undefined ? '–' : (digits ? Number(v).toFixed(digits) : v), 'num');
  return td;
}

function button(label, fn) {
  const b = el('button', label);
  b.type = 'button';
  b.addEventListener('click', fn);
  return b;
}

function when(t) {
  if (t === null || t === undefined) return '–';
  return new Date(t * 1000).toLocaleTimeString();
}

function ago(s) {
  if (s === null || s === undefined) return '–';
  if (s < 60) return s.toFixed(1) + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  return (s / 3600).toFixed(1) + ' h';
}

// A job id as a link that looks the job up in the job card; long ids are
// shortened on screen (the whole id is the link's title).
function jobLink(id, label) {
  const a = el('a', label || shortId(id), 'job-link');
  a.href = '#job-card';
  a.title = id;
  a.dataset.id = id;
  a.addEventListener('click', (ev) => {
    ev.preventDefault();
    $('job-id').value = id;
    lookup(id);
    $('job-card').scrollIntoView({ block: 'nearest' });
  });
  return a;
}

function shortId(id) {
  return id && id.length > 12 ? id.slice(0, 12) + '…' : id;
}

function cell(child, cls) {
  const td = el('td', null, cls);
  td.append(child);
  return td;
}

// What the last action did (retry, discard, cancel): stays NOTICE_MS, unlike
// the status, which every poll rewrites.
let noticeTimer = null;
function notice(text, bad) {
  const n = $('notice');
  n.textContent = text;
  n.classList.toggle('error', !!bad);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { n.textContent = ''; }, NOTICE_MS);
}

function setStatus(text, bad) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', !!bad);
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// ---- the views ----

function showQueues(q) {
  const names = Object.keys(q.queues || {}).sort();
  let tin = 0, tout = 0;
  fill($('queues').tBodies[0], names.map((n) => {
    const s = q.queues[n];
    tin += s.in_per_s || 0;
    tout += s.out_per_s || 0;
    return row([el('td', n), num(s.depth), num(s.in_progress), num(s.scheduled), num(s.dead),
                num(s.in_per_s, 2), num(s.out_per_s, 2)]);
  }));
  const alive = q.workers_alive || 0;
  $('workers-alive').textContent = '· ' + alive + (alive === 1 ? ' worker alive' : ' workers alive');
  samples.push({ t: Date.now(), in: tin, out: tout });
  while (samples.length > CHART_POINTS) samples.shift();
  drawChart();
  return names.filter((n) => q.queues[n].dead > 0);
}

function showWorkers(w) {
  const now = Date.now() / 1000;
  const job = (x, none) => (x.job ? cell(jobLink(x.job.id, x.job.task + ' ' + shortId(x.job.id)), 'id') : el('td', none));
  const rows = (w.workers || []).map((x) => row([
    el('td', x.id, 'wid'), el('td', x.host), job(x, 'idle'),
    el('td', x.job ? ago(now - x.job.since) : '–'), num(x.jobs_done), num(x.jobs_failed), el('td', ago(x.heartbeat_age_s)),
  ]));
  for (const x of (w.dead || []).slice(0, 10)) {
    rows.push(row([
      el('td', x.id, 'wid'), el('td', x.host), job(x, '–'),
      el('td', 'ended ' + when(x.ended_at)), num(x.jobs_done), num(x.jobs_failed), el('td', x.reason || 'dead'),
    ], 'gone'));
  }
  fill($('workers').tBodies[0], rows);
}

async function showDead(queues) {
  const lists = await Promise.all(queues.slice(0, DEAD_QUEUES_MAX).map((q) =>
    api('GET', '/queues/' + encodeURIComponent(q) + '/dead?limit=' + DEAD_LIMIT).catch((e) => {
      if (e instanceof AuthNeeded) throw e;
      return { queue: q, jobs: [] };
    })));
  const jobs = [];
  for (const l of lists) for (const j of l.jobs || []) jobs.push([l.queue, j]);
  jobs.sort((a, b) => (b[1].finished_at || 0) - (a[1].finished_at || 0));
  fill($('dead').tBodies[0], jobs.map(([q, j]) => row([
    el('td', q), cell(jobLink(j.id), 'id'), el('td', j.task), el('td', j.error, 'err'), el('td', when(j.finished_at)),
    (() => {
      const td = el('td');
      td.append(button('retry', () => act('POST', '/queues/' + encodeURIComponent(q) + '/dead/retry', j.id)),
                button('discard', () => act('DELETE', '/queues/' + encodeURIComponent(q) + '/dead', j.id)));
      return td;
    })(),
  ])));
  $('dead-none').hidden = jobs.length > 0;
  $('dead').hidden = jobs.length === 0;
}

// Retry or discard one dead job: the routes a script would use.
async function act(method, path, id) {
  try {
    await api(method, path, { ids: [id] });
    notice((method === 'POST' ? 'retried ' : 'discarded ') + id);
    poll();
  } catch (e) {
    if (!(e instanceof AuthNeeded)) notice(e.message, true);
  }
}

function drawChart() {
  const c = $('chart');
  const ratio = window.devicePixelRatio || 1;
  const w = c.clientWidth || 600, h = c.clientHeight || 140;
  if (c.width !== Math.round(w * ratio)) { c.width = Math.round(w * ratio); c.height = Math.round(h * ratio); }
  const g = c.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  let max = 1;
  for (const s of samples) max = Math.max(max, s.in, s.out);
  const x = (i) => w - (samples.length - 1 - i) * (w / (CHART_POINTS - 1));
  const y = (v) => h - 4 - (v / max) * (h - 16);
  g.strokeStyle = '#dde1e7';
  g.beginPath(); g.moveTo(0, y(max)); g.lineTo(w, y(max)); g.stroke();
  g.fillStyle = '#6b7380';
  g.font = '11px sans-serif';
  g.fillText(max.toFixed(2) + '/s', 4, 11);
  for (const [key, color] of [['in', '#2f6fdf'], ['out', '#1f9d55']]) {
    g.strokeStyle = color;
    g.lineWidth = 1.5;
    g.beginPath();
    samples.forEach((s, i) => (i ? g.lineTo(x(i), y(s[key])) : g.moveTo(x(i), y(s[key]))));
    g.stroke();
  }
  const mins = ((samples.length - 1) / 60).toFixed(1);
  $('chart-note').textContent = 'last ' + mins + ' min of this page (per-second rates averaged over the last minute)';
}

// ---- a job by id ----

async function lookup(id) {
  $('job-msg').textContent = '';
  try {
    const j = await api('GET', '/jobs/' + encodeURIComponent(id));
    shownJob = j;
    const dl = $('job-fields');
    dl.replaceChildren();
    for (const k of ['id', 'state', 'queue', 'task', 'attempts', 'max_attempts', 'worker', 'created_at', 'started_at',
                     'finished_at', 'error', 'result', 'args']) {
      let v = j[k];
      if (k.endsWith('_at')) v = v ? new Date(v * 1000).toLocaleString() : '–';
      else if (v !== null && typeof v === 'object') v = JSON.stringify(v);
      dl.append(el('dt', k), el('dd', v === null || v === undefined ? '–' : v));
    }
    $('job-cancel').hidden = !(j.state === 'queued' || j.state === 'scheduled');
    fill($('history').tBodies[0], (j.history || []).map((a) => row([
      num(a.attempt), el('td', a.worker, 'wid'), el('td', when(a.started_at)), el('td', when(a.ended_at)),
      el('td', a.outcome), el('td', a.error, 'err'),
    ])));
    $('job').hidden = false;
  } catch (e) {
    if (e instanceof AuthNeeded) return;
    $('job').hidden = true;
    shownJob = null;
    $('job-msg').textContent = e.message;
  }
}

$('lookup').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const id = $('job-id').value.trim();
  if (id) lookup(id);
});

$('job-cancel').addEventListener('click', async () => {
  if (!shownJob) return;
  const id = shownJob.id;
  try {
    await api('DELETE', '/jobs/' + encodeURIComponent(id));
    notice('cancelled ' + id);
  } catch (e) {
    if (e instanceof AuthNeeded) return;
    $('job-msg').textContent = e.message;
  }
  lookup(id);
});

// ---- the poll ----

async function poll() {
  clearTimeout(timer);
  if (waitingForToken) return;
  try {
    const [q, w] = await Promise.all([api('GET', '/queues'), api('GET', '/workers')]);
    const withDead = showQueues(q);
    showWorkers(w);
    await showDead(withDead);
    setStatus('updated ' + new Date().toLocaleTimeString());
  } catch (e) {
    if (e instanceof AuthNeeded) return;   // resumes when the token is given
    setStatus(e.message || 'API unreachable', true);
  }
  timer = setTimeout(poll, POLL_MS);
}

window.addEventListener('resize', drawChart);
poll();
