// Where the built lbha binaries are, relative to this file (test/dist/lab/ after the build).
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

export const REPO_ROOT = root.replace(/\/$/, '');
// The agent as it ships: the bundle (scripts/bundle-agent.mjs), not the modules it is built from.
export const AGENT_BIN = `${REPO_ROOT}/packages/agent/dist/bundle/lbha-agent.js`;
export const COORDINATOR_BIN = `${REPO_ROOT}/packages/coordinator/dist/src/bin/lbha-coordinator.js`;
export const CLI_BIN = `${REPO_ROOT}/packages/cli/dist/src/bin/lbha.js`;
export const DEV_CA_BIN = `${REPO_ROOT}/packages/coordinator/dist/src/bin/lbha-dev-ca.js`;
export const PROBE_BIN = `${REPO_ROOT}/packages/coordinator/dist/src/bin/lbha-probe.js`;
