#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import {
  RulesService,
  SCOPES,
  hashPassword,
  issuePasswordReset,
  newApiKey,
  sha256,
} from '@credits/api';
import { copyStore, openStore } from '@credits/store';
import { parseEnv, DEV_SERVICE_KEY } from './env.js';
import { createLogger } from './logger.js';
import { startServer } from './server.js';
import { seedDemo } from './seed.js';

const USAGE = `credits <command>

  serve [--seed-demo]     start the server (migrates first; --seed-demo seeds the demo workspace)
  migrate                 apply pending migrations
  seed --demo             create the demo workspace with credits in every wallet
  verify                  check every ledger invariant; exits 1 listing the wallets that break one
  keys create --name N --scopes a,b   mint a service key (scopes: wallets:read, usage:write, admin); shown once
  admin create --email E [--password P]  create a platform admin (password from --password or ADMIN_PASSWORD)
  auth reset-link --email E   print a password reset link for the account (valid 30 minutes, once;
                          for installations without mail: hand it to the person yourself)
  store copy --from URL --to URL      copy a whole installation (e.g. sqlite:./data/credits.db → postgres://…)
                          into an empty target in one transaction, then verify the target
  rules validate FILE     validate a rule document (exits 1 with the paths of its problems)
  rules test FILE         run a rule document's examples
  rules simulate FILE [--days N]  replay the last N days of jobs under FILE and the active rules

Settings come from the environment: DATABASE_URL, PORT, HOST, CREDITS_SERVICE_KEY, LOG_LEVEL, LOG_FORMAT,
HOLD_TTL_SEC, SWEEP_INTERVAL_MS, WEB_DIST.`;

async function withStore<T>(
  fn: (store: Awaited<ReturnType<typeof openStore>>) => Promise<T>,
): Promise<T> {
  const env = parseEnv();
  const store = await openStore({ url: env.DATABASE_URL });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'seed-demo': { type: 'boolean' },
      demo: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      name: { type: 'string' },
      scopes: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      days: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
    },
  });
  const [command, sub, file] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 1;
  }
  switch (command) {
    case 'serve': {
      const env = parseEnv();
      // Logs go through the logger; the demo lines below are for the person who started it.
      const server = await startServer(env, { handleSignals: true, logger: createLogger(env) });
      if (values['seed-demo']) {
        if (env.NODE_ENV === 'production') {
          console.error('Refusing to seed demo credentials in production.');
          await server.close();
          return 1;
        }
        const rules = new RulesService(server.store);
        const ws = await seedDemo({ store: server.store, rules, now: Date.now() });
        console.log(`Demo workspace "${ws.id}" is ready.`);
      }
      if (env.serviceKey === DEV_SERVICE_KEY) {
        console.log(`Development service key (demo only): ${DEV_SERVICE_KEY}`);
      }
      if (values['seed-demo']) {
        console.log(
          'Demo sign-ins (demo only): owner@demo.test / demo-owner-password, member@demo.test / demo-member-password, admin@demo.test / demo-admin-password',
        );
      }
      return -1; // keep running
    }
    case 'migrate':
      return withStore(async (store) => {
        console.log(`migrations applied: ${await store.migrate()}`);
        return 0;
      });
    case 'seed': {
      if (!values.demo) {
        console.error('seed needs --demo');
        return 1;
      }
      return withStore(async (store) => {
        const rules = new RulesService(store);
        await rules.seed(Date.now());
        const ws = await seedDemo({ store, rules, now: Date.now() });
        console.log(`Demo workspace "${ws.id}" is ready.`);
        return 0;
      });
    }
    case 'verify':
      return withStore(async (store) => {
        const report = await store.verify();
        console.log(
          `verify: ${report.workspaces} workspaces, ${report.wallets} wallets, ${report.entries} ledger entries, ${report.violations.length} violations`,
        );
        for (const v of report.violations) {
          console.log(`  ${v.workspaceId} ${v.wallet}: invariant ${v.invariant}: ${v.detail}`);
        }
        return report.ok ? 0 : 1;
      });
    case 'store': {
      if (sub !== 'copy' || !values.from || !values.to) {
        console.error(
          'usage: store copy --from sqlite:./data/credits.db --to postgres://user@host/db',
        );
        return 1;
      }
      const from = await openStore({ url: values.from });
      const to = await openStore({ url: values.to });
      try {
        await from.migrate();
        const { rows, verify } = await copyStore({ from, to });
        for (const [table, n] of Object.entries(rows)) console.log(`  ${table}: ${n} rows`);
        console.log(
          `verify on the target: ${verify.workspaces} workspaces, ${verify.wallets} wallets, ${verify.entries} entries, ${verify.violations.length} violations`,
        );
        for (const v of verify.violations)
          console.log(`  ${v.workspaceId} ${v.wallet}: invariant ${v.invariant}: ${v.detail}`);
        return verify.ok ? 0 : 1;
      } catch (e) {
        console.error(
          `copy failed, the target is unchanged: ${e instanceof Error ? e.message : String(e)}`,
        );
        return 1;
      } finally {
        await Promise.all([from.close(), to.close()]);
      }
    }
    case 'keys': {
      if (sub !== 'create' || !values.name || !values.scopes) {
        console.error('usage: keys create --name NAME --scopes wallets:read,usage:write,admin');
        return 1;
      }
      const scopes = values.scopes.split(',').map((s) => s.trim());
      const bad = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
      if (bad.length > 0) {
        console.error(`unknown scopes: ${bad.join(', ')} (known: ${SCOPES.join(', ')})`);
        return 1;
      }
      return withStore(async (store) => {
        const { key, prefix } = newApiKey('service');
        const record = await store.accounts.createApiKey({
          id: `key_${randomUUID().replaceAll('-', '')}`,
          keyHash: sha256(key),
          prefix,
          kind: 'service',
          workspaceId: null,
          scopes,
          name: values.name!,
          createdBy: 'cli',
          now: Date.now(),
          audit: { actor: 'cli', action: 'api_key.create', target: '' },
        });
        console.log(`service key ${record.id} (${record.scopes.join(', ')}); shown once:\n${key}`);
        return 0;
      });
    }
    case 'admin': {
      const password = values.password ?? process.env.ADMIN_PASSWORD;
      if (sub !== 'create' || !values.email || !password || password.length < 10) {
        console.error(
          'usage: admin create --email EMAIL --password PASSWORD (at least 10 characters; or ADMIN_PASSWORD)',
        );
        return 1;
      }
      return withStore(async (store) => {
        const user = await store.accounts.createUser({
          email: values.email!,
          name: 'Admin',
          passwordHash: await hashPassword(password),
          isAdmin: true,
          now: Date.now(),
          audit: { actor: 'cli', action: 'user.create_admin', target: '' },
        });
        console.log(`admin ${user.email} created (${user.id})`);
        return 0;
      });
    }
    case 'auth': {
      if (sub !== 'reset-link' || !values.email) {
        console.error('usage: auth reset-link --email EMAIL');
        return 1;
      }
      const env = parseEnv();
      const base = env.PUBLIC_URL ?? `http://${env.HOST}:${env.PORT}`;
      return withStore(async (store) => {
        const { token, expiresAt } = await issuePasswordReset({
          store,
          email: values.email!.toLowerCase(),
          now: Date.now(),
        });
        console.log(`${base}/reset?token=${token}`);
        console.error(`valid until ${new Date(expiresAt).toISOString()}, once`);
        return 0;
      });
    }
    case 'rules': {
      if (sub === 'simulate' && file) {
        const days = values.days === undefined ? 7 : Number(values.days);
        return (await import('./rules-cli.js')).rulesSimulate(file, days);
      }
      if (!file || (sub !== 'validate' && sub !== 'test')) {
        console.error(
          'usage: rules validate FILE | rules test FILE | rules simulate FILE [--days N]',
        );
        return 1;
      }
      const { validateRuleDocument, runExamples } = await import('@credits/rules');
      let input: unknown;
      try {
        input = JSON.parse(readFileSync(file, 'utf8'));
      } catch (e) {
        console.error(`cannot read ${file}: ${String(e)}`);
        return 1;
      }
      const result = validateRuleDocument(input);
      if (!result.ok) {
        for (const e of result.errors) console.log(`  ${e.path}: ${e.message}`);
        console.log(`invalid: ${result.errors.length} problems`);
        return 1;
      }
      if (sub === 'test') {
        const r = runExamples(result.doc);
        console.log(`examples: ${r.passed} passed, ${r.failed.length} failed`);
        for (const f of r.failed)
          console.log(`  examples[${f.index}] ${f.name}: expected ${f.expected}, got ${f.actual}`);
        return r.failed.length === 0 ? 0 : 1;
      }
      console.log('valid');
      return 0;
    }
    default:
      console.error(`unknown command: ${command}\n\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
