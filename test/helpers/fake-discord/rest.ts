/**
 * The fake Discord's REST half, under `/api/v10`: records every request (`requests`), answers from
 * interceptors and channel refusals first, then from routes shaped like Discord's (interactions and
 * their webhooks, channels, messages, history, threads, reactions, application commands), with
 * Discord's validation and error codes. Answers that Discord follows with a gateway event (the
 * bot's own messages and threads) hand that echo to the gateway once the answer is on the wire.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { APP_ID, BOT_USER_ID, BOT_USERNAME, FLAG_EPHEMERAL, FLAG_LOADING, GUILD_ID, HUMAN_USER_ID, MAX_CONTENT } from './constants.ts';
import type { Gateway } from './gateway.ts';
import {
  BOT_USER,
  DiscordError,
  formError,
  isRecord,
  now,
  snowflake,
  unknownError,
  type InteractionState,
  type World,
} from './state.ts';
import type { ApiMessage, ApiThread, ChannelRefusal, Interceptor, Obj, RecordedFile, RecordedRequest } from './types.ts';

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Run after the answer is written (gateway echoes). */
  after?: () => void;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function validateMessageBody(body: Obj, opts: { create: boolean; files: number }): void {
  const content = body['content'];
  if (typeof content === 'string' && content.length > MAX_CONTENT) {
    throw formError('content', 'BASE_TYPE_MAX_LENGTH', `Must be ${MAX_CONTENT} or fewer in length.`);
  }
  const embeds = body['embeds'];
  if (Array.isArray(embeds)) {
    if (embeds.length > 10) throw formError('embeds', 'BASE_TYPE_MAX_LENGTH', 'Must be 10 or fewer in length.');
    embeds.forEach((embed, i) => {
      if (!isRecord(embed)) return;
      const title = embed['title'];
      const description = embed['description'];
      if (typeof title === 'string' && title.length > 256) {
        throw formError(`embeds.${i}.title`, 'BASE_TYPE_MAX_LENGTH', 'Must be 256 or fewer in length.');
      }
      if (typeof description === 'string' && description.length > 4096) {
        throw formError(`embeds.${i}.description`, 'BASE_TYPE_MAX_LENGTH', 'Must be 4096 or fewer in length.');
      }
    });
  }
  if (opts.create) {
    const hasContent = typeof content === 'string' && content.length > 0;
    const hasEmbeds = Array.isArray(embeds) && embeds.length > 0;
    const components = body['components'];
    const hasComponents = Array.isArray(components) && components.length > 0;
    const hasPoll = isRecord(body['poll']);
    const hasSticker = Array.isArray(body['sticker_ids']) && body['sticker_ids'].length > 0;
    if (!hasContent && !hasEmbeds && !hasComponents && !hasPoll && !hasSticker && opts.files === 0) {
      throw unknownError('Cannot send an empty message', 50006, 400);
    }
  }
}

function refusalReply(refusal: ChannelRefusal): Reply {
  switch (refusal) {
    case 'missing-access':
      return { status: 403, body: { message: 'Missing Access', code: 50001 } };
    case 'missing-permissions':
      return { status: 403, body: { message: 'Missing Permissions', code: 50013 } };
    case 'unknown-channel':
      return { status: 404, body: { message: 'Unknown Channel', code: 10003 } };
  }
}

async function parseBody(raw: Buffer, contentType: string | undefined): Promise<{ body: unknown; files: RecordedFile[] }> {
  if (raw.length === 0) return { body: undefined, files: [] };
  if (contentType?.startsWith('multipart/form-data')) {
    const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
    let body: unknown = undefined;
    const files: RecordedFile[] = [];
    for (const [field, value] of form.entries()) {
      if (typeof value === 'string') {
        if (field === 'payload_json') body = JSON.parse(value) as unknown;
        else if (isRecord(body)) body[field] = value;
        else body = { [field]: value };
      } else {
        files.push({
          field,
          filename: value.name,
          contentType: value.type,
          data: Buffer.from(await value.arrayBuffer()),
        });
      }
    }
    return { body, files };
  }
  const text = raw.toString('utf8');
  try {
    return { body: JSON.parse(text) as unknown, files: [] };
  } catch {
    return { body: text, files: [] };
  }
}

export interface RestOptions {
  token: string;
  validate: boolean;
  /** `http://127.0.0.1:PORT`, the base for parsing request URLs. */
  url: string;
  /** `ws://127.0.0.1:PORT`, what GET /gateway(/bot) answers. */
  gatewayUrl: string;
  /** Emits `request` with each RecordedRequest, once answered. */
  events: EventEmitter;
  /** True once the fake is closing: pending gateway echoes are dropped. */
  isClosed: () => boolean;
}

export interface Rest {
  /** Every REST request, in order of arrival. */
  readonly requests: RecordedRequest[];
  intercept(interceptor: Interceptor): () => void;
  refuseChannel(channelId: string, refusal: ChannelRefusal): () => void;
  /** For the HTTP server's `request` event. */
  handleRequest(req: IncomingMessage, res: ServerResponse): void;
}

export function createRest(world: World, gateway: Gateway, options: RestOptions): Rest {
  const { token, validate, url, gatewayUrl, events, isClosed } = options;
  const { users, messages, threads, commands, interactions, user, botMember, humanMember, requireChannel, makeMessage, editMessage } = world;
  const { echoMessage, echoThread } = gateway;
  const requests: RecordedRequest[] = [];
  const interceptors: Interceptor[] = [];
  const refusals = new Map<string, ChannelRefusal>();

  const interactionFor = (appId: string, interactionToken: string): InteractionState => {
    const state = interactions.get(interactionToken);
    if (appId !== APP_ID || !state) throw unknownError('Unknown Webhook', 10015);
    return state;
  };

  const webhookMessage = (state: InteractionState, messageId: string, create: boolean): ApiMessage => {
    if (messageId === '@original') {
      const original = state.originalId ? messages.get(state.originalId) : undefined;
      if (original) return original;
      if (!create) throw unknownError('Unknown Message', 10008);
      const created = makeMessage({ channelId: state.channelId, author: BOT_USER, webhook: state });
      state.originalId = created.id;
      return created;
    }
    const message = messages.get(messageId);
    if (!message || message['webhook_id'] !== APP_ID) throw unknownError('Unknown Message', 10008);
    return message;
  };

  const storeCommand = (scope: string, guildId: string | null, command: Obj): Obj => {
    const list = commands.get(scope) ?? [];
    const existing = list.find((c) => c['name'] === command['name'] && (c['type'] ?? 1) === (command['type'] ?? 1));
    const stored: Obj = {
      type: 1,
      description: '',
      default_member_permissions: null,
      nsfw: false,
      integration_types: [0],
      contexts: null,
      ...command,
      id: existing?.['id'] ?? snowflake(),
      application_id: APP_ID,
      version: snowflake(),
    };
    if (guildId) stored['guild_id'] = guildId;
    commands.set(scope, [...list.filter((c) => c !== existing), stored]);
    return stored;
  };

  const commandScope = (appId: string, guildId: string | undefined): { scope: string; guildId: string | null } => {
    if (appId !== APP_ID) throw unknownError('Unknown Application', 10002);
    if (guildId === undefined) return { scope: 'global', guildId: null };
    if (guildId !== GUILD_ID) throw unknownError('Missing Access', 50001, 403);
    return { scope: guildId, guildId };
  };

  type Handler = (req: RecordedRequest, params: string[]) => Reply;
  interface Route {
    method: string;
    pattern: RegExp;
    auth: boolean;
    handle: Handler;
  }
  const routes: Route[] = [];
  const route = (method: string, path: string, handle: Handler, auth = true): void => {
    const pattern = new RegExp(`^${path.replace(/:[a-zA-Z]+/g, '([^/]+)')}$`);
    routes.push({ method, pattern, auth, handle });
  };
  const bodyOf = (req: RecordedRequest): Obj => (isRecord(req.body) ? req.body : {});
  const ok = (body: unknown, after?: () => void): Reply => (after ? { status: 200, body, after } : { status: 200, body });
  const noContent = (after?: () => void): Reply => (after ? { status: 204, after } : { status: 204 });

  route('GET', '/gateway/bot', () =>
    ok({
      url: gatewayUrl,
      shards: 1,
      session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 },
    }),
  );
  route('GET', '/gateway', () => ok({ url: gatewayUrl }), false);
  route('GET', '/users/@me', () => ok({ ...BOT_USER, verified: true, mfa_enabled: false, email: null, locale: 'en-US' }));
  route('GET', '/users/:id', (_req, [id = '']) => {
    const known = users.get(id);
    if (!known) throw unknownError('Unknown User', 10013);
    return ok(known);
  });
  route('GET', '/applications/@me', () =>
    ok({
      id: APP_ID,
      name: BOT_USERNAME,
      icon: null,
      description: '',
      bot_public: true,
      bot_require_code_grant: false,
      verify_key: '0'.repeat(64),
      flags: 0,
      team: null,
      owner: user(HUMAN_USER_ID),
      bot: BOT_USER,
      approximate_guild_count: 1,
      interactions_endpoint_url: null,
      integration_types_config: { '0': {} },
    }),
  );
  route('GET', '/guilds/:gid/members/:uid', (_req, [gid, uid = '']) => {
    if (gid !== GUILD_ID) throw unknownError('Unknown Guild', 10004);
    if (uid === BOT_USER_ID) return ok({ ...botMember(), user: BOT_USER });
    if (uid === HUMAN_USER_ID) return ok({ ...humanMember(), user: user(HUMAN_USER_ID) });
    throw unknownError('Unknown Member', 10007);
  });

  // Interactions and their webhooks (no Authorization header: the interaction token authenticates).
  route(
    'POST',
    '/interactions/:id/:token/callback',
    (req, [id, interactionToken = '']) => {
      const state = interactions.get(interactionToken);
      if (!state || state.id !== id) throw unknownError('Unknown interaction', 10062);
      if (state.responded) throw unknownError('Interaction has already been acknowledged.', 40060, 400);
      const body = bodyOf(req);
      const type = body['type'];
      const data = isRecord(body['data']) ? body['data'] : {};
      let message: ApiMessage | undefined;
      let after: (() => void) | undefined;
      switch (type) {
        case 4: {
          if (validate) validateMessageBody(data, { create: true, files: req.files.length });
          message = makeMessage({ channelId: state.channelId, author: BOT_USER, body: data, files: req.files, webhook: state });
          state.originalId = message.id;
          const created = message;
          after = () => echoMessage('MESSAGE_CREATE', created);
          break;
        }
        case 5: {
          const flags = FLAG_LOADING | ((typeof data['flags'] === 'number' ? data['flags'] : 0) & FLAG_EPHEMERAL);
          message = makeMessage({ channelId: state.channelId, author: BOT_USER, body: { flags }, webhook: state });
          state.originalId = message.id;
          const created = message;
          after = () => echoMessage('MESSAGE_CREATE', created);
          break;
        }
        case 6:
        case 7: {
          if (state.kind !== 'component') throw unknownError('Interaction has no message to update', 50035, 400);
          state.originalId = state.componentMessageId;
          message = state.componentMessageId ? messages.get(state.componentMessageId) : undefined;
          if (type === 7 && message) {
            if (validate) validateMessageBody(data, { create: false, files: req.files.length });
            const edited = editMessage(message, data, req.files);
            after = () => echoMessage('MESSAGE_UPDATE', edited);
          }
          break;
        }
        case 8:
        case 9:
          break;
        default:
          throw formError('type', 'BASE_TYPE_CHOICES', `Value must be one of (4, 5, 6, 7, 8, 9, 10, 12).`);
      }
      state.responded = true;
      if (req.query['with_response'] !== 'true') return noContent(after);
      const callback: Obj = {
        interaction: {
          id: state.id,
          type: state.kind === 'command' ? 2 : 3,
          response_message_id: message?.id,
          response_message_loading: type === 5,
          response_message_ephemeral: message ? (message.flags & FLAG_EPHEMERAL) !== 0 : false,
        },
        resource: message ? { type, message } : { type },
      };
      return ok(callback, after);
    },
    false,
  );
  route(
    'POST',
    '/webhooks/:appId/:token',
    (req, [appId = '', interactionToken = '']) => {
      const state = interactionFor(appId, interactionToken);
      const body = bodyOf(req);
      if (validate) validateMessageBody(body, { create: true, files: req.files.length });
      const message = makeMessage({ channelId: state.channelId, author: BOT_USER, body, files: req.files, webhook: state });
      const after = (): void => echoMessage('MESSAGE_CREATE', message);
      return req.query['wait'] === 'true' ? ok(message, after) : noContent(after);
    },
    false,
  );
  route(
    'GET',
    '/webhooks/:appId/:token/messages/:mid',
    (_req, [appId = '', interactionToken = '', mid = '']) => ok(webhookMessage(interactionFor(appId, interactionToken), mid, false)),
    false,
  );
  route(
    'PATCH',
    '/webhooks/:appId/:token/messages/:mid',
    (req, [appId = '', interactionToken = '', mid = '']) => {
      const state = interactionFor(appId, interactionToken);
      const body = bodyOf(req);
      if (validate) validateMessageBody(body, { create: false, files: req.files.length });
      const message = editMessage(webhookMessage(state, mid, true), body, req.files);
      return ok(message, () => echoMessage('MESSAGE_UPDATE', message));
    },
    false,
  );
  route(
    'DELETE',
    '/webhooks/:appId/:token/messages/:mid',
    (_req, [appId = '', interactionToken = '', mid = '']) => {
      const state = interactionFor(appId, interactionToken);
      const message = webhookMessage(state, mid, false);
      messages.delete(message.id);
      if (state.originalId === message.id) state.originalId = null;
      return noContent();
    },
    false,
  );

  // Channels, messages, threads.
  route('GET', '/channels/:cid', (_req, [cid = '']) => ok(requireChannel(cid)));
  route('POST', '/channels/:cid/typing', (_req, [cid = '']) => {
    requireChannel(cid);
    return noContent();
  });
  route('POST', '/channels/:cid/messages', (req, [cid = '']) => {
    requireChannel(cid);
    const body = bodyOf(req);
    if (validate) validateMessageBody(body, { create: true, files: req.files.length });
    const message = makeMessage({ channelId: cid, author: BOT_USER, body, files: req.files });
    const thread = threads.get(cid);
    if (thread) {
      thread['message_count'] = Number(thread['message_count'] ?? 0) + 1;
      thread['last_message_id'] = message.id;
    }
    return ok(message, () => echoMessage('MESSAGE_CREATE', message));
  });
  const messageIn = (cid: string, mid: string): ApiMessage => {
    requireChannel(cid);
    const message = messages.get(mid);
    if (!message || message.channel_id !== cid) throw unknownError('Unknown Message', 10008);
    return message;
  };
  route('GET', '/channels/:cid/messages/:mid', (_req, [cid = '', mid = '']) => ok(messageIn(cid, mid)));
  route('GET', '/channels/:cid/messages', (req, [cid = '']) => {
    requireChannel(cid);
    const limitText = req.query['limit'] ?? '50';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > 100) throw formError('limit', 'NUMBER_TYPE_MAX', 'int value should be between 1 and 100.');
    const before = req.query['before'];
    const after = req.query['after'];
    for (const [field, value] of [['before', before], ['after', after]] as const) {
      if (value !== undefined && !/^\d+$/.test(value)) throw formError(field, 'NUMBER_TYPE_COERCE', `Value "${value}" is not snowflake.`);
    }
    const listed = [...messages.values()]
      .filter((m) => m.channel_id === cid && (m.flags & FLAG_EPHEMERAL) === 0)
      .filter((m) => (before === undefined || BigInt(m.id) < BigInt(before)) && (after === undefined || BigInt(m.id) > BigInt(after)))
      .sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : BigInt(b.id) < BigInt(a.id) ? -1 : 0));
    return ok(listed.slice(0, limit));
  });
  route('PATCH', '/channels/:cid/messages/:mid', (req, [cid = '', mid = '']) => {
    const message = messageIn(cid, mid);
    if (message.author.id !== BOT_USER_ID) throw unknownError('Cannot edit a message authored by another user', 50005, 403);
    const body = bodyOf(req);
    if (validate) validateMessageBody(body, { create: false, files: req.files.length });
    const edited = editMessage(message, body, req.files);
    return ok(edited, () => echoMessage('MESSAGE_UPDATE', edited));
  });
  route('DELETE', '/channels/:cid/messages/:mid', (_req, [cid = '', mid = '']) => {
    const message = messageIn(cid, mid);
    messages.delete(message.id);
    return noContent(() => gateway.echoDelete(mid, cid));
  });
  route('PUT', '/channels/:cid/messages/:mid/reactions/:emoji/@me', (_req, [cid = '', mid = '']) => {
    messageIn(cid, mid);
    return noContent();
  });
  route('DELETE', '/channels/:cid/messages/:mid/reactions/:emoji/@me', (_req, [cid = '', mid = '']) => {
    messageIn(cid, mid);
    return noContent();
  });
  const createThread = (req: RecordedRequest, parentId: string, id: string, defaultType: number): Reply => {
    const parent = requireChannel(parentId);
    if (parent['type'] !== 0) throw unknownError('Cannot execute action on this channel type', 50024, 400);
    const body = bodyOf(req);
    const name = body['name'];
    if (validate && (typeof name !== 'string' || name.length < 1 || name.length > 100)) {
      throw formError('name', 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    }
    const created = now();
    const thread: ApiThread = {
      id,
      type: typeof body['type'] === 'number' ? body['type'] : defaultType,
      guild_id: GUILD_ID,
      parent_id: parentId,
      owner_id: BOT_USER_ID,
      name: typeof name === 'string' ? name : 'thread',
      last_message_id: null,
      rate_limit_per_user: typeof body['rate_limit_per_user'] === 'number' ? body['rate_limit_per_user'] : 0,
      message_count: 0,
      member_count: 1,
      total_message_sent: 0,
      flags: 0,
      thread_metadata: {
        archived: false,
        auto_archive_duration: typeof body['auto_archive_duration'] === 'number' ? body['auto_archive_duration'] : 4320,
        archive_timestamp: created,
        locked: false,
        create_timestamp: created,
      },
    };
    threads.set(thread.id, thread);
    gateway.learnThread(thread.id);
    return { status: 201, body: thread, after: () => echoThread(thread) };
  };
  route('POST', '/channels/:cid/messages/:mid/threads', (req, [cid = '', mid = '']) => {
    messageIn(cid, mid);
    // Like Discord: a thread started from a message takes the message's id, and only one can exist.
    if (threads.has(mid)) throw unknownError('A thread has already been created for this message', 160004, 400);
    return createThread(req, cid, mid, 11);
  });
  route('POST', '/channels/:cid/threads', (req, [cid = '']) => createThread(req, cid, snowflake(), 12));
  route('PUT', '/channels/:cid/thread-members/@me', (_req, [cid = '']) => {
    if (!threads.has(cid)) throw unknownError('Unknown Channel', 10003);
    return noContent();
  });

  // Application commands.
  const commandRoutes = (prefix: string, guildIndex: number | null): void => {
    const scopeOf = (params: string[]): { scope: string; guildId: string | null } =>
      commandScope(params[0] ?? '', guildIndex === null ? undefined : (params[guildIndex] ?? ''));
    route('GET', prefix, (_req, params) => ok(commands.get(scopeOf(params).scope) ?? []));
    route('PUT', prefix, (req, params) => {
      const { scope, guildId } = scopeOf(params);
      if (!Array.isArray(req.body)) throw formError('_root', 'LIST_TYPE_CONVERT', 'Must be an array.');
      commands.set(scope, []);
      return ok(req.body.filter(isRecord).map((command) => storeCommand(scope, guildId, command)));
    });
    route('POST', prefix, (req, params) => {
      const { scope, guildId } = scopeOf(params);
      const body = bodyOf(req);
      const existed = (commands.get(scope) ?? []).some((c) => c['name'] === body['name']);
      const stored = storeCommand(scope, guildId, body);
      return { status: existed ? 200 : 201, body: stored };
    });
    route('DELETE', `${prefix}/:cmd`, (_req, params) => {
      const { scope } = scopeOf(params);
      const id = params[params.length - 1];
      const list = commands.get(scope) ?? [];
      if (!list.some((c) => c['id'] === id)) throw unknownError('Unknown application command', 10063);
      commands.set(scope, list.filter((c) => c['id'] !== id));
      return noContent();
    });
  };
  commandRoutes('/applications/:appId/commands', null);
  commandRoutes('/applications/:appId/guilds/:gid/commands', 1);

  const respond = (req: RecordedRequest, rawPath: string): Reply => {
    for (const interceptor of interceptors) {
      const answer = interceptor(req);
      if (answer) return answer;
    }
    const refused = refusals.get(/^\/channels\/([^/]+)/.exec(req.path)?.[1] ?? '');
    // Like Discord, a bad token is refused (by the route's check) before anything about the channel.
    if (refused && req.authorization === `Bot ${token}`) return refusalReply(refused);
    for (const r of routes) {
      if (r.method !== req.method) continue;
      const match = r.pattern.exec(rawPath);
      if (!match) continue;
      if (r.auth && req.authorization !== `Bot ${token}`) {
        return { status: 401, body: { message: '401: Unauthorized', code: 0 } };
      }
      const params = match.slice(1).map((p) => safeDecode(p ?? ''));
      try {
        return r.handle(req, params);
      } catch (error) {
        if (error instanceof DiscordError) return { status: error.status, body: error.body };
        throw error;
      }
    }
    return { status: 404, body: { message: 'Unknown', code: 0 } };
  };

  const handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const parsedUrl = new URL(req.url ?? '/', url);
        const prefix = '/api/v10';
        const path = parsedUrl.pathname.startsWith(`${prefix}/`) ? parsedUrl.pathname.slice(prefix.length) : parsedUrl.pathname;
        let reply: Reply;
        let parsed: { body: unknown; files: RecordedFile[] };
        try {
          parsed = await parseBody(Buffer.concat(chunks), req.headers['content-type']);
        } catch {
          parsed = { body: Buffer.concat(chunks).toString('utf8'), files: [] };
        }
        const { body, files } = parsed;
        const record: RecordedRequest = {
          method: req.method ?? 'GET',
          path: safeDecode(path),
          query: Object.fromEntries(parsedUrl.searchParams),
          body,
          files,
          authorization: req.headers.authorization ?? null,
          at,
          status: 0,
          response: undefined,
        };
        try {
          reply = respond(record, path);
        } catch (error) {
          reply = { status: 500, body: { message: `fake-discord: ${String(error)}`, code: 0 } };
        }
        record.status = reply.status;
        record.response = reply.body;
        requests.push(record);
        events.emit('request', record);
        const headers: Record<string, string> = { ...(reply.headers ?? {}) };
        if (reply.body !== undefined && reply.status !== 204) {
          headers['content-type'] ??= 'application/json';
          res.writeHead(reply.status, headers);
          res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
        } else {
          res.writeHead(reply.status, headers);
          res.end();
        }
        if (reply.after) {
          const after = reply.after;
          // After the answer is on the wire, as Discord's gateway echo follows its REST answer.
          setImmediate(() => {
            if (!isClosed()) after();
          });
        }
      })();
    });
  };

  return {
    requests,
    intercept: (interceptor) => {
      interceptors.push(interceptor);
      return () => {
        const index = interceptors.indexOf(interceptor);
        if (index >= 0) interceptors.splice(index, 1);
      };
    },
    refuseChannel: (channelId, refusal) => {
      refusals.set(channelId, refusal);
      return () => {
        if (refusals.get(channelId) === refusal) refusals.delete(channelId);
      };
    },
    handleRequest,
  };
}
