import { readPackageVersion } from '@lbha/shared';

/** The agent's release version, from its package.json (sent in Hello, printed by --version). */
export const AGENT_VERSION: string = readPackageVersion(new URL('../../package.json', import.meta.url));
