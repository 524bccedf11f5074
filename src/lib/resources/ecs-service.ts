/**
 * One ECS service per config service. Created on a bootstrap task definition (the configured
 * `image:`, or a never-pushed placeholder with 0 tasks until the first deploy); deploy owns the
 * task definition after that, provision owns the service's shape and its platform.
 */
import {
  CreateServiceCommand,
  DeleteServiceCommand,
  type DeploymentConfiguration,
  DescribeTaskDefinitionCommand,
  TagResourceCommand as EcsTagResource,
  RegisterTaskDefinitionCommand,
  type RegisterTaskDefinitionCommandInput,
  type TaskDefinition,
  UpdateServiceCommand,
  type UpdateServiceCommandInput,
  waitForServicesInactive,
} from '@aws-sdk/client-ecs';
import {
  DescribeRulesCommand,
  ModifyRuleCommand,
  paginateDescribeRules,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { type ApplyContext, settled, sgId, sleep, tagListLower, tgArn, waiter } from '../apply/context.js';
import { describeServices } from '../aws/ecs.js';
import { retryPropagation } from '../aws/propagation.js';
import { isProgressive, type ResolvedEnvironment, type ResolvedService, type Strategy } from '../config/resolve.js';
import * as n from '../desired/names.js';
import type {
  Bootstrap,
  EcsService,
  EcsStrategy,
  Facts,
  Progressive,
  RuleRef,
  RuntimePlatform,
} from '../desired/types.js';
import { PatchworkError } from '../errors.js';
import { pauseHookTimeoutMinutes } from '../release/hook-timeout.js';
import {
  containerDefinition,
  containerHealth,
  containerUser,
  runtimePlatformOf,
  taskDefinitionInput,
  writablePathsOf,
  writableVolumes,
} from '../release/taskdef.js';
import { alarm } from './alarm.js';
import {
  allPages,
  changed,
  type DesiredInput,
  hasTagDiff,
  ifExists,
  ignore,
  nameOf,
  ofKind,
  orNull,
  type ResourceKind,
  tagsFrom,
} from './kind.js';
import { loadBalancing } from './load-balancing.js';

const ECS_STRATEGY: Record<Strategy, EcsStrategy> = {
  rolling: 'ROLLING',
  'blue-green': 'BLUE_GREEN',
  canary: 'CANARY',
  linear: 'LINEAR',
};

/**
 * What ECS needs for a blue/green, canary or linear deployment of `svc`: the second target group,
 * the production and test listener rules, the role that shifts them, the bake times, a PAUSE hook
 * after test traffic moved (the CLI checks the green revision there and continues or rolls back;
 * when nobody answers within the deploy timeout, ECS rolls back) and the alarms that make ECS roll
 * back on its own.
 */
export function progressiveOf(input: DesiredInput, svc: ResolvedService): Progressive | null {
  const { target } = input;
  const d = target.deploy;
  if (!isProgressive(d.strategy)) return null;
  const alarms = [...(alarm.desired.environment?.(input) ?? []), ...(alarm.desired.service?.(input, svc) ?? [])].map(
    (a) => a.name,
  );
  return {
    bakeTimeInMinutes: d.bakeMinutes,
    canary: d.canary ? { canaryPercent: d.canary.percent, canaryBakeTimeInMinutes: d.canary.bakeMinutes } : null,
    linear: d.linear ? { stepPercent: d.linear.stepPercent, stepBakeTimeInMinutes: d.linear.stepBakeMinutes } : null,
    alternateTargetGroup: n.alternateTargetGroupName(svc),
    productionListenerRule: { listenerPort: target.https ? 443 : 80, priority: svc.route.priority },
    testListenerRule: { listenerPort: d.testListenerPort, priority: svc.route.priority },
    role: n.loadBalancerRoleName(target),
    pauseHookTimeoutMinutes: pauseHookTimeoutMinutes(d.timeoutSeconds),
    alarms: [...new Set(alarms)].sort(),
  };
}

const { PAUSE_STAGE } = n;

/**
 * ECS refuses to change a service's deployment strategy while one of its deployments is in progress
 * (InvalidParameterException): said as what to do, not as ECS's message alone. Null for other errors.
 */
export function strategySwitchRefused(err: unknown, want: EcsService, have: EcsService): PatchworkError | null {
  const e = err as { name?: string; message?: string };
  if (have.strategy === want.strategy || e?.name !== 'InvalidParameterException') return null;
  if (!/in progress/i.test(e.message ?? '')) return null;
  const env = want.tags['patchwork:env'] ?? '<env>';
  return new PatchworkError(
    'PW_STRATEGY_SWITCH_BLOCKED',
    `service ${want.name}: ECS does not change its deployment strategy (${have.strategy} → ${want.strategy}) while a deployment is in progress: ${e.message}`,
    {
      hint: `let the running deployment finish (patchwork status --env ${env} --watch) or stop it (patchwork rollback --env ${env}), then run patchwork provision --env ${env} again`,
      data: { service: want.name, from: have.strategy, to: want.strategy },
    },
  );
}

/**
 * The deploymentConfiguration ECS gets for a service (rolling, or a progressive strategy). UpdateService
 * keeps every member it is not sent (terraform-provider-aws PR #47096: hooks need an explicit `[]`), so a
 * switch to another strategy (`switching`) says all of the new one, and a switch back to rolling clears
 * the PAUSE hook and the rollback alarms; the other strategy's canary/linear configuration ECS keeps is
 * ignored by the one in force (and by observe).
 */
export function deploymentConfigurationOf(want: EcsService, switching = false): DeploymentConfiguration {
  const out: DeploymentConfiguration = {
    minimumHealthyPercent: want.deployment.minimumHealthyPercent,
    maximumPercent: want.deployment.maximumPercent,
    deploymentCircuitBreaker: { enable: want.deployment.circuitBreaker, rollback: want.deployment.rollback },
  };
  const p = want.progressive;
  // ROLLING is ECS's default: said only when switching back from another strategy.
  if (want.strategy !== 'ROLLING' || switching) out.strategy = want.strategy;
  if (!p) {
    if (switching) {
      out.lifecycleHooks = [];
      out.alarms = { alarmNames: [], enable: false, rollback: false };
    }
    return out;
  }
  out.bakeTimeInMinutes = p.bakeTimeInMinutes;
  if (p.canary) out.canaryConfiguration = { ...p.canary };
  if (p.linear) out.linearConfiguration = { ...p.linear };
  out.lifecycleHooks = [
    {
      targetType: 'PAUSE',
      lifecycleStages: [PAUSE_STAGE],
      timeoutConfiguration: { timeoutInMinutes: p.pauseHookTimeoutMinutes, action: 'ROLLBACK' },
    },
  ];
  out.alarms = { alarmNames: [...p.alarms], enable: p.alarms.length > 0, rollback: p.alarms.length > 0 };
  return out;
}

/**
 * Whether UpdateService must be sent loadBalancers: a load balancer change starts a new (rolling, when
 * the strategy changes with it) deployment, so a switch between progressive strategies on the same
 * pair, rules and role sends only the deploymentConfiguration.
 */
export function loadBalancersChanged(
  want: Pick<EcsService, 'progressive'>,
  have: Pick<EcsService, 'progressive'>,
  diff: Parameters<typeof changed>[0],
): boolean {
  if (changed(diff, 'loadBalancer')) return true;
  const w = want.progressive;
  const h = have.progressive;
  if (!w || !h) return !!w !== !!h;
  const key = (p: Progressive) =>
    JSON.stringify([p.alternateTargetGroup, p.productionListenerRule, p.testListenerRule, p.role]);
  return key(w) !== key(h);
}

/** The ARN of our rule at `ref` (listener port + priority), read at apply time. */
async function ruleArn(ctx: ApplyContext, ref: RuleRef): Promise<string> {
  const listenerArn = ctx.ids.listeners.get(ref.listenerPort);
  if (!listenerArn)
    throw new PatchworkError('PW_UNEXPECTED', `listener on port ${ref.listenerPort} does not exist yet`);
  const elb = await ctx.aws.get('elbv2');
  const pages = await allPages(paginateDescribeRules({ client: elb }, { ListenerArn: listenerArn }));
  const rule = pages.flatMap((p) => p.Rules ?? []).find((r) => r.Priority === String(ref.priority));
  if (!rule?.RuleArn)
    throw new PatchworkError(
      'PW_UNEXPECTED',
      `listener rule at priority ${ref.priority} on port ${ref.listenerPort} does not exist yet`,
    );
  return rule.RuleArn;
}

export function registryHost(target: ResolvedEnvironment, facts: Pick<Facts, 'accountId'>): string {
  return target.registry ?? `${facts.accountId}.dkr.ecr.${target.region}.amazonaws.com`;
}

/**
 * The task definition the first provision registers. A service with `image:` starts on that image
 * at its desired count. A service with `build:` has no image until the first deploy, so it gets a
 * placeholder (`<repo>:patchwork-bootstrap`, never pushed) in the `-bootstrap` family and 0 tasks.
 */
export function bootstrapOf(target: ResolvedEnvironment, svc: ResolvedService, facts: Facts): Bootstrap {
  const placeholder = svc.image === null;
  const roleArn = (role: string) => `arn:${facts.partition}:iam::${facts.accountId}:role/${role}`;
  return {
    family: placeholder ? n.bootstrapFamily(svc) : n.taskFamily(svc),
    image: svc.image ?? `${registryHost(target, facts)}/${n.repositoryName(svc)}:${n.BOOTSTRAP_TAG}`,
    placeholder,
    cpu: svc.cpu,
    memory: svc.memory,
    executionRole: roleArn(n.executionRoleName(svc)),
    taskRole: roleArn(n.taskRoleName(svc)),
    logGroup: n.logGroupName(svc),
    env: svc.env,
    secrets: svc.secrets,
    command: svc.command,
    readonlyRootFilesystem: svc.readonlyRootFilesystem,
    writablePaths: writablePathsOf(svc),
    // An `image:` service runs as its image's own non-root USER (when the registry told it), else 65532.
    user: containerUser(svc, svc.image ? facts.images?.[svc.name]?.user : null, undefined),
    healthCheck: containerHealth(svc.healthCheck),
  };
}

/** The RegisterTaskDefinition input of the bootstrap revision (the same builder deploy uses). */
export function bootstrapTaskDefinitionInput(
  want: EcsService & { bootstrap: Bootstrap },
  region: string,
): RegisterTaskDefinitionCommandInput {
  const b = want.bootstrap;
  return taskDefinitionInput({
    family: b.family,
    cpu: b.cpu,
    memory: b.memory,
    runtimePlatform: want.runtimePlatform,
    executionRoleArn: b.executionRole,
    taskRoleArn: b.taskRole,
    volumes: writableVolumes(b.writablePaths).volumes,
    containers: [
      containerDefinition({
        name: want.loadBalancer.containerName,
        image: b.image,
        port: want.loadBalancer.containerPort,
        env: b.env,
        secrets: b.secrets,
        command: b.command,
        readonlyRootFilesystem: b.readonlyRootFilesystem,
        writablePaths: b.writablePaths,
        user: b.user,
        healthCheck: b.healthCheck,
        logGroup: b.logGroup,
        region,
        streamPrefix: want.service ?? 'app',
      }),
    ],
    tags: tagListLower({ ...want.tags, 'patchwork:bootstrap': b.placeholder ? 'placeholder' : 'image' }),
  });
}

/** Registers the bootstrap task definition, or reuses the family's latest revision (a rerun after a crash). */
async function bootstrapTaskDefinition(ctx: ApplyContext, want: EcsService): Promise<string> {
  const ecs = await ctx.aws.get('ecs');
  const b = want.bootstrap;
  if (!b) throw new PatchworkError('PW_UNEXPECTED', `service ${want.name} has no bootstrap task definition`);
  const existing = await ecs
    .send(new DescribeTaskDefinitionCommand({ taskDefinition: b.family }))
    .catch(ignore('ClientException', 'InvalidParameterException'));
  const td = existing?.taskDefinition;
  if (td?.status === 'ACTIVE' && td.taskDefinitionArn) return td.taskDefinitionArn;
  const out = await ecs.send(
    new RegisterTaskDefinitionCommand(bootstrapTaskDefinitionInput({ ...want, bootstrap: b }, ctx.region)),
  );
  return out.taskDefinition!.taskDefinitionArn!;
}

/** A new revision of `td` that differs only in its platform (a platform change in the config). */
export function withPlatform(
  td: TaskDefinition,
  platform: RuntimePlatform,
  tags: { key?: string; value?: string }[],
): RegisterTaskDefinitionCommandInput {
  const input: RegisterTaskDefinitionCommandInput = {
    family: td.family,
    containerDefinitions: td.containerDefinitions,
    runtimePlatform: { ...platform },
  };
  if (td.requiresCompatibilities?.length) input.requiresCompatibilities = td.requiresCompatibilities;
  if (td.networkMode) input.networkMode = td.networkMode;
  if (td.cpu) input.cpu = td.cpu;
  if (td.memory) input.memory = td.memory;
  if (td.executionRoleArn) input.executionRoleArn = td.executionRoleArn;
  if (td.taskRoleArn) input.taskRoleArn = td.taskRoleArn;
  if (td.volumes?.length) input.volumes = td.volumes;
  if (td.ephemeralStorage) input.ephemeralStorage = td.ephemeralStorage;
  if (tags.length) input.tags = tags;
  return input;
}

async function serviceShape(ctx: ApplyContext, want: EcsService) {
  const p = want.progressive;
  const advancedConfiguration = p
    ? {
        alternateTargetGroupArn: tgArn(ctx, p.alternateTargetGroup),
        productionListenerRule: await ruleArn(ctx, p.productionListenerRule),
        testListenerRule: await ruleArn(ctx, p.testListenerRule),
        roleArn: `arn:${ctx.facts.partition}:iam::${ctx.facts.accountId}:role/${p.role}`,
      }
    : undefined;
  return {
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: want.subnets,
        securityGroups: want.securityGroups.map((g) => sgId(ctx, g)),
        assignPublicIp: want.assignPublicIp,
      },
    },
    loadBalancers: [
      {
        targetGroupArn: tgArn(ctx, want.loadBalancer.targetGroup),
        containerName: want.loadBalancer.containerName,
        containerPort: want.loadBalancer.containerPort,
        ...(advancedConfiguration ? { advancedConfiguration } : {}),
      },
    ],
    deploymentConfiguration: deploymentConfigurationOf(want),
    healthCheckGracePeriodSeconds: want.healthCheckGracePeriodSeconds,
    enableExecuteCommand: want.enableExecuteCommand,
    propagateTags: want.propagateTags as 'SERVICE',
  };
}

/**
 * A switch from a progressive strategy back to rolling, as UpdateService calls. ECS deploys a rolling
 * update into `loadBalancers[].targetGroupArn` once `advancedConfiguration` is gone, and the production
 * rule is then patchwork's again — but after an odd number of blue/green deployments it forwards to
 * the second group. Then the service first registers its new tasks in both groups (a rolling
 * deployment, waited for), the rule moves to the service's own group (healthy tasks there), and the
 * service leaves the second group (one more rolling deployment, waited for, so nothing is registered
 * in the group deleted after it). With traffic on its own group already, one UpdateService does.
 */
async function switchBack(
  ctx: ApplyContext,
  want: EcsService,
  had: Progressive,
): Promise<(input: UpdateServiceCommandInput) => Promise<void>> {
  const ecs = await ctx.aws.get('ecs');
  const elb = await ctx.aws.get('elbv2');
  const own = tgArn(ctx, want.loadBalancer.targetGroup);
  const entry = (targetGroupArn: string) => ({
    targetGroupArn,
    containerName: want.loadBalancer.containerName,
    containerPort: want.loadBalancer.containerPort,
  });
  const rule = ctx.ids.listeners.has(had.productionListenerRule.listenerPort)
    ? await ruleArn(ctx, had.productionListenerRule).catch(() => undefined)
    : undefined;
  const live = rule ? liveTargetGroup(await elb.send(new DescribeRulesCommand({ RuleArns: [rule] }))) : undefined;
  const update = async (input: UpdateServiceCommandInput) => {
    const out = await retryPropagation(`update service ${want.name}`, () => ecs.send(new UpdateServiceCommand(input)));
    const started = out.service?.deployments?.find((d) => d.status === 'PRIMARY')?.id;
    if (started) await deployed(ctx, want, started);
  };
  return async (input) => {
    if (!rule || !live || live === own) {
      await update({ ...input, loadBalancers: [entry(own)] });
      return;
    }
    await update({ ...input, loadBalancers: [entry(own), entry(live)] });
    await elb.send(new ModifyRuleCommand({ RuleArn: rule, Actions: [{ Type: 'forward', TargetGroupArn: own }] }));
    await update({ cluster: want.cluster, service: want.name, loadBalancers: [entry(own)] });
  };
}

/** The target group a forward rule sends (most of) its traffic to. */
export function liveTargetGroup(out: { Rules?: import('@aws-sdk/client-elastic-load-balancing-v2').Rule[] }) {
  const a = out.Rules?.[0]?.Actions?.find((x) => x.Type === 'forward');
  const groups = a?.ForwardConfig?.TargetGroups ?? [];
  if (!groups.length) return a?.TargetGroupArn;
  return [...groups].sort((x, y) => (y.Weight ?? 1) - (x.Weight ?? 1))[0]?.TargetGroupArn;
}

/** Until ECS deployment `id` of the service is the only one and COMPLETED (reads lag UpdateService). */
async function deployed(ctx: ApplyContext, want: EcsService, id: string): Promise<void> {
  const ecs = await ctx.aws.get('ecs');
  const deadline = Date.now() + Math.max(ctx.waitMs, 60_000);
  for (;;) {
    const out = await describeServices(ecs, want.cluster, [want.name]);
    const deps = out.services[0]?.deployments ?? [];
    const mine = deps.find((d) => d.id === id);
    if (mine?.rolloutState === 'FAILED')
      throw new PatchworkError(
        'PW_AWS_ERROR',
        `service ${want.name}: deployment ${id} failed: ${mine.rolloutStateReason}`,
      );
    if (deps.length === 1 && mine?.rolloutState === 'COMPLETED') return;
    if (Date.now() > deadline)
      throw new PatchworkError('PW_TIMEOUT', `service ${want.name}: deployment ${id} did not complete in time`);
    await sleep(Math.max(ctx.pollMs, 250));
  }
}

/** What DescribeServices says of a progressive strategy, in desired terms (names, rule positions). */
export function observedProgressive(
  s: import('@aws-sdk/client-ecs').Service,
  rules: Map<string, RuleRef>,
  targetGroups: Map<string, string>,
): Progressive | null {
  const dc = s.deploymentConfiguration;
  const adv = s.loadBalancers?.[0]?.advancedConfiguration;
  if (!dc?.strategy || dc.strategy === 'ROLLING') return null;
  const hook = dc.lifecycleHooks?.find(
    (h) =>
      h.targetType === 'PAUSE' &&
      h.lifecycleStages?.includes(PAUSE_STAGE) &&
      h.timeoutConfiguration?.action !== 'CONTINUE',
  );
  const ref = (arn: string | undefined): RuleRef => rules.get(arn ?? '') ?? { listenerPort: 0, priority: 0 };
  const on = dc.alarms?.enable && dc.alarms.rollback;
  return {
    bakeTimeInMinutes: dc.bakeTimeInMinutes ?? 0,
    canary:
      dc.strategy === 'CANARY'
        ? {
            canaryPercent: dc.canaryConfiguration?.canaryPercent ?? 0,
            canaryBakeTimeInMinutes: dc.canaryConfiguration?.canaryBakeTimeInMinutes ?? 0,
          }
        : null,
    linear:
      dc.strategy === 'LINEAR'
        ? {
            stepPercent: dc.linearConfiguration?.stepPercent ?? 0,
            stepBakeTimeInMinutes: dc.linearConfiguration?.stepBakeTimeInMinutes ?? 0,
          }
        : null,
    alternateTargetGroup: adv?.alternateTargetGroupArn ? nameOf(targetGroups, adv.alternateTargetGroupArn) : '',
    productionListenerRule: ref(adv?.productionListenerRule),
    testListenerRule: ref(adv?.testListenerRule),
    role: adv?.roleArn?.split('/').pop() ?? '',
    pauseHookTimeoutMinutes: hook ? (hook.timeoutConfiguration?.timeoutInMinutes ?? 1440) : 0,
    alarms: on ? [...(dc.alarms?.alarmNames ?? [])].sort() : [],
  };
}

/** The deployment configuration every service gets (rolling, circuit breaker with rollback). */
export const SERVICE_DEPLOYMENT = {
  minimumHealthyPercent: 100,
  maximumPercent: 200,
  circuitBreaker: true,
  rollback: true,
} as const;

const X86: RuntimePlatform = { cpuArchitecture: 'X86_64', operatingSystemFamily: 'LINUX' };

export const ecsService: ResourceKind<'ecs-service'> = {
  kind: 'ecs-service',
  desired: {
    service: (input, svc) => {
      const { target, facts } = input;
      const bootstrap = bootstrapOf(target, svc, facts);
      const bounds = target.autoscaling ? { min: target.autoscaling.min, max: target.autoscaling.max } : null;
      return [
        {
          kind: 'ecs-service',
          name: n.ecsServiceName(svc),
          service: svc.name,
          tags: { ...svc.tags },
          cluster: n.clusterName(target),
          launchType: 'FARGATE',
          desiredCount: svc.desiredCount,
          scaleBounds: bounds,
          subnets: [...facts.taskSubnets].sort(),
          securityGroups: [n.serviceSecurityGroupName(svc)],
          assignPublicIp: facts.tasksArePrivate ? 'DISABLED' : 'ENABLED',
          loadBalancer: {
            targetGroup: n.targetGroupName(svc),
            containerName: n.containerName(svc),
            containerPort: svc.port,
          },
          deployment: { ...SERVICE_DEPLOYMENT },
          strategy: ECS_STRATEGY[target.deploy.strategy],
          progressive: progressiveOf(input, svc),
          healthCheckGracePeriodSeconds: svc.healthCheck.gracePeriodSeconds,
          enableExecuteCommand: false,
          propagateTags: 'SERVICE',
          taskFamily: bootstrap.family,
          runtimePlatform: runtimePlatformOf(svc, svc.image ? facts.images?.[svc.name] : null),
          bootstrap,
        },
      ];
    },
  },
  observe: {
    // Security group ids and target group ARNs map back to names.
    after: ['security-group', 'target-group'],
    async read(ctx) {
      const { aws, desired, state, add } = ctx;
      const wanted = ofKind(desired, 'ecs-service');
      if (!wanted.length) return;
      // Listener rule ARN → where it is (port + priority), for advancedConfiguration.
      const rules = new Map<string, RuleRef>();
      for (const { listener: l, rules: rs } of (await loadBalancing(ctx)).listeners)
        for (const r of rs) rules.set(r.RuleArn!, { listenerPort: l.Port!, priority: Number(r.Priority) });
      const ecs = await aws.get('ecs');
      const cluster = wanted[0]!.cluster;
      const out = await orNull(
        describeServices(
          ecs,
          cluster,
          wanted.map((w) => w.name),
          { include: ['TAGS'] },
        ),
        'ClusterNotFoundException',
      );
      const active = (out?.services ?? []).filter((s) => s.status === 'ACTIVE');
      // The platform (and the task size, for the cost estimate) live in the task definition in use.
      const sizes: ({ cpu: number; memory: number } | null)[] = [];
      const platforms = await Promise.all(
        active.map(async (s, i) => {
          if (!s.taskDefinition) return X86;
          const td = await orNull(
            ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: s.taskDefinition })),
            'ClientException',
          );
          const t = td?.taskDefinition;
          sizes[i] = t?.cpu && t.memory ? { cpu: Number(t.cpu), memory: Number(t.memory) } : null;
          const p = t?.runtimePlatform;
          return {
            cpuArchitecture: (p?.cpuArchitecture ?? 'X86_64') as RuntimePlatform['cpuArchitecture'],
            operatingSystemFamily: (p?.operatingSystemFamily ?? 'LINUX') as 'LINUX',
          };
        }),
      );
      active.forEach((s, i) => {
        const vpc = s.networkConfiguration?.awsvpcConfiguration;
        const lb = s.loadBalancers?.[0];
        const dc = s.deploymentConfiguration;
        const w = wanted.find((x) => x.name === s.serviceName);
        const family = s.taskDefinition?.split('/').pop()?.replace(/:\d+$/, '') ?? null;
        const observedLb = {
          targetGroup: lb?.targetGroupArn ? nameOf(state.ids.targetGroups, lb.targetGroupArn) : '',
          containerName: lb?.containerName ?? '',
          containerPort: lb?.containerPort ?? 0,
        };
        const progressive = observedProgressive(s, rules, state.ids.targetGroups);
        // ECS swaps the pair at each blue/green deployment: either one serving is the desired pair.
        const wp = w?.progressive;
        if (wp && progressive && observedLb.targetGroup === wp.alternateTargetGroup) {
          if (progressive.alternateTargetGroup === w.loadBalancer.targetGroup) {
            observedLb.targetGroup = w.loadBalancer.targetGroup;
            progressive.alternateTargetGroup = wp.alternateTargetGroup;
          }
        }
        add({
          kind: 'ecs-service',
          name: s.serviceName!,
          ...(w?.service ? { service: w.service } : {}),
          id: s.serviceArn!,
          tags: tagsFrom(s.tags),
          cluster,
          launchType: s.launchType ?? (s.capacityProviderStrategy?.length ? 'CAPACITY_PROVIDER' : 'EC2'),
          desiredCount: s.desiredCount ?? 0,
          scaleBounds: w?.scaleBounds ?? null,
          subnets: [...(vpc?.subnets ?? [])].sort(),
          securityGroups: (vpc?.securityGroups ?? []).map((id) => nameOf(state.ids.securityGroups, id)).sort(),
          assignPublicIp: (vpc?.assignPublicIp ?? 'DISABLED') as 'DISABLED',
          loadBalancer: observedLb,
          deployment: {
            minimumHealthyPercent: dc?.minimumHealthyPercent ?? 100,
            maximumPercent: dc?.maximumPercent ?? 200,
            circuitBreaker: dc?.deploymentCircuitBreaker?.enable ?? false,
            rollback: dc?.deploymentCircuitBreaker?.rollback ?? false,
          },
          strategy: (dc?.strategy ?? 'ROLLING') as EcsStrategy,
          progressive,
          healthCheckGracePeriodSeconds: s.healthCheckGracePeriodSeconds ?? 0,
          enableExecuteCommand: s.enableExecuteCommand ?? false,
          propagateTags: s.propagateTags ?? 'NONE',
          taskFamily: family,
          runtimePlatform: platforms[i] ?? X86,
          meta: { taskDefinition: s.taskDefinition, runningCount: s.runningCount, size: sizes[i] ?? null },
        });
      });
    },
  },
  fields: {
    update: [
      'subnets',
      'securityGroups',
      'assignPublicIp',
      'loadBalancer',
      'deployment',
      'strategy',
      'progressive',
      'healthCheckGracePeriodSeconds',
      'enableExecuteCommand',
      'propagateTags',
      'runtimePlatform',
    ],
    replace: ['launchType', 'cluster'],
  },
  replacedWith: (child, parent) =>
    parent.kind === 'target-group' &&
    (child.loadBalancer.targetGroup === parent.name || child.progressive?.alternateTargetGroup === parent.name),
  async create(ctx, want) {
    const ecs = await ctx.aws.get('ecs');
    const taskDefinition = await bootstrapTaskDefinition(ctx, want);
    const shape = await serviceShape(ctx, want);
    await retryPropagation(`create service ${want.name}`, () =>
      ecs.send(
        new CreateServiceCommand({
          cluster: want.cluster,
          serviceName: want.name,
          taskDefinition,
          desiredCount: want.bootstrap?.placeholder ? 0 : want.desiredCount,
          launchType: 'FARGATE',
          schedulingStrategy: 'REPLICA',
          enableECSManagedTags: true,
          ...shape,
          tags: tagListLower(want.tags),
        }),
      ),
    ).then(
      () => 'created',
      // ECS answers a second CreateService for an ACTIVE service "Creation of service was not idempotent".
      ifExists(['InvalidParameterException'], async (err) => {
        if (!/not idempotent|already exists/i.test((err as Error).message ?? '')) return undefined;
        // Created by the first attempt a moment ago: ECS may still read it MISSING (eventual consistency).
        const found = await describeServices(ecs, want.cluster, [want.name], { missingGraceMs: 10_000 });
        return found.services.find((s) => s.status === 'ACTIVE')?.serviceArn;
      }),
    );
  },
  async update(ctx, want, have, diff) {
    const ecs = await ctx.aws.get('ecs');
    const shape = await serviceShape(ctx, want);
    const input: UpdateServiceCommandInput = { cluster: want.cluster, service: want.name };
    const back = have.progressive && !want.progressive ? await switchBack(ctx, want, have.progressive) : null;
    const count = diff.find((d) => d.field === 'desiredCount');
    if (count) input.desiredCount = count.to as number;
    if (changed(diff, 'subnets') || changed(diff, 'securityGroups') || changed(diff, 'assignPublicIp'))
      input.networkConfiguration = shape.networkConfiguration;
    const progressive = changed(diff, 'progressive') || changed(diff, 'strategy');
    if (loadBalancersChanged(want, have, diff)) input.loadBalancers = shape.loadBalancers;
    if (changed(diff, 'deployment') || progressive)
      input.deploymentConfiguration = deploymentConfigurationOf(want, have.strategy !== want.strategy);
    if (changed(diff, 'healthCheckGracePeriodSeconds'))
      input.healthCheckGracePeriodSeconds = shape.healthCheckGracePeriodSeconds;
    if (changed(diff, 'enableExecuteCommand')) input.enableExecuteCommand = shape.enableExecuteCommand;
    if (changed(diff, 'propagateTags')) input.propagateTags = shape.propagateTags;
    const current = have.meta?.taskDefinition;
    if (changed(diff, 'runtimePlatform') && typeof current === 'string') {
      // The running revision again, on the configured platform.
      const out = await ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: current, include: ['TAGS'] }));
      if (out.taskDefinition) {
        const next = await ecs.send(
          new RegisterTaskDefinitionCommand(withPlatform(out.taskDefinition, want.runtimePlatform, out.tags ?? [])),
        );
        input.taskDefinition = next.taskDefinition?.taskDefinitionArn;
      }
    }
    try {
      if (back) {
        await back(input);
      } else if (Object.keys(input).length > 2)
        await retryPropagation(`update service ${want.name}`, () => ecs.send(new UpdateServiceCommand(input)));
    } catch (err) {
      throw strategySwitchRefused(err, want, have) ?? err;
    }
    if (hasTagDiff(diff)) await ecs.send(new EcsTagResource({ resourceArn: have.id, tags: tagListLower(want.tags) }));
  },
  async delete(ctx, have) {
    const ecs = await ctx.aws.get('ecs');
    const names = ['ServiceNotFoundException', 'ServiceNotActiveException', 'ClusterNotFoundException'];
    const gone = ignore(...names);
    if (have.desiredCount > 0)
      await ecs
        .send(new UpdateServiceCommand({ cluster: have.cluster, service: have.name, desiredCount: 0 }))
        .catch(gone);
    const deleted = await ecs
      .send(new DeleteServiceCommand({ cluster: have.cluster, service: have.name, force: true }))
      .catch(gone);
    if (!deleted) return; // already gone (or its cluster is)
    settled(
      `service ${have.name} to drain`,
      await waitForServicesInactive(waiter(ctx, ecs), { cluster: have.cluster, services: [have.name] }),
      // ECS answers MISSING for a service deleted long enough ago.
      (reason) =>
        (reason as { failures?: { reason?: string }[] } | undefined)?.failures?.some((f) => f.reason === 'MISSING') ??
        false,
    );
  },
};
