// Scheduling throughput inside `kubelua up`: against a running cluster (its kubeconfig), creates
// PODS pods over one HTTP/2 connection (64 requests in flight) while the scheduler policy binds
// them and the node agent starts them, and counts from a watch when each pod gets a node and
// when it is Running. Prints pods bound per second (from the first create to the last binding)
// and the CPU used by the kubelua process (PID) meanwhile.
//
//   node bench/up_pods.mjs KUBECONFIG PID [PODS] [NAMESPACE]
//   BOUND_ONLY=1: finish when every pod is bound (for nodes that no kubelet runs)
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from './h2client.mjs';

const [kubeconfig, pidArg, podsArg = '2000', ns = 'default'] = process.argv.slice(2);
const PODS = Number(podsArg);
// BOUND_ONLY=1: stop once every pod is bound (nodes without a kubelet never run them).
const boundOnly = !!process.env.BOUND_ONLY;
const pid = Number(pidArg);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const ticks = (file) => {
  const f = readFileSync(file, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};
const cpu = () => ticks(`/proc/${pid}/stat`);
// Per thread: the loop thread (node agent and controllers) and the API server's thread.
const threads = () => Object.fromEntries(readdirSync(`/proc/${pid}/task`).map((t) => [t,
  ticks(`/proc/${pid}/task/${t}/stat`)]));
const api = connect(kubeconfig);
const { token, session, request } = api;


const listed = JSON.parse((await request('GET', `/api/v1/namespaces/${ns}/pods?limit=1`)).body);
const bound = new Set();
const running = new Set();
let tFirstBind = 0, tLastBind = 0, tLastRunning = 0;
let done;
const doneP = new Promise((r) => { done = r; });
{
  const req = session.request({
    ':method': 'GET', authorization: `Bearer ${token}`,
    ':path': `/api/v1/namespaces/${ns}/pods?watch=1&resourceVersion=${listed.metadata.resourceVersion}`,
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
      const o = JSON.parse(line).object;
      if (!o || o.kind !== 'Pod' || !o.metadata.name.startsWith('bench-')) continue;
      const name = o.metadata.name;
      if (o.spec && o.spec.nodeName && !bound.has(name)) {
        bound.add(name);
        tLastBind = now();
        if (!tFirstBind) tFirstBind = tLastBind;
        if (boundOnly && bound.size >= PODS) done();
      }
      if (o.status && o.status.phase === 'Running' && !running.has(name)) {
        running.add(name);
        tLastRunning = now();
        if (running.size >= PODS) done();
      }
    }
  });
  req.end();
}

const cpu0 = cpu();
const th0 = threads();
const t0 = now();
let next = 0;
const worker = async () => {
  while (next < PODS) {
    const i = ++next;
    const r = await request('POST', `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: `bench-${String(i).padStart(5, '0')}`,
        annotations: { 'kubelua.io/mode': 'simulated' } },
      spec: { containers: [{ name: 'c', image: 'x',
        resources: { requests: { cpu: '100m', memory: '128Mi' } } }] },
    });
    if (r.status !== 201) throw new Error(`create: ${r.status} ${r.body}`);
  }
};
await Promise.all(Array.from({ length: 64 }, worker));
const tCreated = now();
const timeout = setTimeout(() => { console.log(`timeout: ${bound.size} bound, ${running.size} running`); process.exit(1); }, 300000);
await doneP;
clearTimeout(timeout);
const used = cpu() - cpu0;
const th1 = threads();
console.log(`${PODS} pods created in ${(tCreated - t0).toFixed(2)} s (${(PODS / (tCreated - t0)).toFixed(0)}/s)`);
console.log(`bound: last ${(tLastBind - t0).toFixed(2)} s after the first create: ${(PODS / (tLastBind - t0)).toFixed(0)} pods bound/s`);
console.log(`running: last ${(tLastRunning - t0).toFixed(2)} s after the first create: ${(PODS / (tLastRunning - t0)).toFixed(0)} pods Running/s`);
console.log(`CPU of kubelua up meanwhile: ${used.toFixed(2)} s (${(used * 1e6 / PODS).toFixed(0)} us per pod: create, schedule, bind, start, status)`);
for (const [t, v] of Object.entries(th1)) {
  const d = v - (th0[t] || 0);
  if (d > 0.01) console.log(`  thread ${t}: ${d.toFixed(2)} s (${(d * 1e6 / PODS).toFixed(0)} us per pod)`);
}
session.close();
process.exit(0);
