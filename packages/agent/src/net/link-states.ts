// Up or down, for every interface an instance uses or tracks (keepalived's track_interface
// puts the instance in FAULT when one is down). Read from sysfs when the desired state names an
// interface and on each netlink link event for it.
import type { DesiredState, Logger } from '@lbha/shared';
import { linkProblem, readLinkState } from './interface-state.js';

export interface LinkStatesOptions {
  readonly sysfsNetRoot: string;
  readonly logger: Logger;
  /** A link went up or down. */
  readonly onChange: (ifname: string, up: boolean) => void;
}

export class LinkStates {
  private readonly links = new Map<string, boolean>();

  constructor(private readonly opts: LinkStatesOptions) {}

  get all(): ReadonlyMap<string, boolean> {
    return this.links;
  }

  /** Follows the interfaces of `d`'s instances: new ones are read, others forgotten. */
  follow(d: DesiredState): void {
    const wanted = new Set(d.instances.flatMap((i) => [i.interface, ...i.trackInterfaces]));
    for (const name of this.links.keys()) if (!wanted.has(name)) this.links.delete(name);
    for (const name of wanted) {
      if (!this.links.has(name)) {
        this.links.set(name, true);
        void this.read(name);
      }
    }
  }

  /** A netlink link event: re-read the interface if it is followed. */
  onLinkEvent(ifname: string): void {
    if (this.links.has(ifname)) void this.read(ifname);
  }

  private async read(ifname: string): Promise<void> {
    const up = linkProblem(ifname, await readLinkState(ifname, this.opts.sysfsNetRoot)) === undefined;
    if (!this.links.has(ifname) || this.links.get(ifname) === up) return;
    this.links.set(ifname, up);
    this.opts.logger.info({ event: up ? 'link.up' : 'link.down', interface: ifname }, `${ifname} is ${up ? 'up' : 'down'}`);
    this.opts.onChange(ifname, up);
  }
}
