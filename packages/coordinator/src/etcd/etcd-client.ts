import { readFileSync } from 'node:fs';
import { connectivityState, type Client } from '@grpc/grpc-js';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { Etcd3, GRPCUnavailableError, isRecoverableError, type IOptions } from 'etcd3';
import type { EtcdStoreConfig } from './etcd-config.js';

/** The request never left this process: no connection to that member. Safe to send elsewhere. */
function notSent(err: Error): boolean {
  return err instanceof GRPCUnavailableError && /No connection established|ECONNREFUSED/.test(err.message);
}

/**
 * An etcd client for the coordinator. Every unary request has a deadline. A request is retried
 * (on another member) only when it never reached a member: a retried transaction whose first
 * attempt was applied would come back as a failed compare, so after any other failure the
 * caller decides (it re-reads before trying again). A member that keeps failing is skipped for
 * a second, and watches reconnect within two seconds.
 *
 * The connection's keepalive ping may go unanswered for a lease TTL before the connection is
 * dropped. A shorter timeout (it was 2 s) dropped healthy connections whenever this process
 * waited for a CPU just after sending a ping: the answer was in the socket, but the timeout's
 * timer runs before the poll phase that would read it, and every call on the connection failed.
 * A stall as long as the TTL costs the lease anyway; a dead member is still found by the
 * requests' deadlines.
 */
export function createEtcdClient(config: Pick<EtcdStoreConfig, 'endpoints' | 'tls' | 'requestTimeout'> & Partial<Pick<EtcdStoreConfig, 'leaseTtl'>>): Etcd3 {
  const options: IOptions = {
    hosts: config.endpoints.map((e) => e.replace(/\/$/, '')),
    dialTimeout: config.requestTimeout,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + config.requestTimeout }),
    faultHandling: {
      global: retry(handleWhen(notSent), { maxAttempts: Math.max(1, config.endpoints.length - 1) }),
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
    },
    grpcOptions: {
      'grpc.keepalive_time_ms': 5000,
      'grpc.keepalive_timeout_ms': Math.max(2000, config.leaseTtl ?? 0),
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    },
  };
  if (config.tls) {
    options.credentials = {
      rootCertificate: readFileSync(config.tls.ca),
      ...(config.tls.cert && config.tls.key ? { certChain: readFileSync(config.tls.cert), privateKey: readFileSync(config.tls.key) } : {}),
    };
  }
  const client = new Etcd3(options);
  keepReadyChannels(client);
  return client;
}

interface PoolHost {
  resetAllServices(): void;
  close(): void;
  readonly cachedServices: Record<string, Client | undefined>;
}

/**
 * etcd3 closes every channel to a member (its watches and lease streams with them) after any
 * call to it fails with a "recoverable" error, DEADLINE_EXCEEDED included. A deadline missed
 * because this process waited for a CPU, or because the member answered one request slowly,
 * says nothing about the connection; and the channels made again had to connect again from a
 * busy event loop, while every later call waited for them ("Waiting for LB pick") and missed
 * its own deadline, which closed the new channels in turn: after a deposition under load the
 * calls waited up to 15 s for a connection to an etcd that answered. So channels that are all
 * READY are kept; a dead connection is found by the keepalive pings (which take its channel out
 * of READY, and the next failure then closes it as before), and a member that keeps failing is
 * skipped by its circuit breaker.
 */
function keepReadyChannels(client: Etcd3): void {
  const pool = (client as unknown as { pool?: { hosts?: PoolHost[] } }).pool;
  for (const host of pool?.hosts ?? []) {
    const reset = host.resetAllServices.bind(host);
    const close = host.close.bind(host);
    // Closing the client closes every channel, READY or not.
    let closing = false;
    host.close = () => {
      closing = true;
      close();
    };
    host.resetAllServices = () => {
      const services = Object.values(host.cachedServices).filter((c): c is Client => c !== undefined);
      if (!closing && services.length > 0 && services.every((c) => c.getChannel().getConnectivityState(false) === connectivityState.READY)) return;
      reset();
    };
  }
}
