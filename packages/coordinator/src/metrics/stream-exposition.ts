// Writes an exposition produced in pieces without holding the event loop for the whole of it.
// At 10,000 nodes /metrics is about 20 MB of text; built and joined in one go that is hundreds of
// milliseconds during which no heartbeat, delta or push is handled. Here the text comes from a
// generator that yields a piece every few hundred nodes, and after each slice of work (a
// millisecond) the writer hands what it has to the sink and lets the event loop run.
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Receives the text (UTF-8) in order; a promise means "wait before writing more" (backpressure). */
export type ExpositionSink = (chunk: Buffer) => void | Promise<void>;

/** Text, or text already encoded (pre-rendered samples are kept as bytes, outside the JS heap). */
export type ExpositionPiece = string | Buffer;

export interface StreamFigures {
  /** Time spent producing and writing text, without the pauses between slices. */
  readonly busyMs: number;
  /** The longest stretch the event loop was held. */
  readonly longestSliceMs: number;
  readonly slices: number;
}

/**
 * Work between two pauses, in milliseconds. Every slice starts in the check phase of a loop
 * turn (after a pause, or after the sink drained, see `write`), so a timer waits one slice at
 * most (before that, a slice resumed by gzip's drain ran in the poll phase and the next in the
 * check phase of the same turn: at 1 ms slices the thread ran 4 ms between timer ticks).
 */
export const DEFAULT_SLICE_MS = 1;

/** Chunks handed to the sink are about this size in bytes (gzip and sockets work well with it). */
const CHUNK_BYTES = 64 * 1024;

/**
 * A piece at least this long goes to the sink as it is, not copied into a chunk with its
 * neighbours: the node families' pieces (a slice of nodes each, tens of KB) are most of the
 * body, and copying them into new chunks doubled the bytes a scrape allocated outside the JS
 * heap. V8 counts those bytes against the old generation's limit until its next full
 * collection, so every scrape brought the old generation's marking nearer (at 2,000 nodes a
 * marking about every 1.3 s while scraping, none with the churn alone).
 */
const OWN_CHUNK_BYTES = 16 * 1024;

/**
 * Drives `pieces` to the end. An empty piece marks a point where the generator may be paused;
 * once `sliceMs` have passed since the last pause, the writer flushes and yields to the event
 * loop at the next piece.
 */
export async function streamExposition(pieces: AsyncIterable<ExpositionPiece> | Iterable<ExpositionPiece>, sink: ExpositionSink, sliceMs = DEFAULT_SLICE_MS): Promise<StreamFigures> {
  let buffered: Buffer[] = [];
  let chars = 0; // bytes buffered
  let busyMs = 0;
  let longest = 0;
  let slices = 1;
  let sliceStart = performance.now();
  const write = async (chunk: Buffer): Promise<void> => {
    const wait = sink(chunk);
    if (wait) {
      const held = performance.now() - sliceStart;
      busyMs += held;
      longest = Math.max(longest, held);
      await wait;
      // The sink drained in the poll phase of a loop turn; a slice started here would be
      // followed by another in the same turn's check phase. Starting in the check phase
      // instead, the next pause (setImmediate) ends the turn: one slice per turn.
      await nextTurn();
      slices++;
      sliceStart = performance.now();
    }
  };
  /** Hands what is buffered to the sink: each long piece as it is, the short ones between them joined. */
  const flush = async (): Promise<void> => {
    if (chars === 0) return;
    const held = buffered;
    buffered = [];
    chars = 0;
    let from = 0;
    for (let i = 0; i <= held.length; i++) {
      const piece = held[i];
      if (piece !== undefined && piece.length < OWN_CHUNK_BYTES) continue;
      if (i - from === 1) await write(held[from] as Buffer);
      else if (i > from) await write(Buffer.concat(held.slice(from, i)));
      if (piece !== undefined) await write(piece);
      from = i + 1;
    }
  };
  for await (const piece of pieces) {
    if (piece.length > 0) {
      const bytes = typeof piece === 'string' ? Buffer.from(piece) : piece;
      buffered.push(bytes);
      chars += bytes.length;
      if (chars >= CHUNK_BYTES) await flush();
    }
    if (performance.now() - sliceStart >= sliceMs) {
      await flush();
      const held = performance.now() - sliceStart;
      busyMs += held;
      longest = Math.max(longest, held);
      await nextTurn();
      slices++;
      sliceStart = performance.now();
    }
  }
  await flush();
  const held = performance.now() - sliceStart;
  busyMs += held;
  longest = Math.max(longest, held);
  return { busyMs, longestSliceMs: longest, slices };
}
