/**
 * Names patchwork derives from `<app>-<env>-<service>` must not make two resources one: service `x`
 * and service `x-b` under a progressive strategy (x's alternate target group is x-b's target group),
 * `x` and `x-bootstrap` under any (x's bootstrap task definition family). Refused at config time
 * (PW_NAME_CLASH, exit 2, file:line:path, before any AWS call); names are never truncated to fit
 * AWS's 32-character limit, so a long name is refused for its length rather than cut onto another's.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/lib/config/load.js';
import { resolveEnvironment } from '../../src/lib/config/resolve.js';
import { derivedNames, nameClashes, SERVICE_ALARM_SUFFIXES } from '../../src/lib/desired/names.js';
import { ErrorCodes, PatchworkError } from '../../src/lib/errors.js';
import { SERVICE_ALARM_SUFFIXES as STATUS_ALARM_SUFFIXES } from '../../src/lib/status/index.js';

const config = (o: { app?: string; services: string[]; deploy?: string; alarms?: boolean }) =>
  [
    `app: ${o.app ?? 'shop'}`,
    'region: eu-west-1',
    'services:',
    ...o.services.flatMap((s, i) => [
      `  ${s}:`,
      '    build: { context: . }',
      '    port: 8080',
      `    route: { paths: ["/${i}/*"] }`,
    ]),
    'environments:',
    `  prod: { desiredCount: 1${o.alarms ? ', alarms: { cpuPercent: 80 }' : ''} }`,
    ...(o.deploy ? [`deploy: ${o.deploy}`] : []),
    '',
  ].join('\n');

const resolve = (yaml: string) => resolveEnvironment(parseConfig(yaml, 'patchwork.yml', '/tmp'), 'prod', {});
const refusal = (yaml: string): PatchworkError => {
  try {
    resolve(yaml);
  } catch (err) {
    if (err instanceof PatchworkError) return err;
    throw err;
  }
  throw new Error('accepted');
};

describe('derived name clashes', () => {
  it('blue-green: x and x-b both claim the target group shop-prod-x-b', () => {
    const err = refusal(config({ services: ['x', 'x-b'], deploy: '{ strategy: blue-green }' }));
    expect(err.code).toBe('PW_NAME_CLASH');
    expect(ErrorCodes.PW_NAME_CLASH).toBe(2);
    // file:line path: the second service's key (line 8), naming both owners and the resource.
    expect(err.message).toBe(
      'patchwork.yml:8 services.x-b: service "x-b"\'s target group and service "x"\'s alternate target group would both be the target group "shop-prod-x-b" (strategy blue-green adds -b for the alternate target group): one AWS resource claimed twice',
    );
    expect(err.hint).toMatch(/rename one of the services/);
    expect(err.data?.issues).toEqual([
      expect.objectContaining({ file: 'patchwork.yml', line: 8, path: 'services.x-b' }),
    ]);
  });

  it('canary and linear too, whichever service is listed first', () => {
    for (const strategy of ['canary', 'linear'])
      expect(refusal(config({ services: ['x-b', 'x'], deploy: `{ strategy: ${strategy} }` })).message).toContain(
        `patchwork.yml:8 services.x: service "x"'s alternate target group and service "x-b"'s target group would both be the target group "shop-prod-x-b" (strategy ${strategy} adds -b for the alternate target group)`,
      );
  });

  it('rolling: x and x-b are fine (no alternate target group); x and x-bootstrap are not', () => {
    const env = resolve(config({ services: ['x', 'x-b'], alarms: true }));
    expect(env.services.map((s) => s.fullName)).toEqual(['shop-prod-x', 'shop-prod-x-b']);
    const err = refusal(config({ services: ['x', 'x-bootstrap'] }));
    expect(err.code).toBe('PW_NAME_CLASH');
    expect(err.message).toContain(
      'service "x-bootstrap"\'s task definition family and service "x"\'s bootstrap task definition family would both be the task definition family "shop-prod-x-bootstrap"',
    );
  });

  it('long names are refused for their length, never truncated onto one target group name', () => {
    // Cut to 32 characters, both would be "a-long-app-name-here-prod-checko".
    const yaml = config({ app: 'a-long-app-name-here', services: ['checkout-one', 'checkout-two'] });
    const err = refusal(yaml);
    expect(err.code).toBe('PW_CONFIG_INVALID');
    expect(err.message).toContain('"a-long-app-name-here-prod-checkout-one" is 38 characters; AWS allows 32');
    expect(err.message).toContain('"a-long-app-name-here-prod-checkout-two" is 38 characters');
    // Near the limit: 31 characters pass rolling; blue-green needs 2 more for the -b and is refused.
    const long = { app: 'shopx', services: ['service-of-20-chars1'] };
    expect(resolve(config(long)).services[0]!.fullName).toBe('shopx-prod-service-of-20-chars1');
    const bg = refusal(config({ ...long, deploy: '{ strategy: blue-green }' }));
    expect(bg.message).toContain('needs a second target group "shopx-prod-service-of-20-chars1-b" (33 characters)');
    // Within the limit, names that differ only past the 32nd character cannot exist: each is whole.
    const names = derivedNames({ name: 'shop-prod', progressive: true, alarms: true }, [
      { name: 'abcdefghijklmnopqrst', fullName: 'shop-prod-abcdefghijklmnopqrst', repository: 'shop-a' },
    ]);
    expect(names.filter((n) => n.namespace === 'target group').map((n) => n.name)).toEqual([
      'shop-prod-abcdefghijklmnopqrst',
      'shop-prod-abcdefghijklmnopqrst-b',
    ]);
  });

  it('names of different kinds may be equal (a target group and an ECS service share a name on purpose)', () => {
    const names = derivedNames({ name: 'shop-prod', progressive: true, alarms: true }, [
      { name: 'web', fullName: 'shop-prod-web', repository: 'shop-web' },
      { name: 'api', fullName: 'shop-prod-api', repository: 'shop-api' },
    ]);
    expect(nameClashes(names)).toEqual([]);
    expect(names.filter((n) => n.name === 'shop-prod-web').map((n) => n.namespace)).toEqual([
      'target group',
      'ECS service',
      'log group',
      'task definition family',
    ]);
  });

  it('finds a clash between an environment resource and a service one', () => {
    const clashes = nameClashes([
      { namespace: 'IAM role', name: 'shop-prod-ecs-lb', service: null, role: 'load-balancer role of ECS' },
      { namespace: 'IAM role', name: 'shop-prod-ecs-lb', service: 'ecs', role: 'task role' },
      { namespace: 'log group', name: 'shop-prod-ecs-lb', service: 'ecs-lb', role: 'log group' },
    ]);
    expect(clashes).toEqual([
      {
        first: expect.objectContaining({ service: null }),
        second: expect.objectContaining({ service: 'ecs', role: 'task role' }),
      },
    ]);
  });

  it('the service alarm names are the ones status attributes', () => {
    expect([...SERVICE_ALARM_SUFFIXES]).toEqual([...STATUS_ALARM_SUFFIXES]);
  });
});
