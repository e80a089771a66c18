// What lbha-agent's bundle leaves out of the code it takes in (scripts/bundle-agent.mjs,
// docs/design/agent-bundle.md "What is left out"): esbuild plugins, also used by the test that
// bundles a small program with them (packages/agent/test/agent-bundle.test.ts).
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';

// Each left-out export, if anything ever reads it, throws an error that names it instead of
// failing somewhere later. The banner defines the function every bundle's left-out part calls.
export const LEFT_OUT_BANNER = "const lbhaLeftOut = (what) => { throw new Error(`${what} is left out of lbha-agent's bundle (scripts/bundle-agent.mjs)`); };";

// The protobuf codecs that ts-proto generates have, beside encode and decode, fromJSON, toJSON,
// create and fromPartial: the coordinator's HTTP API and the CLI use the JSON ones, the agent
// only speaks the binary form on its stream. In the agent's bundle each of those four becomes a
// property that throws; the enums' JSON helpers, then unused, are left out by esbuild.
// The cut keeps every other line where it was, so the source maps of tsc's output still hold.
const CODEC_JSON_METHODS = new Set(['fromJSON', 'toJSON', 'create', 'fromPartial']);
function binaryCodecsOnly(ts) {
  return {
    name: 'binary-codecs-only',
    setup(b) {
      b.onLoad({ filter: /[\\/]packages[\\/]shared[\\/]dist[\\/]generated[\\/].*\.js$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        const file = ts.createSourceFile(args.path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
        const cuts = [];
        const visit = (node) => {
          if (ts.isVariableDeclaration(node) && node.initializer && ts.isObjectLiteralExpression(node.initializer)) {
            const props = node.initializer.properties;
            const named = (n) => props.some((p) => p.name && ts.isIdentifier(p.name) && p.name.text === n);
            if (named('encode') && named('decode')) {
              for (const p of props) {
                if (!p.name || !ts.isIdentifier(p.name) || !CODEC_JSON_METHODS.has(p.name.text)) continue;
                cuts.push({ start: p.getStart(file), end: p.end, text: `${p.name.text}: () => lbhaLeftOut(${JSON.stringify(`${node.name.getText(file)}.${p.name.text}`)})` });
              }
            }
          }
          ts.forEachChild(node, visit);
        };
        visit(file);
        let out = '';
        let at = 0;
        for (const c of cuts) {
          // Lines stay where they were: the replacement takes the method's first line, which
          // holds nothing else, and its other lines are left empty.
          const cut = text.slice(c.start, c.end);
          const rest = cut.indexOf('\n') === -1 ? '' : cut.slice(cut.indexOf('\n')).replace(/[^\n]/g, '');
          out += text.slice(at, c.start) + c.text + rest;
          at = c.end;
        }
        return { contents: out + text.slice(at), loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

// grpc-js's index loads all of it: the server, its interceptors and credentials, ORCA (load
// reports a server sends) and three load-balancing policies the agent's channels never name
// (they pick the first address, grpc-js's default). The agent is a client only. Each of those
// modules becomes one whose every export throws when read, but for `setup`, which registers a
// policy with grpc-js and does nothing here. If a new version of grpc-js requires one of them
// from the client's side, the tests that start the bundled agent against a coordinator fail.
const GRPC_LEFT_OUT = ['server', 'server-call', 'server-interceptors', 'server-credentials', 'orca', 'load-balancer-round-robin', 'load-balancer-outlier-detection', 'load-balancer-weighted-round-robin'];
const grpcClientOnly = {
  name: 'grpc-client-only',
  setup(b) {
    const re = new RegExp(`[\\\\/]@grpc[\\\\/]grpc-js[\\\\/]build[\\\\/]src[\\\\/](${GRPC_LEFT_OUT.join('|')})\\.js$`);
    b.onLoad({ filter: re }, (args) => {
      const module = `@grpc/grpc-js's ${re.exec(args.path)[1]}`;
      return {
        loader: 'js',
        contents: `module.exports = new Proxy({ setup() {} }, { get(t, k) { return k in t || typeof k !== 'string' || k === '__esModule' ? t[k] : lbhaLeftOut(${JSON.stringify(module)} + '.' + k); } });`,
      };
    });
  },
};

// Node's modules that libraries take at load and use only on a path the agent does not run:
// each becomes a require() at the first use. grpc-js's compression filter uses zlib only for a
// compressed message, which neither side of the agent's stream asks for. (assert, which
// sonic-boom and thread-stream take the same way, is not here: node's http2 loads it anyway;
// worker_threads neither: pino reads its isMainThread when it builds the logger's destination.)
// A file whose text no longer has the line, or uses the module otherwise than as named here,
// fails the build, so a new version of the library is looked at again.
const LAZY_BUILTINS = [
  { file: /[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/]compression-filter\.js$/, eager: 'const zlib = require("zlib");', lazy: 'const zlib = new Proxy({}, { get: (_, k) => require("zlib")[k] });', uses: /\bzlib\b(?!\.(deflate|inflate|gzip|unzip|createInflate|createGunzip)\b)/g },
];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    for (const { file, eager, lazy, uses } of LAZY_BUILTINS) {
      b.onLoad({ filter: file }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        const [before, ...after] = text.split(eager);
        const otherUses = after.join(eager).match(uses)?.length ?? 0;
        if (after.length !== 1 || otherUses > 0) throw new Error(`bundle-agent: ${args.path}: expected one \`${eager}\` and calls only (${after.length} found, ${otherUses} other uses)`);
        return { contents: before + lazy + after[0], loader: 'js', resolveDir: dirname(args.path) };
      });
    }
  },
};

/** The plugins, in the order they apply; TypeScript's parser (a devDependency, as `tsc -b` is) reads the codecs. */
export async function leftOutPlugins() {
  const { default: ts } = await import('typescript');
  return [binaryCodecsOnly(ts), grpcClientOnly, lazyBuiltins];
}
