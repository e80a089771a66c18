// A service name from the wire is only ever looked up in the agent's own list; anything that
// looks like an attempt to reach a shell or the filesystem is refused with a clear message
// before that lookup, so the refusal says what was wrong.
const SHELL_OR_PATH = /[\s;&|`$<>(){}[\]*?!~#'"\\/%^=,:@+]|\.\./;

export function serviceNameProblem(name: string, configured: readonly string[]): string | undefined {
  if (name === '') return 'no service named';
  if (SHELL_OR_PATH.test(name) || /[^\x20-\x7e]/.test(name)) {
    return `refused: service name ${JSON.stringify(name)} contains shell metacharacters or path characters; only names of configured services are accepted (${configured.join(', ')})`;
  }
  if (!configured.includes(name)) return `unknown service ${JSON.stringify(name)}; configured on this agent: ${configured.join(', ')}`;
  return undefined;
}
