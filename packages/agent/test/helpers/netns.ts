// Scratch network namespaces for tests that need real interfaces (keepalived's config test,
// real VRRP). Names are `lbha-t-<pid>-<tag>-<random>` (test/lab/lab-names.ts, SCRATCH_PREFIX):
// remove() is idempotent and the caller runs it in `after`; if the test process dies first, the
// lab's cleanup (every startLab, `lab-cli cleanup`) removes them, since their pid is gone.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class ScratchNetns {
  readonly name: string;
  private peers = 0;

  constructor(tag: string) {
    this.name = `lbha-t-${process.pid}-${tag}-${randomBytes(3).toString('hex')}`;
    ip('netns', 'add', this.name);
    ip('-n', this.name, 'link', 'set', 'lo', 'up');
  }

  /** Adds a veth link called `ifname` inside the namespace (its peer gets a throwaway name). */
  addLink(ifname: string, up = false): void {
    ip('-n', this.name, 'link', 'add', ifname, 'type', 'veth', 'peer', 'name', `tp${++this.peers}`);
    if (up) {
      ip('-n', this.name, 'link', 'set', ifname, 'up');
      ip('-n', this.name, 'link', 'set', `tp${this.peers}`, 'up');
    }
  }

  /** argv prefix that runs a program inside the namespace. */
  exec(file: string, ...args: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name, file, ...args]];
  }

  remove(): void {
    try {
      ip('netns', 'del', this.name);
    } catch {
      // already gone
    }
  }
}
