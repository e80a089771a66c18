// The channel credentials of one connection attempt (stream-client.ts makes a channel per
// attempt and closes it when the attempt ends). Closed, they let the attempt's channel open no
// connection: grpc-js does not stop a subchannel that a closed channel leaves in
// TRANSIENT_FAILURE. pick_first has asked it to connect again when its backoff timer (100 ms)
// ends, and it does, though nobody will use the connection. When the coordinator refused the
// attempt because it was still starting, that second connection reached it a moment later:
// a full TLS handshake for a connection the agent then closes without a call. In a coordinator
// restart's reconnect storm that was one wasted handshake for every agent refused in the last
// tenth of a second before the coordinator listened.
import type { Socket } from 'node:net';
import { ChannelCredentials, type CallCredentials, type ChannelOptions, type experimental } from '@grpc/grpc-js';

export class AttemptCredentials extends ChannelCredentials {
  private closed = false;
  /** Connections of this attempt still in their TLS handshake (or the plaintext equivalent). */
  private readonly connecting = new Set<Socket>();

  constructor(private readonly inner: ChannelCredentials) {
    super();
  }

  /** True once close() ran: no connection starts any more. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends the attempt: a connection not yet open is abandoned, and no new one starts. */
  close(): void {
    this.closed = true;
    for (const socket of this.connecting) socket.destroy();
    this.connecting.clear();
  }

  _isSecure(): boolean {
    return this.inner._isSecure();
  }

  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(target: experimental.GrpcUri, options: ChannelOptions, callCredentials?: CallCredentials): experimental.SecureConnector {
    const inner = this.inner._createSecureConnector(target, options, callCredentials);
    const refused = () => new Error('connection attempt closed');
    return {
      // grpc-js waits for this before the TCP connect: a closed attempt sends no SYN.
      waitForReady: () => (this.closed ? Promise.reject(refused()) : inner.waitForReady()),
      connect: async (socket: Socket) => {
        if (this.closed) {
          socket.destroy();
          throw refused();
        }
        this.connecting.add(socket);
        try {
          const result = await inner.connect(socket);
          if (this.closed) {
            result.socket.destroy();
            throw refused();
          }
          return result;
        } finally {
          this.connecting.delete(socket);
        }
      },
      getCallCredentials: () => inner.getCallCredentials(),
      destroy: () => inner.destroy(),
    };
  }
}
