// Whether a proxy can end its kept-alive client connections without a race, and how
// (docs/design/handover.md, "Ending"). The old holder of a planned move uses it to end the
// connections the new holder forwards to it, instead of waiting for clients that never let go.
//
// - haproxy 2.6 soft-stops its old process on a reload: each connection's next response says
//   `Connection: close` (HTTP/2: GOAWAY), and with `option idle-close-on-response` an idle one is
//   not closed early either, so no request meets a closed connection. Without the option an idle
//   connection is closed at once, under a client that may be sending its next request.
// - nginx 1.22 has no such mode: a reload closes idle kept-alive connections at once, with the
//   same race, and its `keepalive_time` is the only way it ends a busy one without it.
//
// Pure: the proxy's kind and configuration text in, what to do out.
import type { ServiceKind } from '@lbha/shared';

export type GracefulClose = { readonly kind: 'reload' } | { readonly kind: 'unavailable'; readonly reason: string };

const SECTION = /^(global|defaults|frontend|listen|backend|resolvers|peers|userlist|mailers|program|http-errors|ring|cache)\b/;

/** The frontends and listen sections of a haproxy configuration without `option idle-close-on-response` in effect. */
export function haproxyFrontendsWithoutIdleClose(config: string): string[] {
  const missing: string[] = [];
  let inDefaults = false;
  let defaultsOn = false;
  let current: { name: string; on: boolean } | undefined;
  const close = () => {
    if (current && !current.on) missing.push(current.name);
    current = undefined;
  };
  for (const raw of config.split('\n')) {
    const line = raw.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const section = SECTION.exec(line);
    if (section && !/^\s/.test(raw)) {
      close();
      inDefaults = section[1] === 'defaults';
      // A defaults section starts from scratch: options of an earlier one do not carry over.
      if (inDefaults) defaultsOn = false;
      if (section[1] === 'frontend' || section[1] === 'listen') current = { name: `${section[1]} ${line.split(/\s+/)[1] ?? ''}`.trim(), on: defaultsOn };
      continue;
    }
    const m = /^(no\s+)?option\s+idle-close-on-response$/.exec(line.replace(/\s+/g, ' '));
    if (!m) continue;
    if (inDefaults) defaultsOn = m[1] === undefined;
    else if (current) current.on = m[1] === undefined;
  }
  close();
  return missing;
}

export function gracefulClose(kind: ServiceKind, config: string): GracefulClose {
  if (kind === 'haproxy') {
    const missing = haproxyFrontendsWithoutIdleClose(config);
    if (missing.length === 0) return { kind: 'reload' };
    return { kind: 'unavailable', reason: `haproxy would close idle kept-alive connections under clients on a reload: no \`option idle-close-on-response\` in ${missing.join(', ')}` };
  }
  if (kind === 'nginx') {
    return { kind: 'unavailable', reason: 'nginx closes idle kept-alive connections at once on a reload, under clients that may be sending; they end at keepalive_time or with their clients' };
  }
  return { kind: 'unavailable', reason: `${kind} is not a proxy` };
}
