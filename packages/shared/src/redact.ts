// Secrets kept out of what lbha shows: the credentials of a URL (http checks may carry them).

/** The URL with its user and password replaced, for messages and listings; other text as is. */
export function urlForDisplay(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = u.username ? 'USER' : '';
    u.password = u.password ? 'PASSWORD' : '';
    return u.toString();
  } catch {
    return url;
  }
}
