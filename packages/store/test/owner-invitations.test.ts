import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TestStore } from './dialects.js';
import { T0, workspace } from './fixtures.js';

const DAY = 24 * 3600 * 1000;
const audit = { actor: 'user:owner', action: 'workspace.invitation.create', target: '' };

describe.each(DIALECTS)('invitations ($name)', (d) => {
  let t: TestStore;
  beforeEach(async (ctx) => {
    if (d.skip) ctx.skip();
    t = await d.make();
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  async function user(email: string) {
    return t.store.accounts.createUser({
      email,
      name: email.split('@')[0]!,
      passwordHash: 'x',
      isAdmin: false,
      now: T0,
    });
  }
  function invite(workspaceId: string, id: string, email: string, tokenHash: string) {
    return t.store.accounts.createInvitation({
      id,
      workspaceId,
      email,
      role: 'member',
      createdBy: 'user:owner',
      createdAt: T0,
      expiresAt: T0 + 7 * DAY,
      tokenHash,
      now: T0,
      audit,
    });
  }

  it('a link works once, even when two accepts race; the member joins in the same write', async () => {
    const ws = await workspace(t.store);
    const u = await user('nia@example.com');
    await invite(ws.id, 'inv_1', 'nia@example.com', 'h1');
    const accept = () =>
      t.store.accounts.acceptInvitation({
        tokenHash: 'h1',
        userId: u.id,
        email: 'nia@example.com',
        now: T0 + 1000,
      });
    const results = await Promise.all([accept(), accept(), accept()]);
    expect(results.filter((r) => r !== null)).toEqual([{ workspaceId: ws.id, role: 'member' }]);
    expect(await t.store.accounts.role({ workspaceId: ws.id, userId: u.id })).toBe('member');
    const [inv] = await t.store.accounts.invitations(ws.id);
    expect(inv).toMatchObject({ acceptedAt: T0 + 1000, acceptedBy: `user:${u.id}` });
    const log = await t.store.accounts.auditLog({ workspaceId: ws.id, limit: 10 });
    expect(log.items.map((e) => e.action)).toContain('workspace.invitation.accept');
  });

  it('refuses another email, an expired, revoked or superseded link', async () => {
    const ws = await workspace(t.store);
    const u = await user('nia@example.com');
    await invite(ws.id, 'inv_1', 'nia@example.com', 'h1');
    const accept = (tokenHash: string, email: string, now: number) =>
      t.store.accounts.acceptInvitation({ tokenHash, userId: u.id, email, now });
    expect(await accept('h1', 'other@example.com', T0 + 1)).toBeNull();
    expect(await accept('h1', 'nia@example.com', T0 + 7 * DAY)).toBeNull();
    // A second invitation of the same email voids the first.
    await invite(ws.id, 'inv_2', 'nia@example.com', 'h2');
    expect(await accept('h1', 'nia@example.com', T0 + 2)).toBeNull();
    // Resend: a new hash; the old one stops.
    const again = await t.store.accounts.reissueInvitation({
      id: 'inv_2',
      workspaceId: ws.id,
      tokenHash: 'h3',
      expiresAt: T0 + 9 * DAY,
      now: T0 + 3,
      audit,
    });
    expect(again).toMatchObject({ sentCount: 2, expiresAt: T0 + 9 * DAY });
    expect(await accept('h2', 'nia@example.com', T0 + 4)).toBeNull();
    expect(
      await t.store.accounts.revokeInvitation({
        id: 'inv_2',
        workspaceId: 'elsewhere',
        now: T0 + 5,
        audit,
      }),
    ).toBe(false);
    expect(
      await t.store.accounts.revokeInvitation({
        id: 'inv_2',
        workspaceId: ws.id,
        now: T0 + 5,
        audit,
      }),
    ).toBe(true);
    expect(await accept('h3', 'nia@example.com', T0 + 6)).toBeNull();
    expect(await t.store.accounts.role({ workspaceId: ws.id, userId: u.id })).toBeNull();
    const byToken = await t.store.accounts.invitationByToken('h3');
    expect(byToken).toMatchObject({
      id: 'inv_2',
      workspaceName: 'Test workspace',
      revokedAt: T0 + 5,
    });
  });

  it('an owner who accepts a member invitation stays owner', async () => {
    const ws = await workspace(t.store);
    const u = await user('own@example.com');
    await t.store.accounts.addMember({
      workspaceId: ws.id,
      userId: u.id,
      role: 'owner',
      now: T0,
      audit: { actor: 'test', action: 'workspace.member.add', target: '' },
    });
    await invite(ws.id, 'inv_1', 'own@example.com', 'h1');
    expect(
      await t.store.accounts.acceptInvitation({
        tokenHash: 'h1',
        userId: u.id,
        email: 'own@example.com',
        now: T0 + 1,
      }),
    ).toEqual({ workspaceId: ws.id, role: 'owner' });
  });
});
