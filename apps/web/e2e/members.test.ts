// @vitest-environment node
import { expect, it } from 'vitest';
import { browserSuite } from './harness';
import { checkPage } from './owner-kit';

browserSuite('members and invitations', (s) => {
  it('an owner invites by email, the invitee signs up through the link and sees the workspace; the link works once; withdrawn links stop', async () => {
    const problems: string[] = [];
    let url = '';
    await s.ownerSession(async (page) => {
      await page.goto('/members');
      await page.waitForURL('**/settings/members');
      const table = page.getByTestId('members-table');
      await table.locator('[data-member="member@demo.test"]').waitFor();
      // The only owner can neither step down nor leave.
      const me = table.locator('[data-member="owner@demo.test"]');
      await expect(me.getByRole('combobox').isDisabled()).resolves.toBe(true);
      await expect(me.getByRole('button', { name: /^Remove/ }).isDisabled()).resolves.toBe(true);
      problems.push(...(await checkPage(page, 'settings-members')));

      await page.getByLabel('Email').fill('Newbie@Example.com');
      await page.getByRole('button', { name: 'Create invitation link' }).click();
      url = (await page.getByTestId('invite-url').textContent())!.trim();
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/invite\/[\w-]{40,}$/);
      const row = page.locator('[data-invitation="newbie@example.com"]');
      await expect(row.getByTestId('invitation-status').textContent()).resolves.toContain(
        'Waiting',
      );
      problems.push(...(await checkPage(page, 'settings-members-invited')));

      // A second invitation, withdrawn: its link stops working.
      await page.getByLabel('Email').fill('gone@example.com');
      await page.getByRole('button', { name: 'Create invitation link' }).click();
      const goneUrl = (await page.getByTestId('invite-url').textContent())!.trim();
      page.once('dialog', (d) => void d.accept());
      await page.getByRole('button', { name: 'Withdraw gone@example.com' }).click();
      await expect
        .poll(() =>
          page
            .locator('[data-invitation="gone@example.com"]')
            .getByTestId('invitation-status')
            .textContent(),
        )
        .toContain('Withdrawn');
      await s.session(null, async (gp) => {
        await gp.goto(goneUrl.replace(s.app.baseUrl, ''));
        await gp.getByText('This invitation was withdrawn').waitFor();
      });
    });

    // The invitee: signed out, opens the link, creates an account, joins.
    await s.session(null, async (gp) => {
      const path = url.replace(s.app.baseUrl, '');
      await gp.goto(path);
      await expect(gp.getByTestId('invitation-text').textContent()).resolves.toMatch(
        /Demo Owner invited\s*newbie@example\.com\s*to join\s*Demo workspace\s*as a member\./,
      );
      problems.push(...(await checkPage(gp, 'invite-signed-out')));
      await gp.getByRole('link', { name: 'Create an account and join' }).click();
      await gp.waitForURL('**/signup?**');
      await expect(gp.getByLabel('Email').inputValue()).resolves.toBe('newbie@example.com');
      await gp.getByLabel('Your name').fill('Nia Newbie');
      await gp.getByLabel('Password').fill('velvet-otter-canyon-42');
      await gp.getByRole('button', { name: 'Create account' }).click();
      await gp.waitForURL(`**${path}`);
      problems.push(...(await checkPage(gp, 'invite-signed-in')));
      await gp.getByRole('button', { name: 'Join Demo workspace' }).click();
      await gp.waitForURL('**/billing');
      // The member sees the workspace: it is the one chosen, with its wallets.
      const switcher = gp.getByTestId('workspace-switcher');
      await expect(switcher.inputValue()).resolves.toBe('demo');
      await gp.getByRole('heading', { name: 'Billing & Usage' }).waitFor();
      await gp.goto('/settings/members');
      await gp.locator('[data-member="newbie@example.com"]').waitFor();
      await gp.getByText('Only workspace owners can change them.').waitFor();
      problems.push(...(await checkPage(gp, 'settings-members-as-member')));

      // The link works once.
      await gp.goto(path);
      await gp.getByText('This invitation was accepted already').waitFor();
    });

    // The owner sees the new member and the invitation accepted.
    await s.ownerSession(async (op) => {
      await op.goto('/settings/members');
      await op.locator('[data-member="newbie@example.com"]').waitFor();
      await expect(
        op
          .locator('[data-invitation="newbie@example.com"]')
          .getByTestId('invitation-status')
          .textContent(),
      ).resolves.toContain('Accepted');
    });
    expect(problems).toEqual([]);
  });
});
