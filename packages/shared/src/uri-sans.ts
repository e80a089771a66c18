// The URI subject alternative names of a certificate, where lbha identities live
// (spiffe://lbha/<role>/<name>).

/**
 * The URI SANs of a certificate. Node lists entries as `TYPE:value` joined by ", ", and writes a
 * value holding a separator as a JSON string, so quoted values are decoded rather than split.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  const s = subjectAltName ?? '';
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const type = s.slice(i, colon);
    let value: string;
    let next: number;
    if (s[colon + 1] === '"') {
      // A JSON string: find its closing quote (skipping escapes).
      let j = colon + 2;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(s.slice(colon + 1, j + 1)) as string;
      } catch {
        return out;
      }
      next = j + 1;
    } else {
      const end = s.indexOf(', ', colon);
      next = end < 0 ? s.length : end;
      value = s.slice(colon + 1, next);
    }
    if (type === 'URI') out.push(value);
    i = s.startsWith(', ', next) ? next + 2 : next;
  }
  return out;
}
