/**
 * The policy files of examples/iam/ and README "IAM permissions" agree: the verb table names the
 * file POLICY_FILES gives each verb (the file an access-denied hint names), and each file's action
 * list in README is the one generated from the file. The files are well-formed least-privilege
 * policies: every statement names actions and resources, and every scoped ARN uses the placeholders.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AWS_CONTEXT, deniedAction, mapAwsError, POLICY_FILES } from '../../src/lib/aws/errors.js';
import type { PatchworkError } from '../../src/lib/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const FILES = ['provision.json', 'deploy.json', 'read-only.json', 'promote-source.json'] as const;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const section = README.slice(README.indexOf('## IAM permissions'), README.indexOf('## Development'));

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}
const load = (file: string) =>
  JSON.parse(readFileSync(join(ROOT, 'examples', 'iam', file), 'utf8')) as { Version: string; Statement: Statement[] };
const list = (x: string | string[]) => (Array.isArray(x) ? x : [x]);
/** The README line generated from a file: its actions, sorted, deduplicated. */
function actionsLine(file: string): string {
  const actions = [...new Set(load(file).Statement.flatMap((s) => list(s.Action)))].sort();
  return `[\`${file}\`](examples/iam/${file}): ${actions.map((a) => `\`${a}\``).join(', ')}`;
}

describe('examples/iam policy files and README "IAM permissions"', () => {
  it.each(FILES)('README lists exactly the actions of %s (regenerate the line from the file)', (file) => {
    const block = new RegExp(
      `<!-- iam-actions ${file.replace('.', '\\.')} [^>]*-->\\n(.*)\\n<!-- /iam-actions -->`,
    ).exec(section);
    expect(block, `README has the generated block for ${file}`).toBeTruthy();
    expect(block![1]).toBe(actionsLine(file));
  });

  it('the verb table names the file each verb needs, as the access-denied hint does', () => {
    const rows = [...section.matchAll(/^\| ((?:`\w+`(?:, )?)+) \| `([\w.-]+\.json)` \|$/gm)];
    const fromReadme: Record<string, string> = {};
    for (const [, verbs, file] of rows) for (const v of verbs!.matchAll(/`(\w+)`/g)) fromReadme[v[1]!] = file!;
    expect(fromReadme).toEqual(POLICY_FILES);
    for (const file of new Set(Object.values(POLICY_FILES))) expect(FILES as readonly string[]).toContain(file);
  });

  it.each(FILES)(
    '%s: every statement allows named actions on named resources, ARNs scoped with the placeholders',
    (file) => {
      const doc = load(file);
      expect(doc.Version).toBe('2012-10-17');
      const sids = doc.Statement.map((s) => s.Sid);
      expect(new Set(sids).size).toBe(sids.length);
      for (const s of doc.Statement) {
        expect(s.Effect).toBe('Allow');
        for (const a of list(s.Action)) expect(a).toMatch(/^[a-z0-9-]+:[A-Z][A-Za-z]+$/); // no action wildcards
        for (const r of list(s.Resource)) {
          if (r === '*') continue;
          expect(r).toMatch(/^arn:aws:[a-z0-9-]+:(<region>)?:<account>:/);
          if (
            !r.includes('aws-service-role') &&
            !r.includes('AWSServiceRoleFor') &&
            !r.includes(':certificate/') &&
            !r.endsWith('log-group:*')
          )
            // Image repositories are shared by an app's environments; promote reads any of its environments' history.
            expect(r, `${s.Sid} scoped to the environment`).toContain(
              r.includes(':repository/') || r.endsWith(':table/<app>-*-patchwork') ? '<app>-' : '<app>-<env>',
            );
        }
      }
    },
  );

  it('iam:PassRole is scoped to the environment roles, passed to ECS tasks only', () => {
    for (const file of ['provision.json', 'deploy.json']) {
      const pass = load(file).Statement.filter(
        (s) => list(s.Action).includes('iam:PassRole') && s.Sid !== 'PassLoadBalancerRole',
      );
      expect(pass).toHaveLength(1);
      expect(list(pass[0]!.Resource).every((r) => /role\/<app>-<env>-\*-(execution|task)$/.test(r))).toBe(true);
      expect(pass[0]!.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
    }
  });

  it('provision.json passes the load-balancer role (progressive strategies) to ECS itself only', () => {
    const pass = load('provision.json').Statement.filter((s) => s.Sid === 'PassLoadBalancerRole');
    expect(pass).toEqual([
      {
        Sid: 'PassLoadBalancerRole',
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: 'arn:aws:iam::<account>:role/<app>-<env>-ecs-lb',
        Condition: { StringEquals: { 'iam:PassedToService': 'ecs.amazonaws.com' } },
      },
    ]);
  });

  it('deploy.json grants the lock heartbeat (dynamodb:UpdateItem); read-only.json grants no write', () => {
    expect(actionsLine('deploy.json')).toContain('`dynamodb:UpdateItem`');
    const ro = load('read-only.json').Statement.flatMap((s) => list(s.Action));
    for (const a of ro) expect(a).toMatch(/:(Describe|Get|List|Query|BatchGet|FilterLogEvents)/);
  });
});

describe('PW_ACCESS_DENIED names the denied action and the policy file', () => {
  const denied = (message: string) => {
    const err = Object.assign(new Error(message), { name: 'AccessDeniedException', $metadata: {} });
    Object.defineProperty(err, AWS_CONTEXT, {
      value: { service: 'DynamoDB', operation: 'PutItem', region: 'eu-west-1', endpoint: undefined },
    });
    return err;
  };
  const msg =
    'User: arn:aws:iam::123456789012:user/ci is not authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:eu-west-1:123456789012:table/shop-prod-patchwork because no identity-based policy allows the dynamodb:PutItem action';

  it('from the message, with the verb', () => {
    expect(deniedAction(msg)).toBe('dynamodb:PutItem');
    const e = mapAwsError(denied(msg), 'deploy') as PatchworkError;
    expect(e.code).toBe('PW_ACCESS_DENIED');
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain('dynamodb:PutItem');
    expect(e.hint).toMatch(/^grant dynamodb:PutItem: `patchwork deploy` needs the policy examples\/iam\/deploy\.json/);
    expect(e.data).toMatchObject({ action: 'dynamodb:PutItem', policy: 'examples/iam/deploy.json' });
  });

  it('any AccessDenied* of any client; no verb: README names the files', () => {
    for (const name of ['AccessDenied', 'UnauthorizedOperation']) {
      const err = Object.assign(denied(msg), { name });
      const e = mapAwsError(err) as PatchworkError;
      expect(e.code).toBe('PW_ACCESS_DENIED');
      expect(e.hint).toContain('README "IAM permissions"');
    }
    expect((mapAwsError(denied(msg), 'status') as PatchworkError).hint).toContain('examples/iam/read-only.json');
  });
});
