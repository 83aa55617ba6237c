import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Store } from '@credits/store';
import { escapeHtml, layout, renderCheckoutMessage } from './checkout-page.js';
import { postOwnWebhook } from './own-webhook.js';
import { returnLocation, safeReturnPath } from './provider.js';
import {
  SANDBOX_CARDS,
  SANDBOX_SIGNATURE_HEADER,
  type SandboxCard,
  type SandboxProvider,
} from './sandbox-provider.js';

const SETUP_SESSION = /^sbx_setup_[0-9a-f]{32}$/;

/** The sandbox's page for saving a card: one that always pays, one that always declines. */
export function renderSetupPage(m: {
  workspaceName: string;
  /** Where the forms post, relative to the page. */
  saveAction: string;
  fields: Record<string, string>;
}): string {
  const hidden = Object.entries(m.fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const button = (card: SandboxCard, cls: string, label: string) =>
    `<form method="post" action="${escapeHtml(m.saveAction)}">${hidden}<input type="hidden" name="card" value="${card}"><button type="submit" class="${cls}">${escapeHtml(label)}</button></form>`;
  return layout(
    'Save a card for auto top-up',
    `<h1 id="title">Sandbox: save a card</h1>
<p class="note">A test page: no card is stored. Auto top-up charges the card you save here when a wallet runs low.</p>
<dl><dt>Workspace</dt><dd>${escapeHtml(m.workspaceName)}</dd></dl>
<div class="actions">
  ${button('4242', 'pay', 'Save card ending 4242 (pays)')}
  ${button('0002', 'decline', 'Save card ending 0002 (declines)')}
</div>`,
  );
}

/**
 * `GET /checkout/sandbox/setup/:session` and `POST …/save`: the sandbox's page for saving a
 * payment method. Only a URL this server made (a token over the session, workspace, person
 * and return path) shows the page or saves; saving sends this server the signed
 * `payment_method.saved` webhook, exactly as a provider reports a saved method.
 */
export function sandboxSetupRoutes(deps: {
  sandbox: SandboxProvider;
  store: Store;
  publicUrl: () => string;
  deliver: (url: string, init: RequestInit) => Promise<Response>;
  clock: () => number;
  page: (html: string, status?: 200 | 403 | 404 | 502) => Response;
}) {
  const { sandbox, page } = deps;
  const routes = new Hono();
  const refused = () =>
    page(
      renderCheckoutMessage({
        title: 'Link not valid',
        message: 'Open the page again from Billing & Usage.',
      }),
      403,
    );

  /** The signed parameters of a setup link, or null when they do not check out. */
  const checked = (session: string, p: Record<string, unknown>) => {
    const s = (k: string) => (typeof p[k] === 'string' ? p[k] : '');
    const fields = {
      workspace: s('workspace'),
      by: s('by'),
      return: safeReturnPath(s('return') || '/billing'),
      token: s('token'),
    };
    const ok =
      SETUP_SESSION.test(session) &&
      fields.workspace !== '' &&
      fields.by !== '' &&
      sandbox.checkSetupToken({
        session,
        workspaceId: fields.workspace,
        createdBy: fields.by,
        returnUrl: fields.return,
        token: fields.token,
      });
    return ok ? fields : null;
  };

  routes.get('/checkout/sandbox/setup/:session', async (c) => {
    const fields = checked(c.req.param('session'), c.req.query());
    if (!fields) return refused();
    const workspace = await deps.store.getWorkspace(fields.workspace);
    if (!workspace) return refused();
    return page(
      renderSetupPage({
        workspaceName: workspace.name,
        saveAction: `${c.req.param('session')}/save`,
        fields,
      }),
    );
  });

  routes.post(
    '/checkout/sandbox/setup/:session/save',
    bodyLimit({ maxSize: 8 * 1024, onError: (c) => c.text('Request body too large', 413) }),
    async (c) => {
      const session = c.req.param('session');
      const form: Record<string, unknown> = await c.req.parseBody().catch(() => ({}));
      const fields = checked(session, form);
      const card = typeof form.card === 'string' ? form.card : '';
      if (!fields || !Object.hasOwn(SANDBOX_CARDS, card)) return refused();
      const rawBody = sandbox.methodSavedBody({
        session,
        workspaceId: fields.workspace,
        createdBy: fields.by,
        card: card as SandboxCard,
      });
      const failure = await postOwnWebhook({
        deliver: deps.deliver,
        publicUrl: deps.publicUrl(),
        provider: sandbox.name,
        rawBody,
        headers: {
          [SANDBOX_SIGNATURE_HEADER]: sandbox.sign({
            rawBody,
            timestamp: Math.floor(deps.clock() / 1000),
          }),
        },
      });
      const back = (status: string) =>
        returnLocation({
          publicUrl: deps.publicUrl(),
          returnUrl: fields.return,
          params: { card: status },
        });
      if (failure !== null)
        return page(
          renderCheckoutMessage({
            title: 'Card not saved',
            message: 'The card could not be confirmed with the server. Try again.',
            backUrl: back('failed'),
          }),
          502,
        );
      return c.redirect(back('saved'), 303);
    },
  );
  return routes;
}
