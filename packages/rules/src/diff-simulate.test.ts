import { describe, expect, it } from 'vitest';
import { defaultRuleDocumentSource } from './default-rules.js';
import {
  compileRuleDocument,
  defaultRuleDocument,
  diffRuleDocuments,
  simulate,
  validateRuleDocument,
  type RuleDocument,
  type SimulationJob,
} from './index.js';

function draft(mutate: (doc: any) => void): RuleDocument {
  const doc = structuredClone(defaultRuleDocumentSource) as any;
  mutate(doc);
  doc.examples = [];
  const v = validateRuleDocument(doc);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.doc;
}

describe('diffRuleDocuments', () => {
  it('is empty for equal documents', () => {
    expect(
      diffRuleDocuments(defaultRuleDocument, structuredClone(defaultRuleDocumentSource)),
    ).toEqual([]);
  });

  it('names each changed, added and removed value by path', () => {
    const a = structuredClone(defaultRuleDocumentSource) as any;
    const b = structuredClone(defaultRuleDocumentSource) as any;
    b.pricing.video[1].event.params.perUnit = 12;
    b.pricing.video[1].description = 'raised';
    delete b.name;
    b.availability.image.push({ name: 'x' });
    expect(diffRuleDocuments(a, b)).toEqual([
      { path: 'name', before: 'Default pricing', after: undefined },
      { path: 'pricing.video[1].event.params.perUnit', before: 10, after: 12 },
      { path: 'pricing.video[1].description', before: undefined, after: 'raised' },
      { path: 'availability.image[0]', before: undefined, after: { name: 'x' } },
    ]);
  });

  it('reports a change of shape whole', () => {
    expect(diffRuleDocuments({ a: [1] }, { a: { 0: 1 } })).toEqual([
      { path: 'a', before: [1], after: { 0: 1 } },
    ]);
  });
});

describe('simulate', () => {
  const ws = { plan: 'pro', features: [] as string[], trialRemaining: 0 };
  const jobs: SimulationJob[] = [
    {
      id: 'j1',
      workspaceId: 'w1',
      job: { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' },
      workspace: ws,
    },
    {
      id: 'j2',
      workspaceId: 'w1',
      job: { kind: 'video', type: 'premium', durationSec: 5, resolution: '720p' },
      workspace: ws,
    },
    {
      id: 'j3',
      workspaceId: 'w2',
      job: { kind: 'video', type: 'standard', durationSec: 10, resolution: '720p' },
      workspace: ws,
    },
    { id: 'j4', workspaceId: 'w2', job: { kind: 'image', type: 'hero', count: 2 }, workspace: ws },
    { id: 'j5', workspaceId: 'w3', job: { kind: 'ai', tokens: 500 }, workspace: ws },
    {
      id: 'j6',
      workspaceId: 'w3',
      job: { kind: 'video', type: 'edit', durationSec: 5, resolution: '720p' },
      workspace: { ...ws, features: ['video_edit'] },
    },
  ];
  const active = compileRuleDocument(defaultRuleDocument, 1);

  it('finds nothing to report when the draft equals the active set', () => {
    const report = simulate({ jobs, draft: compileRuleDocument(defaultRuleDocument, 2), active });
    expect(report).toEqual({
      jobsRepriced: 6,
      changedCount: 0,
      changed: [],
      creditsDelta: 0,
      deltaByKind: { video: 0, image: 0, ai: 0 },
      topWorkspaces: [],
    });
  });

  it('reports changed jobs, deltas per kind and the most affected workspaces', () => {
    const d = draft((doc) => {
      doc.pricing.video[1].event.params.perUnit = 12; // Standard 720p 10 → 12
      doc.availability.video[0].conditions = {
        all: [{ fact: 'type', operator: 'equal', value: 'edit' }],
      }; // edit off for all
      doc.pricing.image[0].event.params.perUnit = 9; // hero 8 → 9
    });
    const report = simulate({ jobs, draft: compileRuleDocument(d, 2), active });
    expect(report.jobsRepriced).toBe(6);
    expect(report.changedCount).toBe(4);
    expect(report.changed).toEqual([
      { id: 'j1', workspaceId: 'w1', kind: 'video', before: 50, after: 60 },
      { id: 'j3', workspaceId: 'w2', kind: 'video', before: 100, after: 120 },
      { id: 'j4', workspaceId: 'w2', kind: 'image', before: 16, after: 18 },
      { id: 'j6', workspaceId: 'w3', kind: 'video', before: 40, after: 'FEATURE_UNAVAILABLE' },
    ]);
    expect(report.creditsDelta).toBe(10 + 20 + 2 - 40);
    expect(report.deltaByKind).toEqual({ video: -10, image: 2, ai: 0 });
    expect(report.topWorkspaces).toEqual([
      { workspaceId: 'w3', delta: -40 },
      { workspaceId: 'w2', delta: 22 },
      { workspaceId: 'w1', delta: 10 },
    ]);
    const capped = simulate({
      jobs,
      draft: compileRuleDocument(d, 2),
      active,
      changedLimit: 1,
      topLimit: 1,
    });
    expect(capped.changed).toHaveLength(1);
    expect(capped.changedCount).toBe(4);
    expect(capped.topWorkspaces).toEqual([{ workspaceId: 'w3', delta: -40 }]);
  });
});
