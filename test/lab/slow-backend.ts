// A web node's slow backend: answers every request on --port after --delay-ms with the web node's
// page, so that the LB proxy is busy waiting, not hung (the hung-proxy detection's control run).
// Run inside a web node's namespace (`ip netns exec NS node slow-backend.js ...`); stops on
// SIGTERM or after --max-ms.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    'delay-ms': { type: 'string', default: '2000' },
    page: { type: 'string', default: 'slow' },
    'max-ms': { type: 'string', default: '900000' },
  },
  strict: true,
});
const delayMs = Number(values['delay-ms']);
const server = createServer((req, res) => {
  req.resume();
  const t = setTimeout(() => res.end(`${values.page}\n`), delayMs);
  res.on('close', () => clearTimeout(t));
});
server.maxConnections = 20_000;
server.keepAliveTimeout = 65_000;
server.listen(Number(values.port), '0.0.0.0');
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
setTimeout(stop, Number(values['max-ms'])).unref();
