// Creates COUNT Nodes over HTTP/2 (64 requests in flight) that no kubelet runs: Ready, with
// capacity, and without the kubelua.io/simulated label, so `kubelua up`'s node agent leaves
// them alone (their Ready condition stands until the node lifecycle controller's grace period,
// 40 s, ends). For bench/up_sched.sh.
//
//   node bench/static_nodes.mjs KUBECONFIG [COUNT] [PREFIX]
import { connect } from './h2client.mjs';

const [kubeconfig, countArg = '5000', prefix = 'static-'] = process.argv.slice(2);
const COUNT = Number(countArg);
const api = connect(kubeconfig);

const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const resources = { cpu: '32', memory: '128Gi', pods: '110' };
const t0 = performance.now();
let next = 0;
const worker = async () => {
  while (next < COUNT) {
    const i = ++next;
    const name = `${prefix}${i}`;
    const r = await api.request('POST', '/api/v1/nodes', {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' } },
      status: {
        capacity: resources, allocatable: resources,
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady',
          lastHeartbeatTime: now, lastTransitionTime: now }],
      },
    });
    if (r.status !== 201) throw new Error(`create node: ${r.status} ${r.body}`);
  }
};
await Promise.all(Array.from({ length: 64 }, worker));
console.log(`${COUNT} nodes without a kubelet created in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
api.session.close();
