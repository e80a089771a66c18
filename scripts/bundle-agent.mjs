// Bundles lbha-agent into one minified file, the one every wrapper, the systemd unit and the lab
// run: packages/agent/dist/bundle/lbha-agent.js, with its source map beside it
// (docs/design/agent-bundle.md says why and what it saves). Beside it, lbha-agent-config.js: the
// configuration parser the agent runs in a process of its own, so that the YAML parser and zod
// are not in the agent's bundle.
//
// Input is tsc's output (packages/*/dist), so this runs after `tsc -b`; the source maps of that
// output are followed, so the bundle's map points at the TypeScript sources.
import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LEFT_OUT_BANNER, leftOutPlugins } from './agent-bundle-cuts.mjs';

// esbuild is a devDependency: a tree installed before it was added needs `npm ci` again.
const { build } = await import('esbuild').catch((err) => {
  process.stderr.write(`bundle-agent: cannot load esbuild (${err.code ?? err.message}): run \`npm ci\` to install the devDependencies\n`);
  process.exit(1);
});
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// Node's own modules, as the ES modules of lbha's packages import them, are taken through
// require() instead of `import`. An `import` of a built-in module gets node's ES module facade,
// which reads every export of the module once to fill in its bindings, getters included:
// `import { createSecureContext } from 'node:tls'` builds tls.rootCertificates (the ~140 PEM
// root certificates of node's store, some 200 KB of strings the agent never uses: it trusts only
// its configured CA), `node:crypto` loads WebCrypto. Through require(), esbuild's interop reads a
// property when the code uses it.
const builtinsThroughRequire = {
  name: 'builtins-through-require',
  setup(b) {
    b.onResolve({ filter: /^node:(tls|crypto)$/ }, (args) => (args.kind === 'import-statement' ? { path: args.path, namespace: 'builtin-require' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'builtin-require' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};
const outdir = join(root, 'packages/agent/dist/bundle');
const outfile = join(outdir, 'lbha-agent.js');
// The bundle sits two levels under packages/agent like dist/src/version.js, so the version is
// read from the same package.json (`new URL('../../package.json', import.meta.url)`).
const result = await build({
  absWorkingDir: root,
  entryPoints: {
    'lbha-agent': 'packages/agent/dist/src/bin/lbha-agent.js',
    'lbha-agent-config': 'packages/agent/dist/src/bin/lbha-agent-config.js',
  },
  outdir,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  // Readable stack traces come from the map beside the bundle, not from the names
  // (docs/design/agent-bundle.md: how to read one). The map holds no source text.
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  // grpc-js loads @grpc/proto-loader (and protobufjs) only for the channelz and ORCA services,
  // which the agent never serves: left out of the bundle, resolved from node_modules if ever asked.
  external: ['@grpc/proto-loader'],
  // The bundled CommonJS libraries call require() for node's own modules.
  banner: { js: `import { createRequire as lbhaCreateRequire } from 'node:module'; const require = lbhaCreateRequire(import.meta.url); ${LEFT_OUT_BANNER}` },
  plugins: [builtinsThroughRequire, ...(await leftOutPlugins())],
  metafile: true,
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);

// Sizes by package, for docs/benchmarks.md: `node scripts/bundle-agent.mjs --sizes`.
if (process.argv.includes('--sizes')) {
  for (const [name, output] of Object.entries(result.metafile.outputs)) {
    if (name.endsWith('.map')) continue;
    process.stdout.write(`${name}\n`);
    const sizes = new Map();
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const key = m ? m[1] : input.split('/').slice(0, 2).join('/');
      sizes.set(key, (sizes.get(key) ?? 0) + bytesInOutput);
    }
    for (const [k, v] of [...sizes].sort((a, b) => b[1] - a[1])) process.stdout.write(`${(v / 1024).toFixed(1).padStart(8)} KB  ${k}\n`);
  }
}
