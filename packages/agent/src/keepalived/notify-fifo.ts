// keepalived's notify FIFO: ordered state events, one line each, e.g.
//   INSTANCE "vip-28" MASTER 150
// The agent opens the FIFO read-write, so it never sees end-of-file when keepalived closes its
// end on a reload, and opening never blocks waiting for a writer. While the agent is away,
// keepalived keeps the FIFO open and events wait in the pipe for the agent's return.
import { constants, lstatSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { createInterface, type Interface } from 'node:readline';
import type { Logger, VrrpState } from '@lbha/shared';
import { StateError } from '../errors.js';
import { describeOutcome, type CommandRunner } from '../util/run-command.js';

/**
 * One line of the FIFO. `state`: an instance or group entered a state. `lower-priority-advert`:
 * an instance that is MASTER heard a lower-priority advert for its VRID (keepalived's
 * MASTER_RX_LOWER_PRI): another node claimed the VIP and gave way, and keepalived announced the
 * VIP again (vrrp_garp_lower_prio_repeat).
 */
export type NotifyEvent =
  | {
      readonly kind: 'state';
      readonly scope: 'instance' | 'group';
      readonly name: string;
      readonly state: VrrpState;
      /** Effective priority keepalived reports with the event. */
      readonly priority: number;
    }
  | { readonly kind: 'lower-priority-advert'; readonly name: string; readonly priority: number };

const LINE = /^(INSTANCE|GROUP) "([^"]*)" ([A-Z_]+) (-?\d+)\s*$/;
const STATES: Record<string, VrrpState> = { MASTER: 'master', BACKUP: 'backup', FAULT: 'fault', STOP: 'stop', DELETED: 'deleted', INIT: 'init' };

/** Parses one FIFO line; undefined for lines the agent does not use (e.g. priority changes). */
export function parseNotifyLine(line: string): NotifyEvent | undefined {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  const word = m[3] as string;
  const name = m[2] as string;
  const priority = Number(m[4]);
  if (word === 'MASTER_RX_LOWER_PRI') return m[1] === 'INSTANCE' ? { kind: 'lower-priority-advert', name, priority } : undefined;
  const state = STATES[word];
  if (!state) return undefined;
  return { kind: 'state', scope: m[1] === 'GROUP' ? 'group' : 'instance', name, state, priority };
}

/** Creates the FIFO if missing; refuses a path that exists as something else. */
export async function ensureFifo(path: string, run: CommandRunner): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    const r = await run('mkfifo', ['-m', '0600', path]);
    if (r.exitCode !== 0) throw new StateError(path, `cannot create notify FIFO: ${describeOutcome(r)}`);
    return;
  }
  if (!st.isFIFO()) throw new StateError(path, 'exists and is not a FIFO; remove it or choose another keepalived.notifyFifo');
}

export class NotifyFifoReader {
  private socket: Socket | undefined;
  private lines: Interface | undefined;

  constructor(
    private readonly path: string,
    private readonly onEvent: (e: NotifyEvent) => void,
    private readonly logger: Logger,
  ) {}

  async start(run: CommandRunner): Promise<void> {
    await ensureFifo(this.path, run);
    // A plain descriptor (not a FileHandle, which would be closed when garbage collected).
    const fd = openSync(this.path, constants.O_RDWR | constants.O_NONBLOCK);
    const socket = new Socket({ fd, readable: true, writable: false });
    this.socket = socket;
    socket.on('error', (err) => this.logger.error({ event: 'vrrp.fifo_error', err: err.message }, 'notify FIFO read failed'));
    socket.unref();
    this.lines = createInterface({ input: socket });
    this.lines.on('line', (line) => {
      const e = parseNotifyLine(line);
      if (e) this.onEvent(e);
      else if (line.trim()) this.logger.debug({ event: 'vrrp.fifo_line', line }, 'notify FIFO line ignored');
    });
  }

  stop(): void {
    this.lines?.close();
    this.socket?.destroy();
    this.socket = undefined;
  }
}
