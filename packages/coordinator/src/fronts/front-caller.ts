// An operator's call that a front passed on (fronts/passthrough.ts): the coordinator judges it
// by what its original caller presented to the front, the TLS client certificate the front's
// handshake verified and the caller's own metadata (a bearer token), and counts failures and
// request rates by the caller's address, not the front's.
import { decorate, type Caller, type ControlApi } from '../control-api.js';

/** The caller of a call that came over the fronts' unix socket, as if it had come straight here. */
export function frontCaller(caller: Caller): Caller {
  const f = caller.forwarded;
  return { ...caller, peerCertificate: f?.certificate, peer: f?.for || caller.peer, forwarded: undefined };
}

/** The operator API as the fronts reach it. */
export function acceptFromFronts(api: ControlApi): ControlApi {
  return decorate(api, {
    unary: (_method, inner) => (request, caller) => inner(request, frontCaller(caller)),
    streaming: (_method, inner) => (request, caller, sink) => inner(request, frontCaller(caller), sink),
  });
}
