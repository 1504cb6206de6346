// Types for the mega browser client (/_mega/client.js). Hand-written for
// editors; the client itself is plain JavaScript. Reference: docs/client.md.

/** A frame on the wire: {"type", "payload", "ref"} (ADR 0002). */
export interface Frame<P = unknown> {
  type: string;
  payload?: P;
  ref?: string;
  /** Frames of a history-enabled channel: the sub-channel, e.g. the room. */
  channel?: string;
  /** Frames of a history-enabled channel: changes only when the history was lost. */
  epoch?: string;
  /** Frames of a history-enabled channel: grows with every message of the channel. */
  offset?: number;
}

/** Where a channel's history stands: the last frame seen. */
export interface Position {
  epoch: string;
  offset: number;
}

/** The reply to history(): the last messages, oldest first, and the position they end at. */
export interface HistoryResult<P = any> extends Position {
  channel: string;
  messages: Frame<P>[];
}

export interface HistoryOptions extends RequestOptions {
  /** How many messages at most (default: the server's). */
  limit?: number;
}

/**
 * How the recovery of one channel after a (re)connect went. recovered false:
 * messages may be missing (the position is older than the history, of another
 * epoch, or the request failed: error); reload the channel with history().
 */
export interface RecoveredEvent {
  channel: string;
  recovered: boolean;
  /** The server's position after the recovery (absent when error is set). */
  epoch?: string;
  offset?: number;
  /** Why the recovery request failed ("forbidden", "unavailable", "timeout", ...). */
  error?: MegaError;
}

/** What a token function returns: a token, or one with its expiry (RFC 3339, Date or ms). */
export type TokenResult = string | { token: string; expiresAt?: string | Date | number | null } | null | undefined;

/** Connection state of a Socket. */
export type State = "connecting" | "connected" | "reconnecting" | "offline";

export declare const STATES: readonly State[];

/** Reconnection policy. All durations are in milliseconds. */
export interface BackoffPolicy {
  /** Ceiling of the first retry (250). */
  base: number;
  /** Largest ceiling (10000). */
  cap: number;
  /** How long a connection must last before the attempt count resets (5000). */
  stable: number;
  /** Smallest ceiling after the server went away with 1001 (2000). */
  drain: number;
  /** Smallest ceiling after 4008, 4029, 1008 or 1011 (5000). */
  penalty: number;
  /** Smallest delay after those codes (1000). */
  penaltyMin: number;
  /** Largest "retry=<ms>" close-reason hint honoured (60000). */
  hintMax: number;
}

export declare const DEFAULT_BACKOFF: Readonly<BackoffPolicy>;
export declare const CLOSE_GOING_AWAY: 1001;
/** The server closes a connection whose token expired with 4001. */
export declare const CLOSE_TOKEN_EXPIRED: 4001;

/** How a connection ended. */
export interface CloseInfo {
  code?: number;
  reason?: string;
}

/** min(cap, base * 2^attempt): the largest delay of retry number attempt (0-based). */
export declare function backoffCeiling(attempt: number, policy?: Partial<BackoffPolicy>): number;

/** Full-jitter delay of retry number attempt, in [min, ceiling); see docs/client.md. */
export declare function backoffDelay(
  attempt: number,
  policy?: Partial<BackoffPolicy>,
  close?: CloseInfo,
  random?: () => number,
): number;

/** Reads "retry=<ms>" from a close reason; 0 when absent. */
export declare function retryHint(reason: string | undefined): number;

/** Resolves url against base, maps http(s) to ws(s) and adds params to the query. */
export declare function wsURL(url: string, params?: Params, base?: string): string;

/** Why a request failed: the server's error code, or "timeout", "disconnected", "closed". */
export declare class MegaError extends Error {
  readonly name: "MegaError";
  readonly code: string;
  readonly ref?: string;
  /** The error frame's payload, for server errors. */
  readonly payload?: { code: string; message: string; ref?: string; [k: string]: unknown };
  constructor(code: string, message?: string, extra?: { ref?: string; payload?: unknown });
}

export type Params = Record<string, string | number | boolean | null | undefined>;

/** What a state listener learns besides the state. */
export interface StateInfo {
  /** Retries since the last stable connection. */
  attempt: number;
  /** For "reconnecting": ms until the next try. */
  delay?: number;
  /** Close code and reason of the connection that ended, if any. */
  code?: number;
  reason?: string;
}

/**
 * Minimal WebSocket shape the client needs (for injecting a fake). The
 * client reads ev.data in onmessage and ev.code, ev.reason in onclose; the
 * handlers take any so that the browser's WebSocket class fits.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
}

export interface SocketOptions {
  /** Added to the URL's query on every (re)connect; a function is called each time. */
  params?: Params | (() => Params);
  /** Overrides of DEFAULT_BACKOFF. */
  backoff?: Partial<BackoffPolicy>;
  /** Default request timeout in ms (10000). */
  timeout?: number;
  /** The WebSocket class (default globalThis.WebSocket). */
  WebSocket?: new (url: string) => WebSocketLike;
  /** Where navigator.onLine, location and online/offline events come from (default globalThis). */
  window?: {
    navigator?: { onLine?: boolean };
    location?: { href: string };
    addEventListener?(type: string, fn: () => void): void;
    removeEventListener?(type: string, fn: () => void): void;
  } | null;
  /** Timer functions (default the global ones). */
  timers?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(t: unknown): void };
  /** Random numbers in [0, 1) for jitter (default Math.random). */
  random?: () => number;
  /** Wall clock in ms since 1970, for token expiry (default Date.now). */
  now?: () => number;
  /** Do not connect until reconnect() is called. */
  lazy?: boolean;
  /**
   * Sent as ?token= on every (re)connect. A function is asked for a token
   * before a connection when there is none usable, and before the current
   * one expires (it is then sent with token.refresh). Without a function, a
   * 4001 close (expired token, or a cookie session logged out) leaves the
   * socket offline until reconnect(), as does a function returning no token.
   */
  token?: string | (() => TokenResult | Promise<TokenResult>);
  /** false: do not send history.recover after a reconnect (default true). */
  recover?: boolean;
}

export interface RequestOptions {
  /** Milliseconds to wait for the reply (default: the socket's timeout, 10000). */
  timeout?: number;
}

/** One logical connection that survives reconnects. */
export declare class Socket {
  constructor(url: string, options?: SocketOptions);
  readonly state: State;
  readonly connected: boolean;
  readonly attempt: number;
  /** The URL the next connection uses. */
  readonly url: string;
  /** Calls fn for every frame of type ("*": every frame). Returns an unsubscribe function. */
  on<P = any>(type: string, fn: (payload: P, frame: Frame<P>) => void): () => void;
  /** Calls fn on every state change and on every scheduled retry. Returns an unsubscribe function. */
  onState(fn: (state: State, info: StateInfo) => void): () => void;
  /** Sends a frame; false (and nothing sent) when not connected. */
  send(type: string, payload?: unknown, ref?: string): boolean;
  /** Sends with a fresh ref; resolves with the reply's payload, rejects with MegaError. */
  request<R = any>(type: string, payload?: unknown, options?: RequestOptions): Promise<R>;
  /** history.get: the last messages of channel; moves its position to the reply's when newer. */
  history<P = any>(channel: string, options?: HistoryOptions): Promise<HistoryResult<P>>;
  /** The last position seen on channel. */
  position(channel: string): Position | undefined;
  /** Sets channel's position (e.g. one saved before a reload); the next connection recovers from it. */
  track(channel: string, position: Position): void;
  /** Drops channel's position (every position without an argument): no longer recovered. */
  forget(channel?: string): void;
  /** Calls fn for every recovery after a (re)connect. Returns an unsubscribe function. */
  onRecovered(fn: (event: RecoveredEvent) => void): () => void;
  /** token.refresh: renews the connection's credentials; later reconnects use token. */
  refreshToken(token: string, options?: RequestOptions): Promise<{ expiresAt: Date | null }>;
  /** Drops the connection and connects again now with a fresh backoff (also after close()). */
  reconnect(): void;
  /** Ends the connection for good; state becomes "offline". */
  close(code?: number, reason?: string): void;
}

export declare function connect(url: string, options?: SocketOptions): Socket;

/** A roster entry as the server sends it. */
export interface Member<M = Record<string, unknown>> {
  sessionId: string;
  userId: string;
  ns?: string;
  channels?: string[];
  metadata?: M;
  [k: string]: unknown;
}

/** One user with all their listed sessions (tabs). */
export interface UserEntry<M = Record<string, unknown>> {
  userId: string;
  sessions: Member<M>[];
}

export interface PresenceOptions<M = Record<string, unknown>> {
  /** Only matching members are listed and reported. */
  filter?: ((member: Member<M>) => boolean) | null;
  /** Frame types whose payload {members: [...]} is the full state (["welcome", "roster"]). */
  state?: string[];
  /** Change frame types: single changes, batches ({joins, leaves, updates}) and counts ({count}). */
  events?: { join?: string; update?: string; leave?: string; diff?: string; count?: string };
  /** Request type that asks for the roster ("roster.get"). */
  request?: string;
}

/** Keeps a namespace's member list in sync with the server. */
export declare class Presence<M = Record<string, unknown>> {
  constructor(socket: Socket, options?: PresenceOptions<M>);
  /** True once a state was applied on the current connection. */
  readonly synced: boolean;
  /** This connection's identity from the last welcome. */
  readonly self: { sessionId: string; userId: string } | null;
  /** Listed members, sorted by session id. */
  list(): Member<M>[];
  /** Listed members grouped by user, sorted by user id. */
  users(): UserEntry<M>[];
  get(sessionId: string): Member<M> | undefined;
  /** Listed sessions of one user ([] when offline). */
  user(userId: string): Member<M>[];
  /** Replaces the filter, reporting members that appear or disappear. */
  setFilter(filter: ((member: Member<M>) => boolean) | null): void;
  onJoin(fn: (member: Member<M>, user: UserEntry<M>) => void): () => void;
  onLeave(fn: (member: Member<M>, user: UserEntry<M>) => void): () => void;
  onUpdate(fn: (member: Member<M>, previous: Member<M>) => void): () => void;
  onSync(fn: (presence: Presence<M>) => void): () => void;
  /** Member count of the last presence.count frame (count-only channels), or null. */
  readonly count: number | null;
  onCount(fn: (count: number) => void): () => void;
  /** Requests the roster and applies it as the state. */
  refresh(options?: RequestOptions): Promise<Member<M>[]>;
  /** Detaches from the socket. */
  close(): void;
}
