/** Task definition retention: the revisions history says are no longer kept go, without listing the family. */
import {
  ClientException,
  DeregisterTaskDefinitionCommand,
  ECSClient,
  ListTaskDefinitionsCommand,
} from '@aws-sdk/client-ecs';
import { afterAll, describe, expect, it } from 'vitest';
import { Emitter, type PatchworkEvent } from '../../src/lib/events.js';
import { deregisterRevisions, parseTaskDefinitionArn } from '../../src/lib/release/retention.js';
import { awsMock, restoreAwsMocks } from '../helpers/aws-mock.js';

const arn = (family: string, rev: number) => `arn:aws:ecs:eu-west-1:1:task-definition/${family}:${rev}`;
const ecs = () => new ECSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
afterAll(() => restoreAwsMocks());

describe('retention', () => {
  it('parses task definition ARNs', () => {
    expect(parseTaskDefinitionArn(arn('shop-prod-web', 12))).toEqual({ family: 'shop-prod-web', revision: 12 });
    expect(parseTaskDefinitionArn('nope')).toBeNull();
  });
  it('deregisters exactly the revisions given, one call each, and never lists the family', async () => {
    const m = awsMock(ECSClient);
    m.on(DeregisterTaskDefinitionCommand).resolves({});
    const events: PatchworkEvent[] = [];
    const n = await deregisterRevisions(ecs(), [arn('f', 3), arn('f', 7)], new Emitter((e) => events.push(e)));
    expect(n).toBe(2);
    expect(m.commandCalls(DeregisterTaskDefinitionCommand).map((c) => c.args[0].input.taskDefinition)).toEqual([
      arn('f', 3),
      arn('f', 7),
    ]);
    expect(m.commandCalls(ListTaskDefinitionsCommand)).toHaveLength(0);
    expect(events.some((e) => e.type === 'log' && /deregistered 2/.test(e.message))).toBe(true);
  });
  it('a revision already gone is skipped; other errors are thrown', async () => {
    const m = awsMock(ECSClient);
    m.on(DeregisterTaskDefinitionCommand, { taskDefinition: arn('f', 1) })
      .rejects(new ClientException({ message: 'The specified task definition does not exist.', $metadata: {} }))
      .on(DeregisterTaskDefinitionCommand, { taskDefinition: arn('f', 2) })
      .resolves({});
    expect(await deregisterRevisions(ecs(), [arn('f', 1), arn('f', 2)], new Emitter())).toBe(1);
    m.on(DeregisterTaskDefinitionCommand).rejects(new Error('boom'));
    await expect(deregisterRevisions(ecs(), [arn('f', 9)], new Emitter())).rejects.toThrow('boom');
  });
  it('nothing to deregister: no call at all', async () => {
    const m = awsMock(ECSClient);
    expect(await deregisterRevisions(ecs(), [], new Emitter())).toBe(0);
    expect(m.calls()).toHaveLength(0);
  });
});
