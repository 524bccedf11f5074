/** Task definition retention: revisions older than every kept release go, bounded per run. */
import { DeregisterTaskDefinitionCommand, ECSClient, ListTaskDefinitionsCommand } from '@aws-sdk/client-ecs';
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
  it('deregisters at most max per run (500 revisions)', async () => {
    const m = awsMock(ECSClient);
    const all = Array.from({ length: 500 }, (_, i) => arn('f', i + 1));
    m.on(ListTaskDefinitionsCommand)
      .resolvesOnce({ taskDefinitionArns: all.slice(0, 100), nextToken: 'x' })
      .resolves({ taskDefinitionArns: all.slice(100) });
    m.on(DeregisterTaskDefinitionCommand).resolves({});
    const ecs = new ECSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const n = await pruneTaskDefinitions(ecs, 'f', [arn('f', 500), arn('f', 490)], new Emitter(), 50);
    expect(n).toBe(50);
    expect(m.commandCalls(DeregisterTaskDefinitionCommand)[0]!.args[0].input.taskDefinition).toBe(arn('f', 1));
  });
});
