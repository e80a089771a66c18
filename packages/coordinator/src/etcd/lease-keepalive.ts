import type { Etcd3 } from 'etcd3';

/** One LeaseKeepAlive round trip on a short-lived stream; resolves with the TTL etcd granted (0 or less: the lease is gone). */
export async function keepaliveOnce(client: Etcd3, id: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const stream = await client.leaseClient.leaseKeepAlive({ deadline });
  try {
    return await new Promise<number>((resolve, reject) => {
      stream.on('data', (res: { TTL: string }) => resolve(Number(res.TTL)));
      stream.on('error', reject);
      stream.on('end', () => reject(new Error('keepalive stream ended without an answer')));
      stream.write({ ID: id });
    });
  } finally {
    stream.end();
  }
}
