/**
 * The fake Discord's gateway: the WebSocket half. HELLO → IDENTIFY → READY (+ GUILD_CREATE),
 * heartbeat ACKs, RESUME → RESUMED; dispatches gated by the identified intents as Discord gates them;
 * echoes of the bot's own messages and threads. Frames are plain JSON text. It records what the
 * client sent (`gatewayFrames`) and what it dispatched (`dispatched`, `withheld`).
 */
import type { IncomingMessage } from 'node:http';
import type { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { APP_ID, BOT_USER_ID, FLAG_EPHEMERAL, GUILD_ID, INTENTS, OP } from './constants.ts';
import { BOT_USER, isRecord, now, type World } from './state.ts';
import type { ApiMessage, ApiThread, GatewayConnectionInfo, GatewayFrame, Obj, SentDispatch } from './types.ts';

interface Session {
  id: string;
  seq: number;
  intents: number;
  shard: [number, number];
  knownThreads: Set<string>;
}

interface Connection {
  id: number;
  ws: WebSocket;
  session: Session | null;
}

export interface GatewayOptions {
  token: string;
  heartbeatInterval: number;
  sendGuildCreate: boolean;
  enforceIntents: boolean;
  echoOwnMessages: boolean;
  /** `ws://127.0.0.1:PORT`, sent as READY's `resume_gateway_url`. */
  gatewayUrl: string;
  /** Emits `gateway` with each GatewayFrame the client sends. */
  events: EventEmitter;
}

export interface Gateway {
  readonly gatewayFrames: GatewayFrame[];
  readonly dispatched: SentDispatch[];
  readonly withheld: { t: string; d: unknown; reason: string }[];
  readonly connections: GatewayConnectionInfo[];
  /** The `d` of the latest IDENTIFY, if any. */
  readonly identify: Obj | undefined;
  /** Sends a dispatch (op 0) to every identified connection, ungated; throws if there is none. */
  dispatch(t: string, d: unknown): void;
  /**
   * Dispatches with intent gating: `intent` must be granted; when `blankContent` and MessageContent is
   * missing, content-ish fields are emptied (Discord does this unless the bot is mentioned).
   */
  dispatchGated(t: string, d: Obj, intent: number, blankContent?: boolean): void;
  /** Echoes the bot's own (non-ephemeral) message, when echoing is on and a client is identified. */
  echoMessage(t: 'MESSAGE_CREATE' | 'MESSAGE_UPDATE', message: ApiMessage): void;
  /** Echoes a thread the bot started. */
  echoThread(thread: ApiThread): void;
  /** Echoes the deletion of the bot's own message. */
  echoDelete(messageId: string, channelId: string): void;
  /** Every identified session now knows this thread (no THREAD_CREATE needed for it). */
  learnThread(threadId: string): void;
  /** Whether some identified session has not seen this thread yet. */
  threadUnseen(threadId: string): boolean;
  /** For the HTTP server's `upgrade` event. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Closes the connection(s) with this code. */
  disconnect(code: number): void;
  /** Terminates every connection and closes the WebSocket server. */
  close(): Promise<void>;
}

export function createGateway(world: World, options: GatewayOptions): Gateway {
  const { token, heartbeatInterval, sendGuildCreate, enforceIntents, echoOwnMessages, gatewayUrl, events } = options;
  const { messages, threads } = world;
  const gatewayFrames: GatewayFrame[] = [];
  const dispatched: SentDispatch[] = [];
  const withheld: { t: string; d: unknown; reason: string }[] = [];
  const connectionsInfo: GatewayConnectionInfo[] = [];
  const sessions = new Map<string, Session>();
  const connections = new Set<Connection>();
  const wss = new WebSocketServer({ noServer: true });
  let connectionCounter = 0;
  let lastIdentify: Obj | undefined;

  const send = (connection: Connection, payload: Obj): void => {
    if (connection.ws.readyState === WebSocket.OPEN) connection.ws.send(JSON.stringify(payload));
  };

  const sendDispatch = (connection: Connection, t: string, d: unknown): void => {
    const session = connection.session;
    if (!session) return;
    session.seq += 1;
    dispatched.push({ t, s: session.seq, d, connection: connection.id });
    send(connection, { op: OP.Dispatch, t, s: session.seq, d });
  };

  const identified = (): Connection[] =>
    [...connections].filter((c) => c.session !== null && c.ws.readyState === WebSocket.OPEN);

  /** Remembers what the world learns from a dispatch (messages, threads). */
  const observe = (t: string, d: unknown): void => {
    if (!isRecord(d)) return;
    if ((t === 'MESSAGE_CREATE' || t === 'MESSAGE_UPDATE') && typeof d['id'] === 'string' && typeof d['channel_id'] === 'string') {
      const rest: Obj = { ...d };
      delete rest['guild_id'];
      delete rest['member'];
      const existing = messages.get(d['id']);
      if (existing) Object.assign(existing, rest);
      else messages.set(d['id'], rest as ApiMessage);
    }
    if ((t === 'THREAD_CREATE' || t === 'THREAD_UPDATE') && typeof d['id'] === 'string') {
      const rest: Obj = { ...d };
      delete rest['newly_created'];
      delete rest['member'];
      const existing = threads.get(d['id']);
      if (existing) Object.assign(existing, rest);
      else threads.set(d['id'], rest as ApiThread);
      for (const c of identified()) c.session?.knownThreads.add(d['id']);
    }
  };

  const dispatch = (t: string, d: unknown): void => {
    const targets = identified();
    if (targets.length === 0) throw new Error(`fake-discord: no identified gateway connection to dispatch ${t} to`);
    observe(t, d);
    for (const connection of targets) sendDispatch(connection, t, d);
  };

  /**
   * Dispatches with intent gating: `intent` must be granted; when `blankContent` and MessageContent is
   * missing, content-ish fields are emptied (Discord does this unless the bot is mentioned).
   */
  const dispatchGated = (t: string, d: Obj, intent: number, blankContent = false): void => {
    const targets = identified();
    if (targets.length === 0) throw new Error(`fake-discord: no identified gateway connection to dispatch ${t} to`);
    observe(t, d);
    for (const connection of targets) {
      const intents = connection.session?.intents ?? 0;
      if (enforceIntents && (intents & intent) === 0) {
        withheld.push({ t, d, reason: `missing intent ${intent}` });
        continue;
      }
      if (enforceIntents && blankContent && (intents & INTENTS.MessageContent) === 0) {
        withheld.push({ t, d, reason: 'content blanked: missing MessageContent intent' });
        sendDispatch(connection, t, { ...d, content: '', embeds: [], attachments: [], components: [] });
        continue;
      }
      sendDispatch(connection, t, d);
    }
  };

  const echoMessage = (t: 'MESSAGE_CREATE' | 'MESSAGE_UPDATE', message: ApiMessage): void => {
    if (!echoOwnMessages || (message.flags & FLAG_EPHEMERAL) !== 0 || identified().length === 0) return;
    dispatchGated(t, { ...message, guild_id: GUILD_ID, member: world.botMember() }, INTENTS.GuildMessages);
  };

  const echoThread = (thread: ApiThread): void => {
    if (identified().length === 0) return;
    if (!echoOwnMessages) {
      observe('THREAD_CREATE', thread);
      return;
    }
    dispatchGated(
      'THREAD_CREATE',
      { ...thread, newly_created: true, member: { id: thread.id, user_id: BOT_USER_ID, join_timestamp: now(), flags: 1 } },
      INTENTS.Guilds,
    );
  };

  const onGatewayPayload = (connection: Connection, payload: Obj): void => {
    const op = payload['op'];
    const d = payload['d'];
    if (typeof op !== 'number') {
      connection.ws.close(4002, 'Error while decoding payload.');
      return;
    }
    const frame: GatewayFrame = { op, d, connection: connection.id, at: Date.now() };
    gatewayFrames.push(frame);
    events.emit('gateway', frame);

    switch (op) {
      case OP.Heartbeat:
        send(connection, { op: OP.HeartbeatAck, d: null, s: null, t: null });
        return;
      case OP.Identify: {
        if (connection.session) {
          connection.ws.close(4005, 'Already authenticated.');
          return;
        }
        if (!isRecord(d) || d['token'] !== token) {
          connection.ws.close(4004, 'Authentication failed.');
          return;
        }
        lastIdentify = d;
        const shardField = d['shard'];
        const shard: [number, number] =
          Array.isArray(shardField) && typeof shardField[0] === 'number' && typeof shardField[1] === 'number'
            ? [shardField[0], shardField[1]]
            : [0, 1];
        const session: Session = {
          id: randomBytes(16).toString('hex'),
          seq: 0,
          intents: typeof d['intents'] === 'number' ? d['intents'] : 0,
          shard,
          knownThreads: new Set(),
        };
        sessions.set(session.id, session);
        connection.session = session;
        sendDispatch(connection, 'READY', {
          v: 10,
          user_settings: {},
          user: { ...BOT_USER, verified: true, mfa_enabled: false, email: null },
          guilds: [{ id: GUILD_ID, unavailable: true }],
          guild_join_requests: [],
          relationships: [],
          private_channels: [],
          presences: [],
          session_id: session.id,
          session_type: 'normal',
          resume_gateway_url: gatewayUrl,
          shard,
          application: { id: APP_ID, flags: 0 },
          auth: {},
          _trace: ['["fake-discord",{"micros":0}]'],
        });
        if (sendGuildCreate && (!enforceIntents || (session.intents & INTENTS.Guilds) !== 0)) {
          // A short gap, as on the real gateway, between READY and the guild streaming in.
          setTimeout(() => {
            if (connection.session === session) sendDispatch(connection, 'GUILD_CREATE', world.guildCreate(session.knownThreads));
          }, 10).unref();
        }
        return;
      }
      case OP.Resume: {
        const sessionId = isRecord(d) ? d['session_id'] : undefined;
        const session = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
        if (!isRecord(d) || d['token'] !== token || !session) {
          send(connection, { op: OP.InvalidSession, d: false, s: null, t: null });
          return;
        }
        connection.session = session;
        sendDispatch(connection, 'RESUMED', { _trace: ['["fake-discord",{"micros":0}]'] });
        return;
      }
      default:
        if (!connection.session) connection.ws.close(4003, 'Not authenticated.');
        // Presence updates, member requests, voice state: recorded only.
        return;
    }
  };

  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const parsed = new URL(req.url ?? '/', gatewayUrl);
      connectionCounter += 1;
      const connection: Connection = { id: connectionCounter, ws, session: null };
      connections.add(connection);
      connectionsInfo.push({ id: connection.id, query: Object.fromEntries(parsed.searchParams), at: Date.now() });
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          ws.close(4002, 'Error while decoding payload.');
          return;
        }
        let payload: unknown;
        try {
          payload = JSON.parse(Buffer.isBuffer(data) ? data.toString('utf8') : String(data));
        } catch {
          ws.close(4002, 'Error while decoding payload.');
          return;
        }
        if (!isRecord(payload)) {
          ws.close(4002, 'Error while decoding payload.');
          return;
        }
        onGatewayPayload(connection, payload);
      });
      ws.on('close', () => connections.delete(connection));
      ws.on('error', () => connections.delete(connection));
      send(connection, {
        op: OP.Hello,
        d: { heartbeat_interval: heartbeatInterval, _trace: ['["fake-discord",{"micros":0}]'] },
        s: null,
        t: null,
      });
    });
  };

  return {
    gatewayFrames,
    dispatched,
    withheld,
    connections: connectionsInfo,
    get identify() {
      return lastIdentify;
    },
    dispatch,
    dispatchGated,
    echoMessage,
    echoThread,
    echoDelete: (messageId, channelId) => {
      if (echoOwnMessages && identified().length > 0) {
        dispatchGated('MESSAGE_DELETE', { id: messageId, channel_id: channelId, guild_id: GUILD_ID }, INTENTS.GuildMessages);
      }
    },
    learnThread: (threadId) => {
      for (const c of identified()) c.session?.knownThreads.add(threadId);
    },
    threadUnseen: (threadId) => identified().some((c) => !c.session?.knownThreads.has(threadId)),
    handleUpgrade,
    disconnect: (code) => {
      for (const connection of connections) connection.ws.close(code, 'fake-discord disconnect');
    },
    close: async () => {
      for (const connection of connections) connection.ws.terminate();
      connections.clear();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
