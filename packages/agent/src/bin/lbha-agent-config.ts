// Parses and validates the agent's configuration file in a process of its own and writes the
// outcome as one JSON line on stdout: {"config": …} or {"source": …, "issues": […]}. lbha-agent
// runs it at start and on each SIGHUP (agent-config-reader.ts), so the YAML parser, zod and the
// schemas never enter the long-running agent's heap (docs/design/agent-bundle.md).
import { ConfigError } from '@lbha/shared';
import { loadAgentConfig } from '../agent-config.js';

const file = process.argv[2];
if (file === undefined) {
  process.stderr.write('usage: lbha-agent-config FILE\n');
  process.exit(1);
}
try {
  process.stdout.write(`${JSON.stringify({ config: loadAgentConfig(file) })}\n`);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stdout.write(`${JSON.stringify({ source: err.source, issues: err.issues })}\n`);
}
