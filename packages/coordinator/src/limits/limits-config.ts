// The `limits:` section of the coordinator configuration: how much any one caller (or address)
// may take, so that no caller, with or without credentials, can starve the agents or the others.
// The defaults suit a fleet of 10,000 agents (each holds one connection) and a few operators.
import { z } from 'zod';

const count = (max: number) => z.number().int().min(1).max(max);

export const limitsConfigSchema = z
  .object({
    /** Open connections per API (gRPC, HTTP), all clients together. */
    connections: count(1_000_000).default(20_000),
    /** Open connections per API from one client address (agents have one each). */
    connectionsPerAddress: count(1_000_000).default(256),
    /**
     * TLS handshakes in progress at once on the gRPC port; further connections wait their turn
     * in arrival order, so a fleet reconnecting at once registers as a steady flow.
     */
    tlsHandshakes: count(100_000).default(256),
    /** Concurrent calls (HTTP/2 streams) on one gRPC connection. */
    streamsPerConnection: count(100_000).default(128),
    /** API calls per second of one caller (a token, a certificate), with bursts of twice that. */
    requestsPerSecond: count(1_000_000).default(50),
    /** Failed authentications from one address within a minute before it is refused for a while. */
    failedAuthPerMinute: count(1_000_000).default(30),
    /** Streams one node's agent may open within a minute (a reconnect loop is refused beyond). */
    agentConnectsPerMinute: count(1_000_000).default(60),
    /** Messages per second on one agent stream, with bursts of ten times that. */
    agentMessagesPerSecond: count(1_000_000).default(100),
  })
  .strict()
  .default({});

export type LimitsConfig = z.output<typeof limitsConfigSchema>;

export const DEFAULT_LIMITS: LimitsConfig = limitsConfigSchema.parse({});
