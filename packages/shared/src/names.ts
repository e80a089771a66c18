// Names that end up in file paths, keepalived.conf or command arguments are checked here,
// so nothing from a config file or the wire can smuggle in path or shell characters.

const NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;
const IFACE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/;

/** Node, cluster, VIP and check names: lower-case letters, digits, '.', '_', '-'; at most 64. */
export function nameProblem(value: string): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'must not be empty';
  if (!NAME.test(value)) {
    return `${JSON.stringify(value)} is not a valid name (lower-case letters, digits, '.', '_' and '-', at most 64, starting and ending with a letter or digit)`;
  }
  if (value.includes('..')) return `${JSON.stringify(value)} must not contain ".."`;
  return undefined;
}

export function isValidName(value: string): boolean {
  return nameProblem(value) === undefined;
}

/** Linux interface names: at most 15 characters, no '/' or whitespace. */
export function interfaceProblem(value: string): string | undefined {
  if (!IFACE.test(value)) return `${JSON.stringify(value)} is not a valid interface name (at most 15 of A-Z a-z 0-9 . _ -)`;
  return undefined;
}
