// The web console's files on the HTTP listener: served without credentials (they hold no data)
// with a policy that lets the page load and call only its own origin; the data behind them
// still needs credentials.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { http, startTlsCoordinator, TOKENS, type TlsCoordinator } from './support/tls-coordinator.js';

describe('web console files at /ui/', () => {
  let c: TlsCoordinator;
  before(async () => {
    c = await startTlsCoordinator();
  });
  after(async () => {
    await c.stop();
  });

  it('serves the page, its script and its styles, each with its type and the content policy', async () => {
    for (const [path, type, marker] of [
      ['/ui/', 'text/html; charset=utf-8', '<script src="app.js"></script>'],
      ['/ui/app.js', 'text/javascript; charset=utf-8', "fetch('/v1/events/stream"],
      ['/ui/style.css', 'text/css; charset=utf-8', 'table'],
    ] as const) {
      const r = await http(c, 'GET', path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
      assert.match(String(r.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.ok(r.text.includes(marker), `${path} is the console's file`);
    }
    const redirect = await http(c, 'GET', '/ui');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers['location'], '/ui/');
  });

  it('serves nothing else under /ui/, and the data still needs credentials', async () => {
    for (const path of ['/ui/secret.txt', '/ui/%2e%2e/package.json', '/ui/..%2fpackage.json']) assert.equal((await http(c, 'GET', path)).status, 404, path);
    // A path that climbs out of /ui/ is the API's, and needs credentials like any other.
    assert.equal((await http(c, 'GET', '/ui/../v1/vips')).status, 401);
    assert.equal((await http(c, 'GET', '/v1/vips')).status, 401);
    assert.equal((await http(c, 'GET', '/v1/vips', { token: TOKENS.viewer })).status, 200);
  });
});
