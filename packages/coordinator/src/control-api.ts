// The operator API as the coordinator implements it, apart from any transport: each
// ControlService method takes its request and the caller and resolves with its response (or
// fails with an ApiError); the event stream writes to a sink. The gRPC service and the HTTP API
// are adapters on this port, each mapping errors once; authorisation, forwarding to the leader
// and accepting forwarded calls are decorators of it (docs/design/control-api.md).
import { ControlServiceService, type pbControl } from '@lbha/shared/control';
import type { Identity } from './auth/roles.js';
import type { ApiError } from './errors.js';

/** What a forwarding coordinator says about the caller it forwards (trusted only from a coordinator). */
export interface ForwardedClaim {
  /** The forwarding coordinator's id. */
  readonly by: string;
  /** The original caller's address. */
  readonly for: string;
  /** DER of the certificate the original caller presented. */
  readonly certificate: Buffer | undefined;
  /** The identity the forwarding coordinator authenticated, encoded (forwarded-identity.ts). */
  readonly identity: string | undefined;
  /** Set only by acceptForwarded, once the call is seen to come from a coordinator certificate. */
  readonly verified?: boolean;
}

/** Who makes a call, and how. */
export interface Caller {
  /** Set once authenticated: by the HTTP API itself, over gRPC by the authorisation layer. */
  readonly identity: Identity | undefined;
  /** The caller's `authorization` header (a bearer token), if any. */
  readonly authorization: string | undefined;
  /** DER of the client certificate the TLS handshake verified, if any. */
  readonly peerCertificate: Buffer | undefined;
  /** Where the call comes from, for logs and the audit trail (`http:` for the HTTP API). */
  readonly peer: string;
  /** When the caller stops waiting (ms since the epoch); Infinity when it does not say. */
  readonly deadlineMs: number;
  readonly forwarded: ForwardedClaim | undefined;
}

/** Where a streaming method writes its messages. */
export interface StreamSink<T> {
  /** Sends a message; false when the receiver's buffer is full (wait for onDrain). */
  write(message: T): boolean;
  /** Calls `listener` each time the receiver's buffer has drained. */
  onDrain(listener: () => void): void;
  end(): void;
  /** Ends the stream with an error (before or after its first message). */
  fail(err: ApiError): void;
  /** Aborted when the receiver goes away. */
  readonly closed: AbortSignal;
}

export type Unary<Req, Res> = (request: Req, caller: Caller) => Promise<Res>;
/** Refuses by throwing an ApiError before its first message, later by `sink.fail`. */
export type Streaming<Req, Res> = (request: Req, caller: Caller, sink: StreamSink<Res>) => void;

export interface ControlApi {
  listNodes: Unary<pbControl.ListNodesRequest, pbControl.ListNodesResponse>;
  getNode: Unary<pbControl.GetNodeRequest, pbControl.GetNodeResponse>;
  listVips: Unary<pbControl.ListVipsRequest, pbControl.ListVipsResponse>;
  getPlacement: Unary<pbControl.GetPlacementRequest, pbControl.GetPlacementResponse>;
  drain: Unary<pbControl.DrainRequest, pbControl.DrainResponse>;
  undrain: Unary<pbControl.UndrainRequest, pbControl.UndrainResponse>;
  restartService: Unary<pbControl.RestartServiceRequest, pbControl.RestartServiceResponse>;
  reloadService: Unary<pbControl.ReloadServiceRequest, pbControl.ReloadServiceResponse>;
  rollingRestart: Unary<pbControl.RollingRestartRequest, pbControl.RollingRestartResponse>;
  getOperation: Unary<pbControl.GetOperationRequest, pbControl.GetOperationResponse>;
  listOperations: Unary<pbControl.ListOperationsRequest, pbControl.ListOperationsResponse>;
  cancelOperation: Unary<pbControl.CancelOperationRequest, pbControl.CancelOperationResponse>;
  listEvents: Unary<pbControl.ListEventsRequest, pbControl.ListEventsResponse>;
  watchEvents: Streaming<pbControl.WatchEventsRequest, pbControl.WatchEventsResponse>;
  listAudit: Unary<pbControl.ListAuditRequest, pbControl.ListAuditResponse>;
  validateSpec: Unary<pbControl.ValidateSpecRequest, pbControl.ValidateSpecResponse>;
  applySpec: Unary<pbControl.ApplySpecRequest, pbControl.ApplySpecResponse>;
  getSpec: Unary<pbControl.GetSpecRequest, pbControl.GetSpecResponse>;
  listBackends: Unary<pbControl.ListBackendsRequest, pbControl.ListBackendsResponse>;
  changeBackendServer: Unary<pbControl.ChangeBackendServerRequest, pbControl.ChangeBackendServerResponse>;
  moveVip: Unary<pbControl.MoveVipRequest, pbControl.MoveVipResponse>;
  unpinVip: Unary<pbControl.UnpinVipRequest, pbControl.UnpinVipResponse>;
  drillCluster: Unary<pbControl.DrillClusterRequest, pbControl.DrillClusterResponse>;
  simulate: Unary<pbControl.SimulateRequest, pbControl.SimulateResponse>;
}

export type ControlMethod = keyof ControlApi;

/** Every method, with whether it streams its response: from the service definition. */
export const CONTROL_METHODS: ReadonlyArray<{ readonly name: ControlMethod; readonly streaming: boolean }> = Object.entries(ControlServiceService).map(([name, d]) => ({
  name: name as ControlMethod,
  streaming: d.responseStream,
}));

type AnyUnary = Unary<unknown, unknown>;
type AnyStreaming = Streaming<unknown, unknown>;

/** A decorator's two halves: what it does around a unary method and around a streaming one. */
export interface ControlDecorator {
  unary(method: ControlMethod, inner: AnyUnary): AnyUnary;
  streaming(method: ControlMethod, inner: AnyStreaming): AnyStreaming;
}

/** `api` with every method wrapped by `d`: a decorator implements the same port. */
export function decorate(api: ControlApi, d: ControlDecorator): ControlApi {
  const methods = api as unknown as Record<string, AnyUnary | AnyStreaming>;
  const out: Record<string, AnyUnary | AnyStreaming> = {};
  for (const m of CONTROL_METHODS) {
    const inner = methods[m.name] as AnyUnary | AnyStreaming;
    out[m.name] = m.streaming ? d.streaming(m.name, inner as AnyStreaming) : d.unary(m.name, inner as AnyUnary);
  }
  return out as unknown as ControlApi;
}
