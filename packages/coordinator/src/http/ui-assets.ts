// The web console's files (packages/coordinator/ui: plain HTML, JavaScript and CSS, no build
// step, no external assets), read once and served under /ui/. They hold no data: every figure
// the console shows comes from the /v1 API with the caller's credentials (docs/design/console.md).
import { readFileSync } from 'node:fs';

export interface UiAsset {
  readonly type: string;
  readonly body: Buffer;
}

const TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** Only what the page itself may load or call: its own files and this API. */
export const UI_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

let assets: ReadonlyMap<string, UiAsset> | undefined;

/** The asset at `/ui/<name>` ('' is index.html), or undefined. */
export function uiAsset(name: string): UiAsset | undefined {
  if (!assets) {
    const dir = new URL('../../../ui/', import.meta.url);
    assets = new Map(Object.entries(TYPES).map(([file, type]) => [file, { type, body: readFileSync(new URL(file, dir)) }]));
  }
  return assets.get(name === '' ? 'index.html' : name);
}
