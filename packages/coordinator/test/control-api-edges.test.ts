// Each API error is mapped once at each edge: the same code reaches a gRPC caller as that
// status and an HTTP caller as its HTTP status, and the leader's status comes back to a
// follower as the same code. Anything else is INTERNAL, logged, and says nothing more.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { silentLogger, type Logger } from '@lbha/shared';
import { CONTROL_METHODS, type ControlApi } from '../src/control-api.js';
import { ApiError, RequestTooLargeError, StoreError, StoreTooLargeError, type ApiErrorCode } from '../src/errors.js';
import { grpcControlService, grpcErrorToApi } from '../src/grpc-control-service.js';
import { httpErrorOf } from '../src/http/http-error.js';

const CODES: ReadonlyArray<[ApiErrorCode, number]> = [
  ['INVALID_ARGUMENT', 400],
  ['NOT_FOUND', 404],
  ['ALREADY_EXISTS', 409],
  ['FAILED_PRECONDITION', 409],
  ['PERMISSION_DENIED', 403],
  ['UNAUTHENTICATED', 401],
  ['RESOURCE_EXHAUSTED', 429],
  ['UNAVAILABLE', 503],
  ['DEADLINE_EXCEEDED', 504],
  ['CANCELLED', 499],
  ['UNIMPLEMENTED', 501],
  ['INTERNAL', 500],
];

/** An API whose every unary method fails with `err`. */
function failing(err: unknown): ControlApi {
  const api: Record<string, unknown> = {};
  for (const m of CONTROL_METHODS) api[m.name] = m.streaming ? () => undefined : async () => Promise.reject(err);
  return api as unknown as ControlApi;
}

/** What a gRPC caller of getNode gets back from `api`. */
function grpcAnswer(api: ControlApi, logger: Logger = silentLogger()): Promise<Partial<ServiceError> | null> {
  const service = grpcControlService(api, logger) as unknown as Record<string, (call: object, cb: (err: Partial<ServiceError> | null) => void) => void>;
  const call = { request: { name: 'lb1' }, metadata: new Metadata(), getPeer: () => 'ipv4:127.0.0.1:1', getDeadline: () => Infinity };
  return new Promise((resolve) => service['getNode']?.(call, (err) => resolve(err)));
}

describe('API error edges', () => {
  for (const [code, http] of CODES) {
    it(`${code}: gRPC status ${code}, HTTP ${http}, and back from a leader as ${code}`, async () => {
      const err = new ApiError(code, `it is ${code.toLowerCase()}`);
      const g = await grpcAnswer(failing(err));
      assert.deepEqual([g?.code, g?.details], [status[code], `it is ${code.toLowerCase()}`]);
      const h = httpErrorOf(err);
      assert.deepEqual([h.status, h.code, h.message], [http, code, `it is ${code.toLowerCase()}`]);
      assert.equal(grpcErrorToApi({ code: g?.code, details: g?.details }).code, code);
    });
  }

  it('answers a bug as INTERNAL without its text, and logs it', async () => {
    const logged: unknown[] = [];
    const logger = { ...silentLogger(), error: (o: unknown) => void logged.push(o) } as unknown as Logger;
    const g = await grpcAnswer(failing(new TypeError('x.y is undefined')), logger);
    assert.deepEqual([g?.code, g?.details], [status.INTERNAL, 'internal error']);
    assert.equal(logged.length, 1);
  });

  it('answers a store outage as UNAVAILABLE, naming it', async () => {
    const g = await grpcAnswer(failing(new StoreError('etcd is down')));
    assert.deepEqual([g?.code, g?.details], [status.UNAVAILABLE, 'store unavailable: etcd is down']);
  });

  it('answers a write too large for the store as RESOURCE_EXHAUSTED / 413, also when forwarded by a follower', async () => {
    const g = await grpcAnswer(failing(new StoreTooLargeError('etcd refused the transaction as too large')));
    assert.deepEqual([g?.code, g?.details], [status.RESOURCE_EXHAUSTED, 'store refused the write: etcd refused the transaction as too large']);
    // What a follower that forwarded the call makes of the leader's answer, and answers its HTTP caller.
    const back = grpcErrorToApi({ code: g?.code, details: g?.details, metadata: g?.metadata as Metadata });
    assert.ok(back instanceof RequestTooLargeError);
    const h = httpErrorOf(back);
    assert.deepEqual([h.status, h.code, h.message], [413, 'PAYLOAD_TOO_LARGE', 'store refused the write: etcd refused the transaction as too large']);
    // Other RESOURCE_EXHAUSTED answers (rate limits) stay 429.
    assert.equal(httpErrorOf(grpcErrorToApi({ code: status.RESOURCE_EXHAUSTED, details: 'slow down' })).status, 429);
  });
});
