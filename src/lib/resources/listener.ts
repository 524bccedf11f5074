/**
 * The load balancer's listeners: 80 (or 443 with 80 redirecting to it), answering 404 when no rule
 * matches; with a progressive strategy also the test listener (HTTP on deploy.testListener.port),
 * whose rules reach the green revision before production traffic does.
 */
import {
  type Action,
  AddTagsCommand,
  CreateListenerCommand,
  DeleteListenerCommand,
  DescribeListenersCommand,
  ModifyListenerCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { type ApplyContext, lbArn, tagList, tgArn } from '../apply/context.js';
import { isProgressive, type ResolvedEnvironment } from '../config/resolve.js';
import { loadBalancerName } from '../desired/names.js';
import type { Listener, ListenerAction, Tags } from '../desired/types.js';
import { hasTagDiff, ifExists, ignore, ofKind, type ResourceKind } from './kind.js';
import { actionFrom, loadBalancing } from './load-balancing.js';

const NOT_FOUND: ListenerAction = {
  type: 'fixed-response',
  statusCode: '404',
  contentType: 'text/plain',
  body: 'no route (patchwork)',
};

function listenerOf(
  target: ResolvedEnvironment,
  port: number,
  protocol: 'HTTP' | 'HTTPS',
  certificateArn: string | null,
  sslPolicy: string | null,
  defaultAction: ListenerAction,
  tags: Tags,
): Listener {
  return {
    kind: 'listener',
    name: `${loadBalancerName(target)}:${port}`,
    tags,
    port,
    protocol,
    certificateArn,
    sslPolicy,
    defaultAction,
  };
}

function actionInput(ctx: ApplyContext, a: ListenerAction): Action {
  if (a.type === 'redirect')
    return {
      Type: 'redirect',
      RedirectConfig: { Protocol: a.protocol, Port: a.port, StatusCode: a.statusCode as 'HTTP_301' },
    };
  if (a.type === 'fixed-response') {
    return {
      Type: 'fixed-response',
      FixedResponseConfig: { StatusCode: a.statusCode, ContentType: a.contentType, MessageBody: a.body },
    };
  }
  return { Type: 'forward', TargetGroupArn: tgArn(ctx, a.targetGroup) };
}

function listenerInput(ctx: ApplyContext, want: Listener) {
  return {
    Port: want.port,
    Protocol: want.protocol,
    ...(want.certificateArn ? { Certificates: [{ CertificateArn: want.certificateArn }] } : {}),
    ...(want.sslPolicy ? { SslPolicy: want.sslPolicy } : {}),
    DefaultActions: [actionInput(ctx, want.defaultAction)],
  };
}

export const listener: ResourceKind<'listener'> = {
  kind: 'listener',
  desired: {
    environment: ({ target }) => {
      const tags = { ...target.tags };
      const https = target.https;
      const test = isProgressive(target.deploy.strategy)
        ? [listenerOf(target, target.deploy.testListenerPort, 'HTTP', null, null, NOT_FOUND, tags)]
        : [];
      if (!https) return [listenerOf(target, 80, 'HTTP', null, null, NOT_FOUND, tags), ...test];
      return [
        listenerOf(target, 443, 'HTTPS', https.certificateArn, https.sslPolicy, NOT_FOUND, tags),
        listenerOf(
          target,
          80,
          'HTTP',
          null,
          null,
          { type: 'redirect', protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' },
          tags,
        ),
        ...test,
      ];
    },
  },
  observe: {
    after: ['security-group'],
    async read(ctx) {
      const { listeners, tagsOf, tgNames } = await loadBalancing(ctx);
      const lbName = ofKind(ctx.desired, 'load-balancer')[0]?.name ?? '';
      for (const { listener: l } of listeners) {
        ctx.add({
          kind: 'listener',
          name: `${lbName}:${l.Port}`,
          id: l.ListenerArn!,
          tags: tagsOf.get(l.ListenerArn!) ?? {},
          port: l.Port!,
          protocol: (l.Protocol ?? 'HTTP') as 'HTTP',
          certificateArn: l.Certificates?.[0]?.CertificateArn ?? null,
          sslPolicy: l.Protocol === 'HTTPS' ? (l.SslPolicy ?? null) : null,
          defaultAction: actionFrom(l.DefaultActions, tgNames),
        });
      }
    },
  },
  fields: { update: ['protocol', 'certificateArn', 'sslPolicy', 'defaultAction'], replace: [] },
  replacedWith: (_child, parent) => parent.kind === 'load-balancer',
  // Any listener on patchwork's own load balancer is patchwork's.
  orphan: () => true,
  async create(ctx, want) {
    const elb = await ctx.aws.get('elbv2');
    const lb = lbArn(ctx, want.name.replace(/:\d+$/, ''));
    const arn = await elb
      .send(new CreateListenerCommand({ LoadBalancerArn: lb, ...listenerInput(ctx, want), Tags: tagList(want.tags) }))
      .then(
        (out) => out.Listeners![0]!.ListenerArn!,
        ifExists(['DuplicateListener', 'DuplicateListenerException'], async () => {
          const found = await elb.send(new DescribeListenersCommand({ LoadBalancerArn: lb }));
          return found.Listeners?.find((l) => l.Port === want.port)?.ListenerArn;
        }),
      );
    ctx.ids.listeners.set(want.port, arn);
  },
  async update(ctx, want, have, diff) {
    const elb = await ctx.aws.get('elbv2');
    if (diff.some((d) => !d.field.startsWith('tags.')))
      await elb.send(new ModifyListenerCommand({ ListenerArn: have.id, ...listenerInput(ctx, want) }));
    if (hasTagDiff(diff)) await elb.send(new AddTagsCommand({ ResourceArns: [have.id], Tags: tagList(want.tags) }));
  },
  async delete(ctx, have) {
    const elb = await ctx.aws.get('elbv2');
    await elb
      .send(new DeleteListenerCommand({ ListenerArn: have.id }))
      .catch(ignore('ListenerNotFound', 'ListenerNotFoundException'));
    ctx.ids.listeners.delete(have.port);
  },
};
