import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Hono, type Context as HonoContext } from 'hono';
import { TRPCError } from '@trpc/server';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { getErrorShape, getTRPCErrorFromUnknown } from '@trpc/server/unstable-core-do-not-import';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CreditsError } from '@credits/domain';
import { appRouter, createCaller, REASON_CODES, type Context } from '@credits/api';
import type { AuthVariables } from '../auth-middleware.js';
import { OPERATIONS, inputSchema, pathParams, type Operation } from './operations.js';
import { openApiDocument } from './document.js';

type Env = { Variables: AuthVariables };

/** The innermost schema under optional / default / nullable wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = s._zod.def as { type: string; innerType?: z.ZodType };
    if (
      (def.type === 'optional' || def.type === 'default' || def.type === 'nullable') &&
      def.innerType
    )
      s = def.innerType;
    else return s;
  }
}

/**
 * Query parameters as the procedure's input: repeated keys for arrays, integers for number
 * fields (anything else stays a string, so the procedure's own schema refuses it).
 */
export function queryInput(url: string, shape: Record<string, z.ZodType>): Record<string, unknown> {
  const params = new URL(url).searchParams;
  const input: Record<string, unknown> = {};
  for (const key of new Set(params.keys())) {
    const field = shape[key] ? unwrap(shape[key]) : undefined;
    const values = params.getAll(key);
    const scalar = (v: string) =>
      field && unwrap(field) instanceof z.ZodNumber && /^-?\d+$/.test(v) ? Number(v) : v;
    if (field instanceof z.ZodArray) {
      const element = unwrap(field.element as z.ZodType);
      input[key] = values.map((v) =>
        element instanceof z.ZodNumber && /^-?\d+$/.test(v) ? Number(v) : v,
      );
    } else input[key] = values.length === 1 ? scalar(values[0]!) : values.map(scalar);
  }
  return input;
}

function validation(message: string, field: string): TRPCError {
  return new TRPCError({
    code: REASON_CODES.VALIDATION,
    message,
    cause: new CreditsError('VALIDATION', message, { field }),
  });
}

/** The reference page: Swagger UI from node_modules (no CDN), its start-up in a file of its own (CSP). */
const DOCS_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Credit Wallets HTTP API</title>
    <link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png" />
    <link rel="stylesheet" href="/api/docs/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/api/docs/swagger-ui-bundle.js"></script>
    <script src="/api/docs/init.js"></script>
  </body>
</html>
`;
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;
const SWAGGER_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

/**
 * `/api/v1/…` (every operation in `OPERATIONS`), `/openapi.json` and the reference page at
 * `/api/docs`. The caller mounts the body limit, write guard and auth middleware on `/api/v1/*`
 * first, exactly as on `/trpc`.
 */
export function httpApiRoutes(deps: {
  createContext: (c: HonoContext<Env>) => Context;
  logger: Logger;
}) {
  const app = new Hono<Env>();
  const swaggerDir = dirname(
    createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'),
  );
  const files = new Map<string, Buffer>();

  app.get('/openapi.json', (c) => c.json(openApiDocument()));
  app.get('/api/docs', (c) => c.html(DOCS_HTML));
  app.get('/api/docs/init.js', (c) =>
    c.body(DOCS_INIT, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  );
  app.get('/api/docs/:file', (c) => {
    const name = c.req.param('file');
    const type = SWAGGER_FILES[name];
    if (!type) return c.notFound();
    let body = files.get(name);
    if (!body) {
      body = readFileSync(join(swaggerDir, name));
      files.set(name, body);
    }
    return c.body(new Uint8Array(body), 200, {
      'content-type': type,
      'cache-control': 'public, max-age=3600',
    });
  });

  for (const op of OPERATIONS) addOperation(app, op, deps);
  return app;
}

function addOperation(
  app: Hono<Env>,
  op: Operation,
  deps: { createContext: (c: HonoContext<Env>) => Context; logger: Logger },
) {
  const shape = inputSchema(op.procedure).shape as Record<string, z.ZodType>;
  const inPath = pathParams(op.path);
  const honoPath = op.path.replace(/\{(\w+)\}/g, ':$1');
  app.on(op.method.toUpperCase(), honoPath, async (c) => {
    const ctx = deps.createContext(c);
    let input: Record<string, unknown> = {};
    try {
      if (op.rest === 'body') {
        let body: unknown;
        try {
          body = await c.req.json();
        } catch {
          throw validation('The body is not valid JSON.', '(body)');
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body))
          throw validation('The body must be a JSON object.', '(body)');
        input = { ...(body as Record<string, unknown>) };
      } else if (op.rest === 'query') {
        input = queryInput(c.req.url, shape);
      }
      for (const name of inPath) {
        if (name in input) throw validation(`\`${name}\` goes in the path, not the request.`, name);
        input[name] = c.req.param(name);
      }
      return c.json(await op.call(createCaller(ctx), input), 200);
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      const status = getHTTPStatusCodeFromError(error);
      if (error.code === 'INTERNAL_SERVER_ERROR') {
        deps.logger.error(
          { reqId: c.get('requestId' as never), path: op.procedure, err: error.cause ?? error },
          'procedure failed',
        );
      }
      const shape = getErrorShape({
        config: appRouter._def._config,
        error,
        type: op.method === 'get' ? 'query' : 'mutation',
        path: op.procedure,
        input,
        ctx,
      });
      return c.json({ error: shape }, status as 400);
    }
  });
}
