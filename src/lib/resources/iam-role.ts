/**
 * Two IAM roles per service: the execution role (pull, logs, secrets) and the task role (the app's);
 * with a progressive strategy one more per environment, the role ECS assumes to shift listener rules.
 */
import {
  AttachRolePolicyCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DetachRolePolicyCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  ListAttachedRolePoliciesCommand,
  ListRolePoliciesCommand,
  PutRolePolicyCommand,
  TagRoleCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam';
import { tagList } from '../apply/context.js';
import { isProgressive, type ResolvedEnvironment, type ResolvedService } from '../config/resolve.js';
import * as n from '../desired/names.js';
import { canonicalJson, type Facts, type IamRole } from '../desired/types.js';
import { changed, hasTagDiff, ignore, ofKind, orNull, type ResourceKind, tagsFrom } from './kind.js';

const TRUST_SERVICE = 'ecs-tasks.amazonaws.com';
/** ECS itself (not its tasks) assumes the load-balancer role ("infrastructure IAM role for load balancers"). */
const ECS_SERVICE = 'ecs.amazonaws.com';

/**
 * The load-balancer role's policy: what ECS's managed AmazonECSInfrastructureRolePolicyForLoadBalancers
 * grants for blue/green deployments, scoped to this environment. ELB's Describe* actions take no
 * resource; the writes are scoped to the listeners and rules of this environment's load balancer
 * (whose ARNs end in ids only AWS knows, so `<lb name>/*`) and to the services' two target groups.
 */
export function loadBalancerRolePolicy(target: ResolvedEnvironment, facts: Facts): string {
  const elb = `arn:${facts.partition}:elasticloadbalancing:${target.region}:${facts.accountId}`;
  const lb = n.loadBalancerName(target);
  const groups = target.services
    .flatMap((s) => [n.targetGroupName(s), n.alternateTargetGroupName(s)])
    .sort()
    .map((g) => `${elb}:targetgroup/${g}/*`);
  return canonicalJson({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'DescribeLoadBalancing',
        Effect: 'Allow',
        Action: [
          'elasticloadbalancing:DescribeListeners',
          'elasticloadbalancing:DescribeRules',
          'elasticloadbalancing:DescribeTargetGroups',
          'elasticloadbalancing:DescribeTargetHealth',
        ],
        Resource: ['*'],
      },
      {
        Sid: 'ShiftOwnListenerRules',
        Effect: 'Allow',
        Action: ['elasticloadbalancing:ModifyListener', 'elasticloadbalancing:ModifyRule'],
        Resource: [`${elb}:listener/app/${lb}/*`, `${elb}:listener-rule/app/${lb}/*`],
      },
      {
        Sid: 'RegisterOwnTargets',
        Effect: 'Allow',
        Action: ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
        Resource: groups,
      },
    ],
  });
}

/** The execution role may pull only its service's repositories, write only its own log group, read only its secrets. */
export function executionPolicy(target: ResolvedEnvironment, svc: ResolvedService, facts: Facts): string {
  const { partition, accountId } = facts;
  const statements: Record<string, unknown>[] = [];
  if (target.registry === null) {
    statements.push(
      { Sid: 'EcrToken', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: ['*'] },
      {
        Sid: 'PullOwnRepository',
        Effect: 'Allow',
        Action: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        // The shared repository, and (after a switch from registryLayout: per-env) the environment's own
        // older one, so tasks and rollbacks of releases pushed before the switch still pull.
        Resource: [...new Set([n.repositoryName(svc), n.perEnvRepositoryName(svc)])].map(
          (repo) => `arn:${partition}:ecr:${target.region}:${accountId}:repository/${repo}`,
        ),
      },
    );
  }
  statements.push({
    Sid: 'WriteOwnLogs',
    Effect: 'Allow',
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Resource: [`arn:${partition}:logs:${target.region}:${accountId}:log-group:${n.logGroupName(svc)}:*`],
  });
  const refs = [...new Set(Object.values(svc.secrets))];
  const ssm = [...new Set(refs.filter((a) => a.split(':')[2] === 'ssm'))].sort();
  const sm = [...new Set(refs.filter((a) => a.split(':')[2] === 'secretsmanager').map(secretResourceArn))].sort();
  if (ssm.length)
    statements.push({ Sid: 'ReadOwnParameters', Effect: 'Allow', Action: ['ssm:GetParameters'], Resource: ssm });
  if (sm.length)
    statements.push({
      Sid: 'ReadOwnSecrets',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: sm,
    });
  if (refs.length && target.secretsKmsKeys.length) {
    // Customer-managed keys: decrypt only on behalf of SSM / Secrets Manager in the secrets' regions.
    const via = [
      ...new Set(
        refs.map((a) => {
          const [, , service, region] = a.split(':');
          return `${service === 'ssm' ? 'ssm' : 'secretsmanager'}.${region}.amazonaws.com`;
        }),
      ),
    ].sort();
    statements.push({
      Sid: 'DecryptOwnSecrets',
      Effect: 'Allow',
      Action: ['kms:Decrypt'],
      Resource: [...target.secretsKmsKeys],
      Condition: { StringEquals: { 'kms:ViaService': via } },
    });
  }
  return canonicalJson({ Version: '2012-10-17', Statement: statements });
}

/** A random suffix Secrets Manager appends to a secret's name in its ARN: `-` and 6 letters or digits. */
const SECRET_SUFFIX = /-[A-Za-z0-9]{6}$/;

/**
 * The IAM resource of a Secrets Manager `valueFrom`: the secret's own ARN, its first seven fields
 * (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf`), without the `:json-key:version-stage:version-id`
 * selector ECS reads; a partial ARN (a name without the random suffix) gets `-??????`, as the
 * Secrets Manager guide advises, so it matches the real ARN and no other secret whose name merely starts with it.
 */
export function secretResourceArn(valueFrom: string): string {
  const fields = valueFrom.split(':').slice(0, 7);
  const name = fields[6] ?? '';
  if (!SECRET_SUFFIX.test(name)) fields[6] = `${name}-??????`;
  return fields.join(':');
}

/** The service of an assume-role trust policy, or the canonical document when it says more than that. */
export function trustServiceOf(document: string | undefined): string {
  if (!document) return '';
  let doc: { Statement?: unknown };
  try {
    doc = JSON.parse(decodeURIComponent(document));
  } catch {
    return document;
  }
  const st = Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement];
  if (st.length === 1) {
    const s = st[0] as { Effect?: string; Action?: unknown; Principal?: { Service?: unknown }; Condition?: unknown };
    const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
    const svc = s.Principal?.Service;
    const services = Array.isArray(svc) ? svc : [svc];
    if (
      s.Effect === 'Allow' &&
      actions.length === 1 &&
      actions[0] === 'sts:AssumeRole' &&
      services.length === 1 &&
      !s.Condition
    ) {
      return String(services[0]);
    }
  }
  return canonicalJson(doc);
}

function trustDocument(service: string): string {
  return canonicalJson({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
}

export const iamRole: ResourceKind<'iam-role'> = {
  kind: 'iam-role',
  desired: {
    environment: ({ target, facts }) =>
      isProgressive(target.deploy.strategy)
        ? [
            {
              kind: 'iam-role',
              name: n.loadBalancerRoleName(target),
              tags: { ...target.tags },
              role: 'load-balancer',
              trustService: ECS_SERVICE,
              inlinePolicy: { name: n.LOAD_BALANCER_POLICY_NAME, document: loadBalancerRolePolicy(target, facts) },
              managedPolicyArns: [],
            },
          ]
        : [],
    service: ({ target, facts }, svc) => {
      const tags = { ...svc.tags };
      return [
        {
          kind: 'iam-role',
          name: n.executionRoleName(svc),
          service: svc.name,
          tags,
          role: 'execution',
          trustService: TRUST_SERVICE,
          inlinePolicy: { name: n.EXECUTION_POLICY_NAME, document: executionPolicy(target, svc, facts) },
          managedPolicyArns: [],
        },
        {
          kind: 'iam-role',
          name: n.taskRoleName(svc),
          service: svc.name,
          tags,
          role: 'task',
          trustService: TRUST_SERVICE,
          inlinePolicy: null,
          managedPolicyArns: [...new Set(svc.taskRolePolicyArns)].sort(),
        },
      ];
    },
  },
  observe: {
    // The listeners tell whether a progressive strategy left its role behind (below).
    after: ['listener'],
    async read({ aws, desired, state, add }) {
      const wanted: IamRole[] = ofKind(desired, 'iam-role');
      if (!wanted.length) return;
      // Under rolling, a test listener still there means a progressive strategy was switched off: its role is looked for, to be deleted.
      const lbRole = `${desired.env.name}-ecs-lb`;
      const ports = new Set(ofKind(desired, 'listener').map((l) => l.port));
      const leftTestListener = [...state.ids.listeners.keys()].some((p) => !ports.has(p));
      if (leftTestListener && !wanted.some((w) => w.name === lbRole))
        wanted.push({
          kind: 'iam-role',
          name: lbRole,
          tags: {},
          role: 'load-balancer',
          trustService: ECS_SERVICE,
          inlinePolicy: { name: n.LOAD_BALANCER_POLICY_NAME, document: '' },
          managedPolicyArns: [],
        });
      const iam = await aws.get('iam');
      await Promise.all(
        wanted.map(async (w: IamRole) => {
          const got = await orNull(
            iam.send(new GetRoleCommand({ RoleName: w.name })),
            'NoSuchEntity',
            'NoSuchEntityException',
          );
          if (!got?.Role) return;
          const [inline, attached] = await Promise.all([
            w.inlinePolicy
              ? orNull(
                  iam.send(new GetRolePolicyCommand({ RoleName: w.name, PolicyName: w.inlinePolicy.name })),
                  'NoSuchEntity',
                  'NoSuchEntityException',
                )
              : Promise.resolve(null),
            w.role === 'task'
              ? iam.send(new ListAttachedRolePoliciesCommand({ RoleName: w.name }))
              : Promise.resolve(null),
          ]);
          add({
            kind: 'iam-role',
            name: w.name,
            ...(w.service ? { service: w.service } : {}),
            id: got.Role.Arn!,
            tags: tagsFrom(got.Role.Tags),
            role: w.role,
            trustService: trustServiceOf(got.Role.AssumeRolePolicyDocument),
            inlinePolicy:
              inline?.PolicyDocument && w.inlinePolicy
                ? {
                    name: w.inlinePolicy.name,
                    document: canonicalJson(JSON.parse(decodeURIComponent(inline.PolicyDocument))),
                  }
                : null,
            // Only the task role's attachments are read (the execution role gets none from patchwork).
            managedPolicyArns: attached
              ? (attached.AttachedPolicies ?? []).map((p) => p.PolicyArn!).sort()
              : [...w.managedPolicyArns],
          });
        }),
      );
    },
  },
  fields: { update: ['trustService', 'inlinePolicy', 'managedPolicyArns'], replace: [] },
  // Not desired: a progressive strategy's role, left after a switch back to rolling.
  orphan: (have) => have.role === 'load-balancer' && have.tags['managed-by'] === 'patchwork',
  async create(ctx, want) {
    const iam = await ctx.aws.get('iam');
    await iam
      .send(
        new CreateRoleCommand({
          RoleName: want.name,
          AssumeRolePolicyDocument: trustDocument(want.trustService),
          Description: `patchwork ${want.role} role`,
          Tags: tagList(want.tags),
        }),
      )
      .catch(ignore('EntityAlreadyExists', 'EntityAlreadyExistsException'));
    if (want.inlinePolicy) {
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: want.name,
          PolicyName: want.inlinePolicy.name,
          PolicyDocument: want.inlinePolicy.document,
        }),
      );
    }
    for (const arn of want.managedPolicyArns)
      await iam.send(new AttachRolePolicyCommand({ RoleName: want.name, PolicyArn: arn }));
  },
  async update(ctx, want, have, diff) {
    const iam = await ctx.aws.get('iam');
    if (changed(diff, 'trustService')) {
      await iam.send(
        new UpdateAssumeRolePolicyCommand({ RoleName: want.name, PolicyDocument: trustDocument(want.trustService) }),
      );
    }
    if (changed(diff, 'inlinePolicy') && want.inlinePolicy) {
      await iam.send(
        new PutRolePolicyCommand({
          RoleName: want.name,
          PolicyName: want.inlinePolicy.name,
          PolicyDocument: want.inlinePolicy.document,
        }),
      );
    }
    if (changed(diff, 'managedPolicyArns')) {
      for (const arn of want.managedPolicyArns.filter((a) => !have.managedPolicyArns.includes(a)))
        await iam.send(new AttachRolePolicyCommand({ RoleName: want.name, PolicyArn: arn }));
      for (const arn of have.managedPolicyArns.filter((a) => !want.managedPolicyArns.includes(a)))
        await iam.send(new DetachRolePolicyCommand({ RoleName: want.name, PolicyArn: arn }));
    }
    if (hasTagDiff(diff)) await iam.send(new TagRoleCommand({ RoleName: want.name, Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const iam = await ctx.aws.get('iam');
    const gone = ignore('NoSuchEntity', 'NoSuchEntityException');
    const [attached, inline] = await Promise.all([
      iam.send(new ListAttachedRolePoliciesCommand({ RoleName: have.name })).catch(gone),
      iam.send(new ListRolePoliciesCommand({ RoleName: have.name })).catch(gone),
    ]);
    for (const p of attached?.AttachedPolicies ?? [])
      await iam.send(new DetachRolePolicyCommand({ RoleName: have.name, PolicyArn: p.PolicyArn })).catch(gone);
    for (const name of inline?.PolicyNames ?? [])
      await iam.send(new DeleteRolePolicyCommand({ RoleName: have.name, PolicyName: name })).catch(gone);
    await iam.send(new DeleteRoleCommand({ RoleName: have.name })).catch(gone);
  },
};
