import type { CheckSpec } from '@lbha/shared';
import type { SupervisedService } from '../services/supervised-service.js';
import { configProbe } from './config-probe.js';
import { httpProbe } from './http-probe.js';
import { interfaceProbe, type LinkEvents } from './interface-probe.js';
import { maintenanceFileProbe } from './maintenance-file-probe.js';
import type { Probe } from './probe.js';
import { processProbe } from './process-probe.js';
import { tcpProbe } from './tcp-probe.js';

export interface ProbeContext {
  /** Services by name (validated before: a check never names an unknown service). */
  service(name: string): SupervisedService | undefined;
  readonly linkEvents: LinkEvents | undefined;
  readonly sysfsNetRoot: string;
}

export function createProbe(spec: CheckSpec, ctx: ProbeContext): Probe {
  const p = spec.params;
  switch (p.kind) {
    case 'process': {
      const s = ctx.service(p.service);
      if (!s) throw new Error(`check ${spec.name}: no service ${p.service}`);
      return processProbe(s);
    }
    case 'config': {
      const s = ctx.service(p.service);
      if (!s) throw new Error(`check ${spec.name}: no service ${p.service}`);
      return configProbe(p.service, () => s.driver.validate());
    }
    case 'http':
      return httpProbe(p);
    case 'tcp':
      return tcpProbe(p.host || '127.0.0.1', p.port);
    case 'interface':
      return interfaceProbe(p.interface, ctx.linkEvents, ctx.sysfsNetRoot);
    case 'maintenance_file':
      return maintenanceFileProbe(p.path);
  }
}
