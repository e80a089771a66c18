// Sends VRRP packets on behalf of a keepalived that died. Node has no raw sockets; perl-base
// (Essential in Debian, so always installed) does, through its core Socket module. One perl
// process is kept running with its sockets open, so a send costs well under a millisecond once
// started; starting it costs 10-40 ms, so the agent starts it while everything is fine
// (docs/design/unplanned-failover.md says why not a native addon or a second keepalived).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { isIPv6 } from 'node:net';
import type { Logger } from '@lbha/shared';

export interface AdvertSenderOptions {
  readonly perlProgram: string;
  readonly logger: Logger;
}

/** One packet: the VRRP message, sent with TTL/hop limit 255 from `src` on `ifname` to `dst`. */
export interface RawPacket {
  readonly ifname: string;
  readonly src: string;
  readonly dst: string;
  readonly payload: Buffer;
}

// Reads "4|6 IFNAME SRC DST HEX" lines; opens one raw socket (protocol 112) per family,
// interface and source, bound to both; answers "ok N" or "err WHAT" per line. Multicast is not
// looped back: the node's own keepalived, which may be running (split-brain repeats,
// core/yield-adverts.ts), must not take the node's adverts for another router's.
const PERL = String.raw`
use strict; use warnings; use Socket qw(:all);
$| = 1; my %socks;
while (my $line = <STDIN>) {
  chomp $line; my ($fam, $ifname, $src, $dst, $hex) = split / /, $line;
  my $key = "$fam $ifname $src"; my $s = $socks{$key};
  if (!$s) {
    my $idx = 0;
    if (open(my $fh, '<', "/sys/class/net/$ifname/ifindex")) { $idx = <$fh> + 0; close $fh; }
    if ($fam eq '4') {
      socket($s, AF_INET, SOCK_RAW, 112) or do { print "err socket $!\n"; next };
      setsockopt($s, IPPROTO_IP, 2, pack('i', 255));
      setsockopt($s, IPPROTO_IP, 33, pack('i', 255));
      setsockopt($s, IPPROTO_IP, 34, pack('i', 0));
    } else {
      socket($s, AF_INET6, SOCK_RAW, 112) or do { print "err socket $!\n"; next };
      setsockopt($s, 41, 16, pack('i', 255));
      setsockopt($s, 41, 18, pack('i', 255));
      setsockopt($s, 41, 19, pack('i', 0));
    }
    setsockopt($s, SOL_SOCKET, 25, pack('Z16', $ifname)) or do { print "err device $ifname $!\n"; next };
    my $local = $fam eq '4' ? pack_sockaddr_in(0, inet_aton($src)) : pack_sockaddr_in6(0, inet_pton(AF_INET6, $src), $idx);
    bind($s, $local) or do { print "err bind $src $!\n"; next };
    $socks{$key} = $s; $socks{"idx $key"} = $idx;
  }
  my $to = $fam eq '4' ? pack_sockaddr_in(0, inet_aton($dst)) : pack_sockaddr_in6(0, inet_pton(AF_INET6, $dst), $socks{"idx $key"});
  my $n = send($s, pack('H*', $hex), 0, $to);
  print defined $n ? "ok $n\n" : "err send $!\n";
}
`;

export class AdvertSender {
  private child: ChildProcessWithoutNullStreams | undefined;
  private closed = false;

  constructor(private readonly opts: AdvertSenderOptions) {}

  /** Starts the sender ahead of need; harmless when it runs. */
  prepare(): void {
    this.process();
  }

  /** Sends the packets now (fire and forget: a failure is logged). */
  send(packets: readonly RawPacket[]): void {
    const child = this.process();
    if (!child) return;
    for (const p of packets) {
      if (!/^[A-Za-z0-9_.@-]{1,15}$/.test(p.ifname)) continue;
      child.stdin.write(`${isIPv6(p.src) ? 6 : 4} ${p.ifname} ${p.src} ${p.dst} ${p.payload.toString('hex')}\n`);
    }
  }

  close(): void {
    this.closed = true;
    this.child?.stdin.end();
    this.child = undefined;
  }

  private process(): ChildProcessWithoutNullStreams | undefined {
    if (this.closed) return undefined;
    if (this.child && this.child.exitCode === null) return this.child;
    const child = spawn(this.opts.perlProgram, ['-e', PERL], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.on('error', (err) => {
      this.opts.logger.warn({ event: 'vrrp.sender_failed', err: err.message }, `cannot run ${this.opts.perlProgram} to send VRRP adverts: ${err.message}`);
      if (this.child === child) this.child = undefined;
    });
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    let pending = '';
    const onLines = (chunk: Buffer): void => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) {
        if (l.startsWith('ok')) continue;
        this.opts.logger.warn({ event: 'vrrp.sender_failed', output: l }, `VRRP advert not sent: ${l}`);
      }
    };
    child.stdout.on('data', onLines);
    child.stderr.on('data', onLines);
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    this.child = child;
    return child;
  }
}
