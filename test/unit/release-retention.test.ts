/** Task definition retention: revisions older than every kept release go, bounded per run. */
import {
  DeregisterTaskDefinitionCommand,
  ECSClient,
  ListTaskDefinitionsCommand,
  type ListTaskDefinitionsCommandInput,
} from '@aws-sdk/client-ecs';
import { afterAll, describe, expect, it } from 'vitest';
import { Emitter } from '../../src/lib/events.js';
import {
  parseTaskDefinitionArn,
  pruneTaskDefinitions,
  revisionsToDeregister,
} from '../../src/lib/release/retention.js';
import { awsMock, restoreAwsMocks } from '../helpers/aws-mock.js';

const arn = (family: string, rev: number) => `arn:aws:ecs:eu-west-1:1:task-definition/${family}:${rev}`;
afterAll(() => restoreAwsMocks());

describe('retention', () => {
  it('parses task definition ARNs', () => {
    expect(parseTaskDefinitionArn(arn('shop-prod-web', 12))).toEqual({ family: 'shop-prod-web', revision: 12 });
    expect(parseTaskDefinitionArn('nope')).toBeNull();
  });
  it('keeps every revision from the oldest kept release on, and other families', () => {
    const all = [1, 2, 3, 4, 5, 6].map((r) => arn('shop-prod-web', r)).concat(arn('shop-prod-web-bootstrap', 1));
    expect(revisionsToDeregister('shop-prod-web', all, [arn('shop-prod-web', 6), arn('shop-prod-web', 4)])).toEqual([
      arn('shop-prod-web', 1),
      arn('shop-prod-web', 2),
      arn('shop-prod-web', 3),
    ]);
    expect(revisionsToDeregister('shop-prod-web', all, [])).toEqual([]);
  });
  it('deregisters at most max per run (500 revisions), reading only the pages it needs', async () => {
    const m = awsMock(ECSClient);
    const { calls } = family(m, 'f', 500);
    m.on(DeregisterTaskDefinitionCommand).resolves({});
    const n = await pruneTaskDefinitions(ecs(), 'f', [arn('f', 500), arn('f', 490)], new Emitter(), 50);
    expect(n).toBe(50);
    // Page 1 (500..401) holds 89 revisions older than 490: one call, the oldest 50 of them go.
    expect(calls).toHaveLength(1);
    const gone = m.commandCalls(DeregisterTaskDefinitionCommand).map((c) => c.args[0].input.taskDefinition);
    expect(gone).toEqual(Array.from({ length: 50 }, (_, i) => arn('f', 401 + i)));
  });

  it('a family of 250 revisions whose kept ones are on page 1: one ListTaskDefinitions call, newest first', async () => {
    const m = awsMock(ECSClient);
    const { calls } = family(m, 'shop-prod-web', 250);
    m.on(DeregisterTaskDefinitionCommand).resolves({});
    const keep = [arn('shop-prod-web', 250), arn('shop-prod-web', 247), arn('shop-prod-web', 245)];
    const n = await pruneTaskDefinitions(ecs(), 'shop-prod-web', keep, new Emitter(), 50);
    expect(calls).toEqual([{ familyPrefix: 'shop-prod-web', status: 'ACTIVE', sort: 'DESC', maxResults: 100 }]);
    expect(n).toBe(50);
    const gone = m.commandCalls(DeregisterTaskDefinitionCommand).map((c) => c.args[0].input.taskDefinition);
    expect(gone).not.toContain(arn('shop-prod-web', 247));
    expect(gone.every((a) => parseTaskDefinitionArn(a ?? '')!.revision < 245)).toBe(true);
  });

  it('pages on past the oldest kept revision only for what this run may deregister', async () => {
    const m = awsMock(ECSClient);
    const { calls } = family(m, 'f', 250);
    m.on(DeregisterTaskDefinitionCommand).resolves({});
    // Oldest kept 130: page 1 (250..151) has no old revision, page 2 (150..51) has 79: stop there.
    expect(await pruneTaskDefinitions(ecs(), 'f', [arn('f', 250), arn('f', 130)], new Emitter(), 50)).toBe(50);
    expect(calls).toHaveLength(2);
    // Fewer old revisions than max: the family is read to its end (3 pages), all of them go.
    const again = family(m, 'f', 250);
    expect(await pruneTaskDefinitions(ecs(), 'f', [arn('f', 240), arn('f', 21)], new Emitter(), 50)).toBe(20);
    expect(again.calls).toHaveLength(3);
  });

  it('nothing kept in this family: no call at all', async () => {
    const m = awsMock(ECSClient);
    const { calls } = family(m, 'f', 10);
    expect(await pruneTaskDefinitions(ecs(), 'f', [arn('other', 3)], new Emitter())).toBe(0);
    expect(calls).toEqual([]);
  });
});

/** A family of `count` ACTIVE revisions served as ECS serves them: pages of maxResults (≤ 100), sort, nextToken. */
function family(m: ReturnType<typeof awsMock>, name: string, count: number) {
  const calls: Record<string, unknown>[] = [];
  m.on(ListTaskDefinitionsCommand).callsFake(async (input: ListTaskDefinitionsCommandInput) => {
    const { nextToken, ...rest } = input;
    calls.push(Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)));
    const revs = Array.from({ length: count }, (_, i) => i + 1);
    if (input.sort === 'DESC') revs.reverse();
    const size = Math.min(100, input.maxResults ?? 100);
    const from = nextToken ? Number(nextToken) : 0;
    const page = input.familyPrefix === name ? revs.slice(from, from + size) : [];
    return {
      taskDefinitionArns: page.map((r) => arn(name, r)),
      ...(input.familyPrefix === name && from + size < count ? { nextToken: String(from + size) } : {}),
    };
  });
  return { calls };
}

const ecs = () => new ECSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
