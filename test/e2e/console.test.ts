// The web console in headless Chromium against seed 1 under lbha: it loads, shows both VIPs with
// their holders, follows a failover live (no reload), and a read-only identity's drain is
// refused with the API's reason. Each step's screenshot is saved (its path is in the test log)
// and checked to be a drawn page, and the text drawn at that moment is checked for content.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Lab } from '../lab/index.js';
import { Browser, chromiumPath } from '../lab/browser.js';
import { agentsOf, skipReason, useAgentLab, waitForNodeHealth } from './e2e-support.js';

const chromium = chromiumPath();
const skip = skipReason ?? (chromium === undefined ? 'skipped: chromium is not installed (scripts/install-deps.sh)' : undefined);

/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(png: Buffer): [number, number] {
  assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG', 'a PNG');
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
}

describe('web console at /ui/', { skip, timeout: 10 * 60_000 }, () => {
  let lab: Lab;
  useAgentLab('a', (l) => (lab = l));

  it('shows the VIPs and their holders, follows a failover live, refuses a read-only drain', { timeout: 180_000 }, async (t) => {
    const agents = agentsOf(lab);
    const dir = join(tmpdir(), `lbha-console-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const browser = await Browser.launch(chromium as string);
    const shot = async (name: string, mustShow: RegExp[]) => {
      const text = await browser.evaluate<string>('document.body.innerText');
      const png = await browser.screenshot();
      const file = join(dir, `${name}.png`);
      writeFileSync(file, png);
      const [w, h] = pngSize(png);
      assert.ok(w >= 800 && h >= 600, `${name}: a full page was drawn (${w}x${h})`);
      for (const re of mustShow) assert.match(text, re, `${name}: the page shows ${re}`);
      t.diagnostic(`${name}: ${file} (${w}x${h}, ${png.length} bytes)`);
    };
    try {
      const base = `https://localhost:${agents.httpPort}/ui/`;
      // A read-only identity: the token travels in the fragment, which the browser never sends.
      await browser.navigate(`${base}#token=${agents.tokens.readOnly}`);
      const vipRow = (vip: string) => `(() => { const r = document.querySelector('#vips tr[data-vip="${vip}"]'); return r ? r.querySelector('.desired').textContent + '|' + r.querySelector('.actual').textContent : ''; })()`;
      assert.equal(await browser.waitFor('vip1 on lb1 in the console', `${vipRow('vip1')} === 'lb1|lb1' && ${vipRow('vip1')}`), 'lb1|lb1');
      assert.equal(await browser.waitFor('vip2 on lb2 in the console', `${vipRow('vip2')} === 'lb2|lb2' && ${vipRow('vip2')}`), 'lb2|lb2');
      await browser.waitFor('the event stream', `document.getElementById('stream').textContent === '(live)'`);
      await shot('1-loaded', [/lab-viewer \(read-only\)/, /vip1\s+\S+\s+lb1\s+lb1\s+ok/, /vip2\s+\S+\s+lb2\s+lb2\s+ok/, /\(live\)/]);

      // A failover in the lab: lb1's nginx dies and cannot restart; the page follows without a reload.
      await browser.evaluate('window.__notReloaded = true');
      await lab.killProxy('lb1', { breakConfig: true });
      await lab.waitForHolder('vip1', 'lb2', { timeoutMs: 30_000 });
      assert.equal(await browser.waitFor('vip1 on lb2 in the console', `${vipRow('vip1')} === 'lb2|lb2' && ${vipRow('vip1')}`), 'lb2|lb2');
      assert.equal(await browser.evaluate('window.__notReloaded === true'), true, 'the page was not reloaded');
      await browser.waitFor('the failover in the event list', `/vip\\.moved|placement\\.changed/.test(document.getElementById('events').innerText)`);
      await shot('2-failover', [/vip1\s+\S+\s+lb2\s+lb2\s+ok/, /lb1\s+connected\s+unhealthy/]);
      lab.restoreProxyConfig('lb1');
      await waitForNodeHealth(lab, 'lb1', true, 60_000);
      await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 30_000 });

      // The read-only identity presses Drain on lb2: the API refuses, the page says why, nothing changes.
      await browser.evaluate(`document.querySelector('#nodes tr[data-node="lb2"] button.drain').click()`);
      const message = await browser.waitFor<string>('the refusal', `document.getElementById('message').className === 'error' && document.getElementById('message').textContent`);
      assert.match(message, /drain of lb2 refused: PERMISSION_DENIED: Drain needs the operator role; token:lab-viewer has read-only/);
      await shot('3-drain-refused', [/drain of lb2 refused: PERMISSION_DENIED/]);
      const lb2 = (await agents.api.listNodes()).find((n) => n.name === 'lb2');
      assert.equal(lb2?.mode, 1, 'lb2 is still active');
    } finally {
      if (browser.log.length > 0) t.diagnostic(browser.log.join('\n'));
      await browser.close();
    }
  });
});
