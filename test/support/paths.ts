import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from test/dist/support/. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = {
  // The agent as it ships: one bundled file (scripts/bundle-agent.mjs).
  agent: join(ROOT, 'packages/agent/dist/bundle/lbha-agent.js'),
  coordinator: join(ROOT, 'packages/coordinator/dist/src/bin/lbha-coordinator.js'),
  cli: join(ROOT, 'packages/cli/dist/src/bin/lbha.js'),
};
