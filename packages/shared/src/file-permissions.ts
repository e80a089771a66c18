// Files holding secrets (private keys, token files) must be private to their owner (and at most
// readable by their group, as Debian's ssl-cert group does). A key others can read has leaked.
import { statSync } from 'node:fs';

/** What is wrong with the permissions of a secret file; undefined when private (or missing: reported elsewhere). */
export function loosePermissions(path: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  const octal = `0${mode.toString(8).padStart(3, '0')}`;
  if (mode & 0o007) return `${path} is accessible to every user (mode ${octal}); chmod 600 it`;
  if (mode & 0o020) return `${path} is writable by its group (mode ${octal}); chmod 600 it`;
  return undefined;
}
