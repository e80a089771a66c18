// Serves the agent's registry on GET /metrics (node:http, nothing else on this port).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@lbha/shared';
import type { MetricRegistry } from './util/metric-registry.js';

export async function startMetricsServer(registry: MetricRegistry, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.render().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * Serves `registry` on `listen` and logs where; undefined when it cannot. The data plane does
 * not depend on its metrics: the agent keeps running without them.
 */
export async function serveMetrics(registry: MetricRegistry, listen: { readonly host: string; readonly port: number }, logger: Logger): Promise<Server | undefined> {
  const address = `${listen.host}:${listen.port}`;
  try {
    const { server, port } = await startMetricsServer(registry, listen.host, listen.port);
    logger.info({ event: 'metrics.listening', address: `${listen.host}:${port}` }, 'metrics endpoint listening');
    return server;
  } catch (err) {
    logger.error({ event: 'metrics.listen_failed', address, err: (err as Error).message }, `cannot serve metrics on ${address}`);
    return undefined;
  }
}
