// What every bench script needs to talk to a kubelua API server: the server and bearer token
// of a kubeconfig, HTTP/2 sessions to it, and a JSON request helper.
//
//   const api = connect(kubeconfig);
//   const { status, body } = await api.request('POST', '/api/v1/nodes', node);
//   api.session / api.open() (another session, e.g. for a watch) / api.token
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';

export function connect(kubeconfig) {
  const kc = readFileSync(kubeconfig, 'utf8');
  const server = /server:\s*(\S+)/.exec(kc)[1];
  const token = /token:\s*(\S+)/.exec(kc)[1];
  const open = () => http2.connect(server, { rejectUnauthorized: false });
  const session = open();
  // One request on session; resolves with the status and the whole body as text.
  function request(method, p, body) {
    return new Promise((resolve, reject) => {
      const req = session.request({
        ':method': method, ':path': p, authorization: `Bearer ${token}`,
        'content-type': 'application/json',
      });
      let data = '';
      req.setEncoding('utf8');
      req.on('response', (h) => { req.status = h[':status']; });
      req.on('data', (c) => { data += c; });
      req.on('end', () => resolve({ status: req.status, body: data }));
      req.on('error', reject);
      if (body) req.end(JSON.stringify(body)); else req.end();
    });
  }
  return { server, token, session, open, request };
}
