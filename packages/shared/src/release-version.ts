import { readFileSync } from 'node:fs';

/**
 * The version in a package.json (the release packer writes the release version into every
 * package's package.json), or 0.0.0 when it cannot be read.
 */
export function readPackageVersion(packageJson: URL): string {
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** What `--version` prints: the program, its release, and the Node.js runtime it runs on. */
export function versionText(program: string, version: string): string {
  return `${program} ${version} (Node.js ${process.versions.node})\n`;
}
