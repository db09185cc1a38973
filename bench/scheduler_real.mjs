// Scheduler throughput over real HTTPS. Starts the embedded API server (`kubelua apiserver`),
// creates NODES nodes and PODS pending pods over one HTTP/2 connection (64 requests in
// flight), then starts `kubelua run` with only the scheduler policy (policies/cluster/
// scheduler.lua) and measures from its /readyz (informers synced) until no pod is unbound.
//
//   node bench/scheduler_real.mjs [KUBELUA] [NODES] [PODS] [QPS] [WORKERS]
//   default: build-rel/kubelua 5000 2000 0 (QPS 0: the client does not throttle)
// WORKERS, when given, runs a copy of the policy with that many workers.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from './h2client.mjs';

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const [kubelua = 'build-rel/kubelua', nodesArg = '5000', podsArg = '2000', qps = '0', workers] =
  process.argv.slice(2);
const NODES = Number(nodesArg);
const PODS = Number(podsArg);
const dir = mkdtempSync(path.join(tmpdir(), 'sched-bench-'));
const children = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e9;

function cleanup() {
  for (const c of children) c.kill('SIGTERM');
  if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const api = spawn(kubelua, ['apiserver', '--data-dir', `${dir}/data`, '--listen', '127.0.0.1:0',
  '-v', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
children.push(api);
for (let i = 0; !existsSync(`${dir}/data/kubeconfig`); i++) {
  if (i > 400) throw new Error('the API server did not start');
  await sleep(25);
}
await sleep(200);
const { token, session, request } = connect(`${dir}/data/kubeconfig`);

async function createAll(n, make) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const [p, body] = make(i + 1);
      const r = await request('POST', p, body);
      if (r.status !== 201) throw new Error(`create ${p}: ${r.status} ${r.body}`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
}

const pad = (i) => String(i).padStart(5, '0');
let t = now();
await createAll(NODES, (i) => ['/api/v1/nodes', {
  apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${pad(i)}`, labels: { zone: `z${i % 3}` } },
  status: {
    allocatable: { cpu: '32', memory: '128Gi', pods: '110' },
    conditions: [{ type: 'Ready', status: 'True' }],
  },
}]);
const tNodes = now() - t;
t = now();
await createAll(PODS, (i) => ['/api/v1/namespaces/default/pods', {
  apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${pad(i)}` },
  spec: { containers: [{ name: 'c', image: 'x', resources: { requests: { cpu: '100m', memory: '128Mi' } } }] },
}]);
const tPods = now() - t;

async function unbound() {
  const r = await request('GET', '/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D');
  return JSON.parse(r.body).items.length;
}
console.log(`created ${NODES} nodes in ${tNodes.toFixed(2)} s, ${PODS} pods in ${tPods.toFixed(2)} s;`
  + ` unbound: ${await unbound()}`);

// A watch from the list's resourceVersion counts the pods that get a node (cheaper for the
// server than listing again and again while it serves the bindings).
const listed = JSON.parse((await request('GET', '/api/v1/namespaces/default/pods?limit=1')).body);
const bound = new Set();
let allBound;
const allBoundP = new Promise((r) => { allBound = r; });
let tLast = 0;
{
  const req = session.request({
    ':method': 'GET', authorization: `Bearer ${token}`,
    ':path': `/api/v1/namespaces/default/pods?watch=1&resourceVersion=${listed.metadata.resourceVersion}`,
  });
  req.setEncoding('utf8');
  let buf = '';
  req.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      const ev = JSON.parse(line);
      const o = ev.object;
      if (o && o.kind === 'Pod' && o.spec && o.spec.nodeName && !bound.has(o.metadata.name)) {
        bound.add(o.metadata.name);
        tLast = now();
        if (bound.size >= PODS) allBound();
      }
    }
  });
  req.end();
}

let policies = path.join(here, 'policies/cluster/scheduler.lua');
if (workers) {
  cpSync(path.join(here, 'policies/cluster'), `${dir}/policies`, { recursive: true });
  policies = `${dir}/policies/scheduler.lua`;
  const src = readFileSync(policies, 'utf8').replace(/workers = \d+/, `workers = ${workers}`);
  writeFileSync(policies, src);
}
const port = 20000 + (process.pid % 20000);
const t0 = now();
const run = spawn(kubelua, ['run', '--kubeconfig', `${dir}/data/kubeconfig`, '--no-builtin',
  '--no-watch', '--policies', policies, '--kube-api-qps', qps, '--kube-api-burst', '1000',
  '--metrics-listen', `127.0.0.1:${port}`, '-v', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
children.push(run);
for (;;) {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/readyz`);
    if (r.ok) break;
  } catch { /* not yet */ }
  await sleep(5);
}
const cpu = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks of 10 ms
};
const cpuRun0 = cpu(run.pid);
const cpuApi0 = cpu(api.pid);
const t1 = now();
await allBoundP;
const t2 = tLast;
const cpuRun = cpu(run.pid) - cpuRun0;
const cpuApi = cpu(api.pid) - cpuApi0;
const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
const m = (name) => {
  const line = metrics.split('\n').find((l) => l.startsWith(name));
  return line ? line.split(' ').pop() : '?';
};
console.log(`kubelua run ready after ${(t1 - t0).toFixed(2)} s; ${PODS} pods bound to ${NODES} nodes`
  + ` in ${(t2 - t1).toFixed(2)} s after ready: ${(PODS / (t2 - t1)).toFixed(0)} pods/s`);
console.log(`CPU while binding: kubelua run ${cpuRun.toFixed(2)} s (${(cpuRun * 1e6 / PODS).toFixed(0)} us`
  + ` per pod), apiserver ${cpuApi.toFixed(2)} s (${(cpuApi * 1e6 / PODS).toFixed(0)} us per pod)`);
console.log(`scheduler Lua seconds: ${m('kubelua_lua_seconds_total{controller="scheduler"')},`
  + ` Lua memory: ${(Number(m('kubelua_lua_memory_bytes{controller="scheduler"')) / 1048576).toFixed(1)} MiB`);
session.close();
process.exit(0);
