import { z } from 'zod';
import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
} from 'zod-openapi';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { Reason } from '@credits/domain';
import { REASON_CODES } from '@credits/api';
import { OPERATIONS, errorEnvelope, inputSchema, pathParams } from './operations.js';

/** Reasons any authenticated operation may answer. */
const COMMON_REASONS: Reason[] = ['VALIDATION', 'UNAUTHORIZED', 'FORBIDDEN'];

const statusOf = (reason: Reason) =>
  getHTTPStatusCodeFromError(new TRPCError({ code: REASON_CODES[reason] }));

/** Error responses grouped by HTTP status, each naming its reasons. */
function errorResponses(reasons: readonly Reason[]) {
  const byStatus = new Map<number, Reason[]>();
  for (const reason of [...COMMON_REASONS, ...reasons]) {
    const status = statusOf(reason);
    const list = byStatus.get(status) ?? [];
    if (!list.includes(reason)) list.push(reason);
    byStatus.set(status, list);
  }
  const content = { 'application/json': { schema: errorEnvelope } };
  const out: Record<string, { description: string; content: typeof content }> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: `\`error.data.reason\`: ${list.map((r) => `\`${r}\``).join(', ')}`,
      content,
    };
  }
  out['415'] = { description: 'A POST whose body is not JSON (`VALIDATION`)', content };
  out['500'] = {
    description:
      'Internal error (a failing database or disk): retry with the same idempotency key; `reason` is null',
    content,
  };
  return out;
}

/** What the HTTP API's `info.description` says; docs/api.md says more. */
const DESCRIPTION = [
  'The money operations of Credit Wallets for services in any language: plain JSON over HTTP.',
  'Each operation is the tRPC procedure named in its `x-trpc-procedure`, called in-process: the same',
  'access checks, input validation, idempotency and error reasons as `/trpc`.',
  '',
  'Authenticate with `Authorization: Bearer <API key>` (a service key with `usage:write`, or a',
  'workspace key); a browser session cookie works too, and then writes must send `x-credits-csrf: 1`.',
  'Writes take an `idempotencyKey`: the same key and body replay the first answer and move nothing;',
  'the same key with another body is `IDEMPOTENCY_CONFLICT`. Errors answer the tRPC error envelope;',
  'switch on `error.data.reason`.',
].join('\n');

let cached: ReturnType<typeof createDocument> | null = null;

/** The OpenAPI 3.1 document of `/api/v1`, generated from the router's zod schemas (built once). */
export function openApiDocument(): ReturnType<typeof createDocument> {
  if (cached) return cached;
  const paths: ZodOpenApiPathsObject = {};
  for (const op of OPERATIONS) {
    const shape = inputSchema(op.procedure).shape;
    const inPath = pathParams(op.path);
    const pick = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, shape[k]!]));
    const restKeys = Object.keys(shape).filter((k) => !inPath.includes(k));
    const rest = z.strictObject(pick(restKeys));
    const operation: ZodOpenApiOperationObject = {
      operationId: op.operationId,
      summary: op.summary,
      description: op.description,
      tags: [op.procedure.split('.')[0]!],
      'x-trpc-procedure': op.procedure,
      requestParams: {
        path: z.object(pick(inPath)),
        ...(op.rest === 'query' ? { query: rest } : {}),
      },
      ...(op.rest === 'body'
        ? { requestBody: { required: true, content: { 'application/json': { schema: rest } } } }
        : {}),
      responses: {
        '200': {
          description: 'OK',
          content: { 'application/json': { schema: op.response } },
        },
        ...errorResponses(op.reasons),
      },
    };
    paths[op.path] = { ...paths[op.path], [op.method]: operation };
  }
  cached = createDocument({
    openapi: '3.1.0',
    info: { title: 'Credit Wallets HTTP API', version: '1.0.0', description: DESCRIPTION },
    servers: [{ url: '/', description: 'this server' }],
    security: [{ bearerAuth: [] }, { sessionCookie: [] }],
    tags: [
      { name: 'wallets', description: 'Balances, status and actions' },
      { name: 'usage', description: 'Quote, reserve, capture, release, charge; history and jobs' },
    ],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key: a service key (`pnpm cli keys create`) or a workspace key',
        },
        sessionCookie: {
          type: 'apiKey',
          in: 'cookie',
          name: '__Host-cw_session',
          description: 'A browser session from sign-in; writes also need `x-credits-csrf: 1`',
        },
      },
    },
  });
  return cached;
}
