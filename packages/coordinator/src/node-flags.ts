import { fileURLToPath } from 'node:url';

// The V8 flags the coordinator runs with (the bin's shebang, the package and install wrappers,
// bench:scale, so the benchmark measures what ships). Measured with bench:scale at 2,000 agents
// over mutual TLS and test/bench/tls-floor.bench.ts (docs/benchmarks.md, "Coordinator memory",
// and docs/benchmarks-history.md, "Memory per agent: the TLS floor, malloc and the V8 heap"):
// --heap-growing-percent=50: after each full collection, the old generation may grow to 1.5
//   times what survived it before the next one, instead of up to 4 times (V8's own factor, which
//   it raises when collections are fast against the allocation rate, as for a coordinator whose
//   objects die young). Most of the coordinator's memory per agent beyond one TLS connection's
//   own was that headroom: V8 heap pages holding garbage or nothing (129.7 KB per agent of free
//   heap in one run). With the flag: 72 to 96 KB per agent (median 82) instead of 133 to 204
//   (median 138), three runs each, alternated; the floor, a bare Node HTTP/2 server with mutual
//   TLS, is 77 to 83 KB per connection. The price is more full collections (marking what lives,
//   about 7 to 30 KB per agent); their share of the main thread did not rise measurably in those
//   runs (docs/benchmarks.md).
// Not used, each measured side by side: glibc's MALLOC_ARENA_MAX=2, a fixed mmap or trim
// threshold and jemalloc (the C heap is OpenSSL's and nghttp2's live state, not fragmentation:
// no change at the floor or in the coordinator); --optimize-for-size (100 KB per agent, but
// about twice the collector's share of the main thread); a smaller young generation alone
// (--max-semi-space-size=4: 168 KB, more objects promoted into the old generation); glibc's mmap
// threshold at 16 KB (at 1,000 agents 10-15 KB per agent less C heap, but a sixth more CPU:
// OpenSSL allocates and frees a record buffer for every TLS record, each then an mmap and a
// munmap) or at 64 KB (about 5 KB less).
// --v8-pool-size=1 (node's, not V8's): one thread for V8's background work instead of four. On
//   the one core the coordinator is sized for, the four ran the old generation's concurrent
//   marking and the scavenger's parallel tasks beside the event loop, and each that was runnable
//   held the core to the scheduler's next tick (4 ms at HZ=250) before the loop's thread had it
//   back: at 10,000 agents the longest run of a /metrics scrape fell, in 13 of 20 traced scrapes,
//   inside a marking of the old generation (which the churn of reports fills), those threads 2-32
//   ms of it. With one, the process's longest run in a scrape went from 26.0-28.6 to 15.3-21.2 ms
//   at 10,000 and from 12.3-29.4 to 8.6-9.9 at 2,000 (each run's maximum, three alternated pairs
//   each); the main thread does more of the collector's work itself (its own longest run, to a
//   tick, 11.0-16.4 ms against 5.8-7.8 at 10,000). Memory per agent did not grow (at 3,000 69-72
//   KB against 87-93); CPU was not separable at the load of that sitting (docs/benchmarks.md,
//   "/metrics at 10,000 agents: the longest run of a scrape is V8's helper threads"). The
//   marking stays concurrent, on one thread: on a host with more cores, beside the loop.
//   --single-threaded-gc (no helpers, every collection on the loop's thread) was measured too:
//   its maximum at 10,000 was 22.7-23.2 ms.
export const COORDINATOR_NODE_FLAGS: readonly string[] = ['--heap-growing-percent=50', '--v8-pool-size=1'];

/**
 * The OpenSSL configuration the coordinator runs with, and node's option that loads it (the
 * package's and install.sh's wrappers pass their installed copy; bench:scale and the lab this
 * one). The shebang cannot name a file next to the script, so a coordinator started through it
 * runs without. What it sets, NumTickets = 0: no TLS 1.3 session tickets. OpenSSL sends two after
 * every handshake by default, and the second copies the session by encoding and decoding it,
 * the client certificate parsed once more; the agents never resume a session (grpc-js keeps no
 * ticket), so each was work thrown away: about a tenth of a bare Node HTTP/2 server's CPU per
 * mutual-TLS connection (docs/benchmarks.md, "The TLS handshake's CPU"). Resuming them instead
 * was measured and not taken: 0.92-0.94 times a reconnect storm's CPU, for a ticket key that would
 * authenticate as any client (docs/benchmarks.md, "TLS session resumption for the reconnect
 * storm"). Node has no
 * option for it (SSL_OP_NO_TICKET makes TLS 1.3 send stateful tickets instead), and a missing
 * file is ignored by node, so the deploy test checks the installed path.
 */
export const COORDINATOR_OPENSSL_CONFIG: string = fileURLToPath(new URL('../../openssl.cnf', import.meta.url));
export const COORDINATOR_OPENSSL_FLAG = `--openssl-config=${COORDINATOR_OPENSSL_CONFIG}`;
