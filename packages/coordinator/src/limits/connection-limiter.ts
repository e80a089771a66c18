// Open connections per API: all clients together and per client address. A connection beyond
// either limit is closed at once, before TLS, so refusing one costs next to nothing.
import type { Socket } from 'node:net';

export interface ConnectionStats {
  readonly open: number;
  /** Connections closed at once, by reason. */
  readonly refused: { readonly total: number; readonly perAddress: number };
}

export class ConnectionLimiter {
  private open = 0;
  private readonly perAddress = new Map<string, number>();
  private refusedTotal = 0;
  private refusedPerAddress = 0;

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerAddress: number,
  ) {}

  /** Counts a new connection until it closes; false (and the socket destroyed) when over a limit. */
  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? 'local';
    const mine = this.perAddress.get(address) ?? 0;
    if (this.open >= this.maxTotal) {
      this.refusedTotal++;
      socket.destroy();
      return false;
    }
    if (mine >= this.maxPerAddress) {
      this.refusedPerAddress++;
      socket.destroy();
      return false;
    }
    this.open++;
    this.perAddress.set(address, mine + 1);
    socket.once('close', () => {
      this.open--;
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, n);
    });
    return true;
  }

  stats(): ConnectionStats {
    return { open: this.open, refused: { total: this.refusedTotal, perAddress: this.refusedPerAddress } };
  }
}
