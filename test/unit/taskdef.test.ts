/** Task definition derivation: digest pinning, release tags, secrets, logs, user, health check. */
import type { TaskDefinition } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { deriveTaskDefinition, digestOf, isDigestPinned, pinImage } from '../../src/lib/release/taskdef.js';
import { target } from './provision-fixtures.js';

const D = `sha256:${'a'.repeat(64)}`;
const YAML = `app: shop
region: eu-west-1
services:
  web:
    build: { context: . }
    port: 8080
    cpu: 512
    memory: 1024
    healthCheck: { path: /healthz, command: ["/app/web", "-healthcheck"] }
    env: { LOG_LEVEL: info, A: b }
    secrets: { DB_PASSWORD: "arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db" }
    readonlyRootFilesystem: true
environments:
  prod: {}
`;

const BASE: TaskDefinition = {
  family: 'shop-prod-web-bootstrap',
  executionRoleArn: 'arn:aws:iam::123456789012:role/shop-prod-web-execution',
  taskRoleArn: 'arn:aws:iam::123456789012:role/shop-prod-web-task',
  containerDefinitions: [{ name: 'web', image: 'reg/shop-prod-web:patchwork-bootstrap', user: '65532', cpu: 0 }],
};

const facts = {
  image: `127.0.0.1:5000/shop-prod-web@${D}`,
  sha: 'f'.repeat(40),
  deployer: 'arn:aws:iam::1:user/ci',
  time: '2026-11-23T10:00:00.000Z',
};

describe('pinImage', () => {
  it('replaces a tag (and keeps a registry port) with the digest', () => {
    expect(pinImage('127.0.0.1:5000/shop-prod-web:abc', D)).toBe(`127.0.0.1:5000/shop-prod-web@${D}`);
    expect(pinImage('127.0.0.1:5000/shop-prod-web', D)).toBe(`127.0.0.1:5000/shop-prod-web@${D}`);
    expect(pinImage(`x/y@sha256:${'b'.repeat(64)}`, D)).toBe(`x/y@${D}`);
    expect(() => pinImage('x/y:1', 'latest')).toThrow(/digest/);
    expect(isDigestPinned(`x/y@${D}`)).toBe(true);
    expect(isDigestPinned('x/y:1')).toBe(false);
  });
});

describe('deriveTaskDefinition', () => {
  const t = target(YAML);
  const svc = t.services[0]!;
  const td = deriveTaskDefinition(t, svc, BASE, facts);
  const c = td.containerDefinitions![0]!;

  it('registers in the service family (leaving the bootstrap family) with roles from the current revision', () => {
    expect(td.family).toBe('shop-prod-web');
    expect(td.executionRoleArn).toBe(BASE.executionRoleArn);
    expect(td.taskRoleArn).toBe(BASE.taskRoleArn);
    expect([td.cpu, td.memory, td.networkMode]).toEqual(['512', '1024', 'awsvpc']);
    expect(td.requiresCompatibilities).toEqual(['FARGATE']);
  });
  it('pins the image by digest in a container named after the service', () => {
    expect(c.name).toBe('web');
    expect(c.image).toBe(facts.image);
    expect(c.portMappings).toEqual([{ containerPort: 8080, protocol: 'tcp' }]);
    expect(() => deriveTaskDefinition(t, svc, BASE, { ...facts, image: 'x/y:latest' })).toThrow(/digest/);
    expect(digestOf({ containerDefinitions: [c] }, svc)).toBe(D);
  });
  it('tags sha, deployer and time', () => {
    const tags = Object.fromEntries(td.tags!.map((x) => [x.key, x.value]));
    expect(tags['patchwork:sha']).toBe(facts.sha);
    expect(tags['patchwork:deployer']).toBe(facts.deployer);
    expect(tags['patchwork:time']).toBe(facts.time);
    expect(tags['patchwork:app']).toBe('shop');
  });
  it('passes secrets by valueFrom only, env sorted, logs to the service group', () => {
    expect(c.secrets).toEqual([
      { name: 'DB_PASSWORD', valueFrom: 'arn:aws:ssm:eu-west-1:123456789012:parameter/shop/db' },
    ]);
    expect(c.environment).toEqual([
      { name: 'A', value: 'b' },
      { name: 'LOG_LEVEL', value: 'info' },
    ]);
    expect(JSON.stringify(c)).not.toContain('"value":"arn:aws:ssm');
    expect(c.logConfiguration).toEqual({
      logDriver: 'awslogs',
      options: { 'awslogs-group': 'shop-prod-web', 'awslogs-region': 'eu-west-1', 'awslogs-stream-prefix': 'web' },
    });
  });
  it('read-only root filesystem, non-root user, container health check', () => {
    expect(c.readonlyRootFilesystem).toBe(true);
    expect(c.user).toBe('65532');
    // An image running as root still gets a non-root user; root only when the config says so.
    expect(deriveTaskDefinition(t, svc, BASE, { ...facts, imageUser: 'root' }).containerDefinitions![0]!.user).toBe(
      '65532',
    );
    const noUser = { ...BASE, containerDefinitions: [{ ...BASE.containerDefinitions![0]!, user: '0' }] };
    expect(deriveTaskDefinition(t, svc, noUser, { ...facts, imageUser: '' }).containerDefinitions![0]!.user).toBe(
      '65532',
    );
    expect(
      deriveTaskDefinition(t, { ...svc, user: 'root' }, BASE, { ...facts, imageUser: '1000' }).containerDefinitions![0]!
        .user,
    ).toBe('root');
    expect(
      deriveTaskDefinition(t, svc, BASE, { ...facts, imageUser: '1000:1000' }).containerDefinitions![0]!.user,
    ).toBe('1000:1000');
    expect(c.healthCheck?.command).toEqual(['CMD', '/app/web', '-healthcheck']);
  });
  it('no health check when none is configured', () => {
    const t2 = target(YAML.replace(', command: ["/app/web", "-healthcheck"]', ''));
    const td2 = deriveTaskDefinition(
      t2,
      t2.services[0]!,
      { ...BASE, containerDefinitions: [{ name: 'web', healthCheck: { command: ['CMD', 'x'] } }] },
      facts,
    );
    expect(td2.containerDefinitions![0]!.healthCheck).toBeUndefined();
  });
});
