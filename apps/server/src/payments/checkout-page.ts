/** The sandbox's checkout page: plain HTML, no script, everything user-supplied escaped. */
import { formatMoney } from '@credits/domain';

export { formatMoney };

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]!);
}

/** Only the page's own inline style; no script, no frames, nothing from elsewhere. */
export const CHECKOUT_PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE = `
  :root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1d24; background: #f3f4f7; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; padding: 1.5rem; box-sizing: border-box; }
  main { background: #fff; border: 1px solid #d6d9e0; border-radius: 12px; padding: 2rem; width: 100%; max-width: 26rem; box-shadow: 0 2px 12px rgb(0 0 0 / 6%); }
  h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
  .note { margin: 0 0 1.5rem; color: #4a5060; font-size: .9rem; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .6rem 1.25rem; margin: 0 0 1.75rem; }
  dt { color: #4a5060; }
  dd { margin: 0; font-weight: 600; text-align: right; overflow-wrap: anywhere; }
  dd.price { font-size: 1.25rem; font-variant-numeric: tabular-nums; }
  .actions { display: flex; gap: .75rem; flex-wrap: wrap; }
  .actions form { flex: 1 1 8rem; margin: 0; }
  button, .back { display: block; width: 100%; box-sizing: border-box; font: inherit; font-weight: 600; padding: .8rem 1rem; border-radius: 8px; cursor: pointer; text-align: center; text-decoration: none; }
  .pay { background: #1f5bd8; color: #fff; border: 1px solid #1f5bd8; }
  .pay:hover { background: #1949b0; }
  .decline { background: #fff; color: #a3261b; border: 1px solid #a3261b; }
  .decline:hover { background: #fbeeed; }
  .back { background: #1f5bd8; color: #fff; }
  button:focus-visible, .back:focus-visible { outline: 3px solid #f2b705; outline-offset: 2px; }
  .status { margin: 0 0 1.5rem; padding: .75rem 1rem; border-radius: 8px; background: #eef1f7; }
  .status.error { background: #fbeeed; color: #7d1d14; }
`;

export function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main aria-labelledby="title">
${body}
</main>
</body>
</html>`;
}

export interface CheckoutPageModel {
  /** e.g. "100 Image Credits" */
  packLabel: string;
  priceCents: number;
  currency: string;
  workspaceName: string;
  orderId: string;
  status: string;
  /** Form actions, relative to the page. */
  payAction: string;
  declineAction: string;
  /** Hidden fields both forms carry. */
  fields: Record<string, string>;
  /** Where to go back to when the order is no longer pending. */
  backUrl: string;
}

/** The sandbox checkout: the pack, the price, the workspace, and Pay / Decline (or where it stands). */
export function renderCheckoutPage(m: CheckoutPageModel): string {
  const price = formatMoney({ amountMinor: m.priceCents, currency: m.currency });
  const hidden = Object.entries(m.fields)
    .map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`)
    .join('');
  const details = `<dl>
  <dt>Pack</dt><dd>${escapeHtml(m.packLabel)}</dd>
  <dt>Workspace</dt><dd>${escapeHtml(m.workspaceName)}</dd>
  <dt>Order</dt><dd><code>${escapeHtml(m.orderId)}</code></dd>
  <dt>Price</dt><dd class="price">${escapeHtml(price)}</dd>
</dl>`;
  const actions =
    m.status === 'pending'
      ? `<div class="actions">
  <form method="post" action="${escapeHtml(m.payAction)}">${hidden}<button type="submit" class="pay">Pay ${escapeHtml(price)}</button></form>
  <form method="post" action="${escapeHtml(m.declineAction)}">${hidden}<button type="submit" class="decline">Decline</button></form>
</div>`
      : `<p class="status" role="status">This checkout is already <strong>${escapeHtml(m.status)}</strong>.</p>
<a class="back" href="${escapeHtml(m.backUrl)}">Back to Credit Wallets</a>`;
  return layout(
    `Checkout: ${m.packLabel} for ${price}`,
    `<h1 id="title">Sandbox checkout</h1>
<p class="note">A test payment page: no card is charged. Pay adds the credits, Decline adds none.</p>
${details}
${actions}`,
  );
}

/** A short page for a checkout that cannot go on (unknown session, failed confirmation). */
export function renderCheckoutMessage(input: {
  title: string;
  message: string;
  backUrl?: string;
}): string {
  return layout(
    input.title,
    `<h1 id="title">${escapeHtml(input.title)}</h1>
<p class="status error" role="alert">${escapeHtml(input.message)}</p>
${input.backUrl ? `<a class="back" href="${escapeHtml(input.backUrl)}">Back to Credit Wallets</a>` : ''}`,
  );
}
