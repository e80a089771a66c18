import { HEALTHY, unhealthy, type CheckResult } from '@lbha/shared';
import type { ValidationResult } from '../services/service-driver.js';
import type { Probe } from './probe.js';

/** `nginx -t` / `haproxy -c` through the service's driver: a config that a reload would reject. */
export function configProbe(service: string, validate: () => Promise<ValidationResult>): Probe {
  return {
    async probe(): Promise<CheckResult> {
      const v = await validate();
      return v.ok ? HEALTHY : unhealthy(`${service} config does not validate: ${firstLines(v.output)}`);
    },
  };
}

function firstLines(text: string, n = 3): string {
  return text.split('\n').filter(Boolean).slice(0, n).join(' | ');
}
