// A real coordinator (CoordinatorServer on 127.0.0.1:0, file store in a temp dir) with fake
// agents and a ControlService client, for integration tests over real gRPC.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { silentLogger, type LbhaEvent, type Logger } from '@lbha/shared';
import { ControlServiceClient } from '@lbha/shared/control';
import { eventually } from '@lbha/test-support';
import { DEFAULT_LIMITS } from '../../src/limits/limits-config.js';
import { CoordinatorServer, type CoordinatorServerOptions } from '../../src/server.js';

/** Tests of other things call fast from one address: limits none of them reaches (the limits have tests of their own). */
const GENEROUS_LIMITS = { ...DEFAULT_LIMITS, requestsPerSecond: 1_000_000, failedAuthPerMinute: 1_000_000, agentConnectsPerMinute: 1_000_000, agentMessagesPerSecond: 1_000_000 };
import { FakeAgent, FakeSegment, type FakeAgentOptions } from './fake-agent.js';

export const SEED1 = readFileSync(new URL('../../../test/fixtures/seed-nginx-active-active.yaml', import.meta.url), 'utf8');
export const LB1 = 'nginx-lb01';
export const LB2 = 'nginx-lb02';

/**
 * The coordinator configuration's drill section for tests: probes answered by support/fake-probe
 * (nothing answers on the fake agents' VIPs, and no test traffic may leave the machine).
 */
export function fakeProbeDrill(probeArgs: readonly string[] = [], holdMs = 300): Record<string, unknown> {
  const command = [process.execPath, fileURLToPath(new URL('./fake-probe.js', import.meta.url)), ...probeArgs];
  return { probe: { mode: 'http', port: 80, path: '/', host: '', interval: 20, timeout: 500, command }, hold: holdMs };
}

export interface HarnessOptions {
  readonly settleMs?: number;
  /** Configuration sections to set (e.g. history). */
  readonly config?: Record<string, unknown>;
  readonly server?: CoordinatorServerOptions;
  /** The coordinator's logger (default: silent). */
  readonly logger?: Logger;
}

type Unary = (req: unknown, cb: (err: ServiceError | null, res: unknown) => void) => unknown;

export class Harness {
  server!: CoordinatorServer;
  address = '';
  readonly segment = new FakeSegment();
  readonly agents = new Map<string, FakeAgent>();
  private client: ControlServiceClient | undefined;
  private port = 0;

  private constructor(
    readonly dir: string,
    private readonly settleMs: number,
    private readonly extra: HarnessOptions,
  ) {}

  static async start(opts: HarnessOptions = {}): Promise<Harness> {
    const h = new Harness(mkdtempSync(join(tmpdir(), 'lbha-coord-')), opts.settleMs ?? 300, opts);
    await h.startServer();
    return h;
  }

  /** A coordinator running the seed 1 spec with both agents connected and both VIPs in place. */
  static async seeded(opts: HarnessOptions = {}): Promise<Harness> {
    const h = await Harness.start(opts);
    await h.applySpec(SEED1);
    await h.agent(LB1);
    await h.agent(LB2);
    await eventually(() => h.server.plane?.vips().every((v) => v.status === 'ok'), 'the seed VIPs settled');
    return h;
  }

  private async startServer(): Promise<void> {
    this.server = new CoordinatorServer(
      {
        id: 'coord-test',
        grpc: { listen: [`127.0.0.1:${this.port}`], maxMessageBytes: 4 * 1024 * 1024 },
        tls: { insecure: true },
        auth: { tokens: [], anonymous: 'operator' },
        stateDir: join(this.dir, 'state'),
        heartbeat: { interval: 100, staleAfter: 1000 },
        log: { level: 'info' },
        limits: GENEROUS_LIMITS,
        ...this.extra.config,
      } as never,
      this.extra.logger ?? silentLogger(),
      { settleMs: this.settleMs, ...this.extra.server },
    );
    await this.server.start();
    this.address = this.server.addresses[0] as string;
    this.port = Number(this.address.split(':').pop());
    this.client = new ControlServiceClient(this.address, credentials.createInsecure());
  }

  /** Stops the coordinator (as SIGTERM would) and starts a new one on the same port and state. */
  async restartCoordinator(between?: () => Promise<void> | void): Promise<void> {
    this.client?.close();
    await this.server.stop(500);
    await between?.();
    await this.startServer();
  }

  call<Res>(method: string, req: unknown): Promise<Res> {
    const c = this.client as unknown as Record<string, Unary>;
    const fn = c[method];
    if (!fn) throw new Error(`no method ${method}`);
    return new Promise((resolve, reject) => fn.call(this.client, req, (err, res) => (err ? reject(err) : resolve(res as Res))));
  }

  async applySpec(yaml: string): Promise<void> {
    const r = await this.call<{ applied: boolean; errors: Array<{ message: string }> }>('applySpec', { yaml, dryRun: false, expectedVersion: 0, reason: 'test' });
    if (!r.applied) throw new Error(`spec refused: ${r.errors.map((e) => e.message).join('; ')}`);
  }

  async agent(node: string, opts: FakeAgentOptions = {}, cluster = 'web'): Promise<FakeAgent> {
    const a = new FakeAgent(this.address, node, cluster, this.segment, opts);
    this.agents.set(node, a);
    await a.connect();
    return a;
  }

  events(): LbhaEvent[] {
    return this.server.events.list(0, 100_000);
  }

  async stop(): Promise<void> {
    for (const a of this.agents.values()) a.disconnect();
    this.client?.close();
    await this.server.stop(500);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
export { crashing, withTxn } from './store-wrappers.js';
