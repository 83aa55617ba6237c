import { describe, expect, it } from 'vitest';
import { mount, RouterLinkStub } from '@vue/test-utils';
import TrialBanner from './TrialBanner.vue';

const MESSAGE = 'Free trial includes one 5-second Standard Video at 720p.';

describe('TrialBanner', () => {
  it('shows the help article sentence word for word, and what is left', () => {
    const w = mount(TrialBanner, {
      props: { trial: { remaining: 50, message: MESSAGE } },
      global: { stubs: { RouterLink: RouterLinkStub } },
    });
    expect(w.get('.trial-message').text()).toBe(MESSAGE);
    expect(w.text()).toContain('50 free video credits left.');
  });

  it('links to the Video Studio when asked', () => {
    const w = mount(TrialBanner, {
      props: { trial: { remaining: 1_250, message: MESSAGE }, showLink: true },
      global: { stubs: { RouterLink: RouterLinkStub } },
    });
    expect(w.text()).toContain('1,250 free video credits left.');
    expect(w.getComponent(RouterLinkStub).props('to')).toBe('/studio/video');
  });
});
