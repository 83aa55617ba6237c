import PDFDocument from 'pdfkit';
import { Hono } from 'hono';
import { CreditsError } from '@credits/domain';
import { buildReceipt, mayAccess, type Receipt } from '@credits/api';
import type { Store } from '@credits/store';
import type { AuthVariables } from './auth-middleware.js';

function problem(message: string, reason: string, status: 400 | 401 | 403 | 404) {
  return new Response(JSON.stringify({ error: { message, data: { reason } } }), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

const money = (cents: number, currency: string) =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() }).format(
    cents / 100,
  );
const when = (ms: number) =>
  new Intl.DateTimeFormat('en-US', {
    dateStyle: 'long',
    timeStyle: 'short',
    timeZone: 'UTC',
  }).format(new Date(ms)) + ' UTC';

/** The receipt as a one-page PDF (pdfkit, its built-in Helvetica: no font files to ship). */
export function receiptPdf(r: Receipt): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({
      size: 'A4',
      margin: 56,
      info: {
        Title: `Receipt ${r.orderId}`,
        Author: 'CloudMySite',
        Subject: 'Credit pack receipt',
      },
    });
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);

    doc.font('Helvetica-Bold').fontSize(20).text('CloudMySite');
    doc.moveDown(0.2).font('Helvetica').fontSize(12).fillColor('#555').text('Receipt');
    doc.moveDown(1.2).fillColor('#000');
    const rows: [string, string][] = [
      ['Receipt (order id)', r.orderId],
      ['Date paid', when(r.paidAt)],
      ['Workspace', `${r.workspaceName} (${r.workspaceId})`],
      ['Pack', r.pack],
      ['Price', money(r.priceCents, r.currency)],
      ['Currency', r.currency.toUpperCase()],
      ['Payment provider', r.provider],
      ['Provider reference', r.providerReference ?? '—'],
      ['Status', r.status === 'refunded' ? 'Refunded' : 'Paid'],
    ];
    if (r.status === 'refunded' && r.refundedCredits !== null)
      rows.push(['Credits refunded', r.refundedCredits.toLocaleString('en-US')]);
    for (const [label, value] of rows) {
      const y = doc.y;
      doc.font('Helvetica').fontSize(10).fillColor('#555').text(label, 56, y, { width: 150 });
      doc.font('Helvetica').fontSize(11).fillColor('#000').text(value, 216, y, { width: 323 });
      doc.moveDown(0.6);
    }
    doc.moveDown(1);
    doc
      .font('Helvetica-Bold')
      .fontSize(13)
      .text(`Total paid: ${money(r.priceCents, r.currency)}`, 56);
    doc.moveDown(2);
    doc
      .font('Helvetica')
      .fontSize(9)
      .fillColor('#555')
      .text(
        `The credits were added to the workspace's ${r.pack.replace(/^[\d,]+ /, '')} wallet. Buying a pack never changes the plan.`,
      );
    doc.end();
  });
}

/**
 * `GET /receipts/<orderId>.pdf?workspaceId=…`: a paid order's receipt as a PDF download, for
 * the same callers and access as `receipts.get` (session cookie or bearer key, read access).
 */
export function receiptRoutes(deps: { store: Store }) {
  const app = new Hono<{ Variables: AuthVariables }>();
  app.get('/receipts/:file', async (c) => {
    const caller = c.get('caller');
    if (!caller) return problem('Sign in, or send a bearer API key.', 'UNAUTHORIZED', 401);
    const match = /^([\w-]{1,100})\.pdf$/.exec(c.req.param('file'));
    const workspaceId = c.req.query('workspaceId') ?? '';
    if (!match || !workspaceId || workspaceId.length > 100)
      return problem('Ask for /receipts/<orderId>.pdf?workspaceId=<id>.', 'VALIDATION', 400);
    const { ok } = await mayAccess({ store: deps.store }, caller, workspaceId, 'read');
    if (!ok) return problem('You do not have access to this workspace.', 'FORBIDDEN', 403);
    let receipt: Receipt;
    try {
      receipt = await buildReceipt(deps.store, workspaceId, match[1]!);
    } catch (e) {
      if (e instanceof CreditsError && e.reason === 'NOT_FOUND')
        return problem(e.message, 'NOT_FOUND', 404);
      throw e;
    }
    const pdf = await receiptPdf(receipt);
    return new Response(new Uint8Array(pdf), {
      headers: {
        'content-type': 'application/pdf',
        'content-disposition': `attachment; filename="receipt-${receipt.orderId}.pdf"`,
        'cache-control': 'private, no-store',
      },
    });
  });
  return app;
}
