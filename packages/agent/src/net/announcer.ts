// Announces a VIP from this node, as keepalived does when it becomes MASTER: one gratuitous ARP
// (IPv4) or unsolicited neighbour advertisement with the override flag (IPv6), so that clients
// send to this node's MAC address. The agent uses it when keepalived will not: after a split
// brain ends with VRRP still blocked between the nodes, the node that let go was the last to
// announce and its clients keep sending to it (docs/design/vrrp-edges.md).
//
// Node has no packet sockets; perl-base (Essential in Debian, always installed) does, through its
// core Socket module. One perl process is kept running with its sockets open; starting it costs
// 10-40 ms, so it is started on first use and kept.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '@lbha/shared';

export interface AnnouncerOptions {
  readonly perlProgram: string;
  /** /sys/class/net, for the interface's MAC address and index. */
  readonly sysfsNetRoot: string;
  readonly logger: Logger;
}

export type AnnounceOutcome = { readonly ok: true } | { readonly ok: false; readonly error: string };

// Reads "4 IFINDEX IFNAME MAC ADDRESS" or "6 ..." lines and answers "ok" or "err WHAT" per line.
// IPv4: an ARP request for ADDRESS from ADDRESS at MAC, broadcast (a gratuitous ARP) through a
// send-only packet socket. IPv6: a neighbour advertisement for ADDRESS with the override flag
// and MAC as target link-layer address, to all nodes, hop limit 255 (the kernel adds the checksum).
const PERL = String.raw`
use strict; use warnings; use Socket qw(:all);
$| = 1; my ($p4, %s6);
while (my $line = <STDIN>) {
  chomp $line; my ($fam, $idx, $ifname, $mac, $ip) = split / /, $line;
  my $m = pack('H12', join('', split(/:/, $mac)));
  my $n;
  if ($fam eq '4') {
    if (!$p4) { socket($p4, 17, SOCK_RAW, 0) or do { print "err packet socket: $!\n"; next } }
    my $a = inet_aton($ip);
    my $frame = ("\xff" x 6) . $m . pack('n', 0x0806) . pack('nnCCn', 1, 0x0800, 6, 4, 1) . $m . $a . ("\xff" x 6) . $a;
    $n = send($p4, $frame, 0, pack('S n i S C C a8', 17, 0x0806, $idx, 1, 0, 6, $m));
  } else {
    my $s = $s6{$ifname};
    if (!$s) {
      socket($s, AF_INET6, SOCK_RAW, 58) or do { print "err icmpv6 socket: $!\n"; next };
      setsockopt($s, 41, 18, pack('i', 255));
      setsockopt($s, SOL_SOCKET, 25, pack('Z16', $ifname)) or do { print "err bind to $ifname: $!\n"; next };
      $s6{$ifname} = $s;
    }
    my $na = pack('CCnN', 136, 0, 0, 0x20000000) . inet_pton(AF_INET6, $ip) . pack('CC', 2, 1) . $m;
    $n = send($s, $na, 0, pack_sockaddr_in6(0, inet_pton(AF_INET6, 'ff02::1'), $idx));
  }
  print defined $n ? "ok\n" : "err send: $!\n";
}
`;

const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export class Announcer {
  private child: ChildProcessWithoutNullStreams | undefined;
  private readonly waiting: Array<(o: AnnounceOutcome) => void> = [];
  private closed = false;

  constructor(private readonly opts: AnnouncerOptions) {}

  /** Announces `address` (a VIP this node holds) on `ifname`; resolves once it was sent or failed. */
  async announce(ifname: string, address: string): Promise<AnnounceOutcome> {
    if (!IFNAME.test(ifname)) return { ok: false, error: `bad interface name ${JSON.stringify(ifname)}` };
    if (!isIPv4(address) && !isIPv6(address)) return { ok: false, error: `not an IP address: ${JSON.stringify(address)}` };
    let mac: string;
    let index: number;
    try {
      mac = (await readFile(join(this.opts.sysfsNetRoot, ifname, 'address'), 'utf8')).trim().toLowerCase();
      index = Number.parseInt(await readFile(join(this.opts.sysfsNetRoot, ifname, 'ifindex'), 'utf8'), 10);
    } catch (err) {
      return { ok: false, error: `cannot read ${ifname}'s address: ${(err as Error).message}` };
    }
    if (!MAC.test(mac) || !(index > 0)) return { ok: false, error: `${ifname} has no Ethernet address (${mac})` };
    const child = this.process();
    if (!child) return { ok: false, error: 'the announcer is closed' };
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      // An answer on its way keeps the process alive; an idle helper does not.
      handle(child.stdout).ref?.();
      child.stdin.write(`${isIPv6(address) ? 6 : 4} ${index} ${ifname} ${mac} ${address}\n`);
    });
  }

  close(): void {
    this.closed = true;
    this.child?.stdin.end();
    this.child = undefined;
    this.fail('the announcer is closed');
  }

  private fail(error: string): void {
    for (const w of this.waiting.splice(0)) w({ ok: false, error });
    if (this.child) handle(this.child.stdout).unref?.();
  }

  private process(): ChildProcessWithoutNullStreams | undefined {
    if (this.closed) return undefined;
    if (this.child && this.child.exitCode === null) return this.child;
    const child = spawn(this.opts.perlProgram, ['-e', PERL], { stdio: ['pipe', 'pipe', 'pipe'] });
    const gone = (why: string): void => {
      if (this.child !== child) return;
      this.child = undefined;
      this.fail(why);
    };
    child.on('error', (err) => {
      this.opts.logger.warn({ event: 'announce.helper_failed', err: err.message }, `cannot run ${this.opts.perlProgram} to announce VIPs: ${err.message}`);
      gone(`cannot run ${this.opts.perlProgram}: ${err.message}`);
    });
    child.on('exit', (code) => gone(`${this.opts.perlProgram} exited (${code})`));
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) this.waiting.shift()?.(l === 'ok' ? { ok: true } : { ok: false, error: l.replace(/^err /, '') });
      if (this.waiting.length === 0) handle(child.stdout).unref?.();
    });
    child.stderr.on('data', (chunk: Buffer) => this.opts.logger.warn({ event: 'announce.helper_output', output: chunk.toString('utf8').trim() }, 'announcer helper wrote to stderr'));
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) handle(s).unref?.();
    this.child = child;
    return child;
  }
}

/** The stdio streams of a child are sockets: they can be (un)referenced. */
function handle(stream: unknown): { ref?: () => void; unref?: () => void } {
  return stream as { ref?: () => void; unref?: () => void };
}
