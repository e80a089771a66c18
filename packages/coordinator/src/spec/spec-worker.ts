// Entry point of the spec worker thread: answers each check request from spec-validator.ts.
import { parentPort } from 'node:worker_threads';
import { checkSpec, type SpecCheckRequest } from './spec-check.js';

parentPort?.on('message', (msg: { readonly id: number; readonly request: SpecCheckRequest }) => {
  try {
    parentPort?.postMessage({ id: msg.id, result: checkSpec(msg.request) });
  } catch (err) {
    parentPort?.postMessage({ id: msg.id, error: String((err as Error).stack ?? err) });
  }
});
