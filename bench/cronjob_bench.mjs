// 10,000 CronJobs on `*/1 * * * *` on `kubelua up` (simulated nodes, zero-duration pods): the
// lag between each scheduled minute and its Job's creation, and kubelua's CPU between minutes.
//
//   node bench/cronjob_bench.mjs [KUBELUA] [CRONJOBS] [MINUTES] [NODES]
//   default: build-rel/kubelua 10000 3 10
//
// Starts `kubelua up --config` with NODES simulated nodes (5,000 pods each; batch pods finish
// at once), creates the CronJobs over HTTP/2 (64 in flight) just after a minute boundary
// (successfulJobsHistoryLimit 1, so the store stays bounded), then measures MINUTES full
// minutes. Lag: a watch on batch/v1 Jobs (its own HTTP/2 connection) records the arrival time
// of each ADDED event with sub-millisecond precision; the lag of a Job is that arrival time
// minus its scheduled minute (the minutes in its name). It includes the watch's delivery, so
// it bounds the creation lag from above. CPU: /proc/PID/stat and /proc/PID/task/*/stat are
// sampled every second (the main thread runs the controllers and node agents, the other
// thread the API server); "idle" is the mean from 5 s after a minute's last Job event (create,
// status update or delete) until 1 s before the next boundary. The controllers' /metrics are
// scraped at every boundary for per-controller Lua seconds and reconcile counts.
// KEEP=1 keeps the data directory; LOG=1 runs kubelua at -v info (default warn).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from './h2client.mjs';

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

const [kubelua = 'build-rel/kubelua', nArg = '10000', minArg = '3', nodesArg = '10'] =
  process.argv.slice(2);
const N = Number(nArg);
const MINUTES = Number(minArg);
const NODES = Number(nodesArg);
const HISTORY = Number(process.env.HISTORY ?? 1); // successfulJobsHistoryLimit
const dir = mkdtempSync(path.join(tmpdir(), 'cronjob-bench-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const wall = () => performance.timeOrigin + performance.now(); // ms since the epoch, sub-ms
const CLK_TCK = 100;

let child;
function cleanup() {
  if (child) child.kill('SIGTERM');
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  else console.error(`kept ${dir}`);
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

writeFileSync(`${dir}/cluster.yaml`, `apiVersion: kubelua.io/v1alpha1
kind: Cluster
mode: simulated
podDefaults:
  batchRunDuration: 0s
nodes:
  - count: ${NODES}
    capacity: {cpu: "1000", memory: 4000Gi, pods: "5000"}
`);
const metricsPort = 20000 + (process.pid % 20000);
const extra = [];
if (process.env.CRONJOB_WORKERS) { // a copy of the bundled policy with that many workers
  mkdirSync(`${dir}/policies`);
  const src = readFileSync(path.join(here, 'policies/cronjob.lua'), 'utf8')
    .replace(/workers = \d+/, `workers = ${process.env.CRONJOB_WORKERS}`);
  writeFileSync(`${dir}/policies/cronjob.lua`, src);
  extra.push('--policies', `${dir}/policies`);
}
child = spawn(kubelua, ['up', '--config', `${dir}/cluster.yaml`, '--data-dir', `${dir}/data`,
  '--listen', '127.0.0.1:0', '--metrics-listen', `127.0.0.1:${metricsPort}`,
  '-v', process.env.LOG ? 'info' : 'warn', ...extra],
{ stdio: ['ignore', 'pipe', process.env.LOG ? 'pipe' : 'inherit'] });
if (process.env.LOG) {
  const { createWriteStream } = await import('node:fs');
  child.stderr.pipe(createWriteStream(`${dir}/kubelua.log`));
}
let banner = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (c) => { banner += c; });
child.on('exit', (code) => { if (code !== null && code !== 0) { console.error(`kubelua exited ${code}`); process.exit(1); } });
for (let i = 0; !banner.includes('cluster is up'); i++) {
  if (i > 1200) throw new Error('kubelua up did not start');
  await sleep(25);
}
const pid = child.pid;
const api = connect(`${dir}/data/kubeconfig`);
const { token, session, request } = api;
const watchSession = api.open();


async function metrics() {
  try {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const m = {};
    for (const line of text.split('\n')) {
      if (!line || line[0] === '#') continue;
      const sp = line.lastIndexOf(' ');
      m[line.slice(0, sp)] = Number(line.slice(sp + 1));
    }
    return m;
  } catch { return {}; }
}

// ---- CPU sampling ---------------------------------------------------------------------------
function ticks(file) {
  const s = readFileSync(file, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
}
function sampleCpu() {
  const t = { all: ticks(`/proc/${pid}/stat`), main: 0, other: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const v = ticks(`/proc/${pid}/task/${tid}/stat`);
      if (Number(tid) === pid) t.main += v; else t.other += v;
    } catch { /* thread gone */ }
  }
  return t;
}
const cpu = []; // {t: ms, all, main, other}: percent of one core over the second before t
let prev = { t: wall(), ...sampleCpu() };
const selfPrev = { t: wall(), u: process.cpuUsage() };
const cpuTimer = setInterval(() => {
  const now = { t: wall(), ...sampleCpu() };
  const dt = (now.t - prev.t) / 1000;
  cpu.push({
    t: now.t,
    all: (100 * (now.all - prev.all)) / CLK_TCK / dt,
    main: (100 * (now.main - prev.main)) / CLK_TCK / dt,
    other: (100 * (now.other - prev.other)) / CLK_TCK / dt,
  });
  prev = now;
}, 1000);

// ---- The CronJobs ---------------------------------------------------------------------------
// Create right after a boundary so that the creations are over long before the next one.
const untilBoundary = 60000 - (wall() % 60000);
if (untilBoundary < 50000) await sleep(untilBoundary + 300);
const pad = (i) => String(i).padStart(5, '0');
const tCreate0 = wall();
{
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const r = await request('POST', '/apis/batch/v1/namespaces/default/cronjobs', {
        apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: `cj-${pad(i)}` },
        spec: {
          schedule: '*/1 * * * *', successfulJobsHistoryLimit: HISTORY, failedJobsHistoryLimit: 1,
          jobTemplate: { spec: { template: { spec: {
            restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['true'] }],
          } } } },
        },
      });
      if (r.status !== 201) throw new Error(`create cj-${pad(i)}: ${r.status} ${r.body}`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}
const tCreate1 = wall();
const listed = JSON.parse((await request('GET', '/apis/batch/v1/jobs?limit=1')).body);
console.log(`created ${N} CronJobs in ${((tCreate1 - tCreate0) / 1000).toFixed(2)} s`
  + ` (${(N / ((tCreate1 - tCreate0) / 1000)).toFixed(0)}/s)`);

// ---- The watch --------------------------------------------------------------------------------
const firstMinute = Math.floor(tCreate1 / 60000) + 1; // the first boundary after the creations
const lastMinute = firstMinute + MINUTES - 1;
const added = new Map(); // minute -> [lag ms]
const lastEvent = new Map(); // minute (of the event's arrival) -> arrival time of the last event
let duplicates = 0;
const seen = new Set();
{
  const req = watchSession.request({
    ':method': 'GET', authorization: `Bearer ${token}`,
    ':path': `/apis/batch/v1/jobs?watch=1&allowWatchBookmarks=true&resourceVersion=${listed.metadata.resourceVersion}`,
  });
  req.setEncoding('utf8');
  let buf = '';
  const nameRe = /"name":"cj-(\d+)-(\d+)"/;
  req.on('data', (chunk) => {
    const t = wall();
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('{"type":"BOOKMARK"')) continue;
      lastEvent.set(Math.floor(t / 60000), t);
      if (!line.startsWith('{"type":"ADDED"')) continue;
      const m = nameRe.exec(line);
      if (!m) continue;
      const key = `${m[1]}-${m[2]}`;
      if (seen.has(key)) { duplicates++; continue; }
      seen.add(key);
      const minute = Number(m[2]);
      if (!added.has(minute)) added.set(minute, []);
      added.get(minute).push(t - minute * 60000);
    }
  });
  req.on('error', (e) => console.error('watch:', e.message));
  req.end();
}

// ---- Measure ----------------------------------------------------------------------------------
const scrapes = new Map(); // minute -> metrics at its boundary
const rvs = new Map(); // minute -> the store's resourceVersion at its boundary (one per write)
const currentRv = async () => Number(JSON.parse(
  (await request('GET', '/api/v1/namespaces/kube-system/configmaps?limit=1')).body).metadata.resourceVersion);
for (let m = firstMinute; m <= lastMinute + 1; m++) {
  await sleep(Math.max(0, m * 60000 - wall()));
  scrapes.set(m, await metrics());
  rvs.set(m, await currentRv());
  if (m === lastMinute + 1) break;
  console.log(`minute ${m - firstMinute + 1}/${MINUTES} started`);
}
await sleep(1500); // the last minute's idle window ends at its boundary; finish its CPU samples
clearInterval(cpuTimer);
const selfCpu = process.cpuUsage(selfPrev.u);
const selfPct = (100 * (selfCpu.user + selfCpu.system)) / 1000 / (wall() - selfPrev.t);

const q = (a, p) => a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))];
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
const all = [];
const rows = [];
for (let m = firstMinute; m <= lastMinute; m++) {
  const lags = (added.get(m) || []).sort((a, b) => a - b);
  all.push(...lags);
  const end = lastEvent.get(m) || m * 60000;
  const idle = cpu.filter((s) => s.t - 1000 >= end + 5000 && s.t <= (m + 1) * 60000 - 1000);
  const busy = cpu.filter((s) => s.t - 1000 >= m * 60000 && s.t <= end + 1000);
  const inMinute = cpu.filter((s) => s.t - 1000 >= m * 60000 && s.t <= (m + 1) * 60000 + 500);
  const sum = (a, k) => a.reduce((x, s) => x + s[k], 0) / 100; // CPU seconds
  const mean = (a, k) => (a.length ? a.reduce((x, s) => x + s[k], 0) / a.length : NaN);
  const a = scrapes.get(m), b = scrapes.get(m + 1) || {};
  const lua = (c) => ((b[`kubelua_lua_seconds_total{controller="${c}"}`] || 0)
    - (a[`kubelua_lua_seconds_total{controller="${c}"}`] || 0)).toFixed(2);
  rows.push({
    minute: m - firstMinute + 1,
    jobs: lags.length,
    p50: lags.length ? fmt(q(lags, 50)) : '-',
    p99: lags.length ? fmt(q(lags, 99)) : '-',
    max: lags.length ? fmt(lags[lags.length - 1]) : '-',
    lastJobEvent: `${((end - m * 60000) / 1000).toFixed(1)} s`,
    busyCpu: `${mean(busy, 'all').toFixed(0)} %`,
    cpuSecs: `${sum(inMinute, 'main').toFixed(1)}+${sum(inMinute, 'other').toFixed(1)}`,
    writes: rvs.get(m + 1) - rvs.get(m),
    srvUsPerWrite: ((sum(inMinute, 'other') * 1e6) / (rvs.get(m + 1) - rvs.get(m))).toFixed(0),
    idleCpu: idle.length ? `${mean(idle, 'all').toFixed(2)} % (${idle.length} s)` : 'none',
    idleMain: idle.length ? `${mean(idle, 'main').toFixed(2)} %` : '-',
    idleServer: idle.length ? `${mean(idle, 'other').toFixed(2)} %` : '-',
    luaCronjob: lua('cronjob'), luaJob: lua('job'), luaScheduler: lua('scheduler'),
  });
}
all.sort((a, b) => a - b);
console.table(rows);
console.log(`all ${all.length} Jobs of ${MINUTES} minutes (expected ${N * MINUTES}, duplicates ${duplicates}):`
  + ` lag p50 ${fmt(q(all, 50))}, p99 ${fmt(q(all, 99))}, max ${fmt(all[all.length - 1])}`);
const lagAtEnd = scrapes.get(lastMinute + 1) || {};
console.log(`cronjob reconciles: ${Object.entries(lagAtEnd).filter(([k]) => k.startsWith('controller_runtime_reconcile_total{controller="cronjob"')).map(([k, v]) => `${k.replace(/.*result="(\w+)".*/, '$1')}=${v}`).join(' ')}`);
console.log(`the bench's own CPU (node): ${selfPct.toFixed(1)} % of one core on average`);
if (process.env.DUMP_METRICS) {
  for (const [k, v] of Object.entries(await metrics())) {
    if (!k.includes('bucket') || k.includes('cronjob')) console.log(`metric ${k} ${v}`);
  }
}
if (process.env.CPU_TRACE) {
  for (const s of cpu) {
    const sec = ((s.t / 1000) % 60).toFixed(1);
    console.log(`cpu ${new Date(s.t).toISOString()} (:${sec}) all ${s.all.toFixed(0)} main ${s.main.toFixed(0)} server ${s.other.toFixed(0)}`);
  }
}
session.close();
watchSession.close();
process.exit(all.length === N * MINUTES && duplicates === 0 ? 0 : 1);
