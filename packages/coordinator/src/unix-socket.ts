import { lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';

/** The file path of a gRPC `unix:` address (`unix:///abs/path` or `unix:relative`). */
export function unixSocketPath(address: string): string | undefined {
  if (!address.startsWith('unix:')) return undefined;
  return address.startsWith('unix://') ? address.slice('unix://'.length) : address.slice('unix:'.length);
}

/**
 * Removes a socket file left behind by a coordinator that died without closing it (SIGKILL,
 * power loss), so a restart can bind again. A socket someone still listens on is left alone:
 * the bind then fails with a clear error rather than stealing the address.
 */
export async function removeStaleUnixSocket(address: string): Promise<boolean> {
  const path = unixSocketPath(address);
  if (!path) return false;
  try {
    if (!lstatSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) return false;
  unlinkSync(path);
  return true;
}
