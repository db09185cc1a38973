// The official JavaScript client's informer (@kubernetes/client-node makeInformer) on the pods
// of one namespace: time until all N pods are cached, and memory held per cached pod.
// Usage: node --expose-gc informer_bench.mjs KUBECONFIG N [NAMESPACE]
// Prints one JSON object per line, as informer_bench.c does.
const [kubeconfig, countArg, nsArg] = process.argv.slice(2);
const n = Number(countArg);
const ns = nsArg || 'bench';

const k8s = await import('@kubernetes/client-node');

function heap() {
  if (global.gc) {
    global.gc();
    global.gc();
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss };
}

const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
const api = kc.makeApiClient(k8s.CoreV1Api);
const listFn = () => api.listNamespacedPod({ namespace: ns });
const before = heap();
const t0 = process.hrtime.bigint();
const c0 = process.cpuUsage();
const informer = k8s.makeInformer(kc, `/api/v1/namespaces/${ns}/pods`, listFn);
let adds = 0;
let finished = false;
const done = new Promise((resolve) => {
  informer.on('add', () => {
    adds++;
    if (adds >= n && !finished) {
      finished = true;
      resolve();
    }
  });
});
informer.on('error', (err) => {
  console.error('informer error:', err && err.message ? err.message : err);
});
// Not awaited: start() resolves once the watch is established, after the list was delivered.
const started = informer.start();
const timer = setTimeout(() => {
  console.error(`timed out with ${adds} pods`);
  process.exit(1);
}, 600000);
await done;
clearTimeout(timer);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(c0);
const after = heap();
const cached = informer.list(ns).length;
console.log(JSON.stringify({
  consumer: 'client-node-informer',
  version: JSON.parse((await import('node:fs')).readFileSync(
    new URL('./node_modules/@kubernetes/client-node/package.json', import.meta.url))).version,
  pods: cached,
  seconds: Number(secs.toFixed(3)),
  cpu_seconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(3)),
  pods_per_s: Math.round(cached / secs),
  heap_bytes_per_pod: Math.round((after.heap - before.heap) / cached),
  rss_bytes_per_pod: Math.round((after.rss - before.rss) / cached),
}));
started.catch(() => {});
process.exit(0);
