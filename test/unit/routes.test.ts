import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/lib/config/load.js';
import { resolveEnvironment } from '../../src/lib/config/resolve.js';
import { assignPriorities, covers, priorityBand, shadowedPaths } from '../../src/lib/config/routes.js';
import { PatchworkError } from '../../src/lib/errors.js';

const yamlOf = (services: string) => `app: shop
region: eu-west-1
services:
${services}environments:
  prod: {}
`;

const resolve = (services: string) =>
  resolveEnvironment(parseConfig(yamlOf(services), 'patchwork.yml'), 'prod').services.map((s) => [
    s.name,
    s.route.priority,
  ]);

function issuesOf(services: string): { code: string; issues: { line: number; path: string; message: string }[] } {
  try {
    resolveEnvironment(parseConfig(yamlOf(services), 'patchwork.yml'), 'prod');
  } catch (err) {
    expect(err).toBeInstanceOf(PatchworkError);
    const e = err as PatchworkError;
    return { code: e.code, issues: (e.data.issues as never) ?? [] };
  }
  throw new Error('expected an error');
}

describe('covers (glob inclusion as the ALB matches)', () => {
  it.each([
    ['/*', '/api/*', true],
    ['/api/*', '/*', false],
    ['/api/*', '/api/v1/*', true],
    ['/api/*', '/api', false],
    ['/api*', '/api/*', true],
    ['/a?c', '/abc', true],
    ['/abc', '/a?c', false],
    ['/a?c', '/a*c', false],
    ['/a*c', '/a?c', true],
    ['*', '/x', true],
    ['/x', '/x', true],
    ['/*.json', '/api/*.json', true],
    ['/api/*.json', '/api/*', false],
    ['*.example.com', 'shop.example.com', true],
  ])('%s covers %s: %s', (a, b, want) => {
    expect(covers(a, b)).toBe(want);
  });
});

describe('default priorities by specificity', () => {
  it('hosts first, then the longer literal prefix, wildcards last', () => {
    const p = assignPriorities([
      { service: 'web', paths: ['/*'], hosts: null },
      { service: 'api', paths: ['/api/*'], hosts: null },
      { service: 'v1', paths: ['/api/v1/*'], hosts: null },
      { service: 'json', paths: ['/api/*.json'], hosts: null },
      { service: 'admin', paths: ['/*'], hosts: ['admin.example.com'] },
      { service: 'any', paths: ['/*'], hosts: ['*.example.com'] },
    ]);
    const order = [...p.entries()].sort((a, b) => a[1] - b[1]).map(([s]) => s);
    expect(order).toEqual(['admin', 'any', 'v1', 'json', 'api', 'web']);
    for (const n of p.values()) expect(n >= 1 && n <= 50_000).toBe(true);
  });

  it('a multi-path route is placed by its least specific path', () => {
    expect(priorityBand({ paths: ['/static/*', '/*'], hosts: null })).toBe(
      priorityBand({ paths: ['/*'], hosts: null }),
    );
  });

  it('adding, removing or reordering services renumbers no other rule', () => {
    const two = assignPriorities([
      { service: 'web', paths: ['/*'], hosts: null },
      { service: 'api', paths: ['/api/*'], hosts: null },
    ]);
    const more = assignPriorities([
      { service: 'admin', paths: ['/admin/*'], hosts: null },
      { service: 'api', paths: ['/api/*'], hosts: null },
      { service: 'img', paths: ['/img/*'], hosts: null },
      { service: 'web', paths: ['/*'], hosts: null },
      { service: 'site', paths: ['/*'], hosts: ['shop.example.com'] },
    ]);
    expect(more.get('web')).toBe(two.get('web'));
    expect(more.get('api')).toBe(two.get('api'));
    const one = assignPriorities([{ service: 'api', paths: ['/api/*'], hosts: null }]);
    expect(one.get('api')).toBe(two.get('api'));
  });

  it('rules of one shape get distinct slots of their band; a default never takes an explicit number', () => {
    const band = priorityBand({ paths: ['/aa/*'], hosts: null });
    const routes = ['/aa/*', '/bb/*', '/cc/*', '/dd/*'].map((p, i) => ({ service: `s${i}`, paths: [p], hosts: null }));
    const p = assignPriorities([...routes, { service: 'pinned', paths: ['/*'], hosts: null, priority: band }]);
    const slots = routes.map((r) => p.get(r.service)!);
    expect(new Set(slots).size).toBe(4);
    for (const n of slots) expect(n > band && n < band + 10).toBe(true);
    expect(p.get('pinned')).toBe(band);
  });

  it('resolveEnvironment: `/*` listed first and `/api/*` second puts api first; explicit priority wins', () => {
    const got = resolve(`  web: { image: "nginx:1", port: 8080, route: { paths: ["/*"] } }
  api: { image: "nginx:1", port: 8081, route: { paths: ["/api/*"] } }
  pinned: { image: "nginx:1", port: 8082, route: { paths: ["/pinned/*"], priority: 7 } }
`);
    const [web, api, pinned] = got.map(([, p]) => p as number);
    expect(api).toBeLessThan(web!);
    expect(pinned).toBe(7);
    const slot = (n: number, paths: string[]) => n - priorityBand({ paths, hosts: null });
    expect([slot(web!, ['/*']) < 10, slot(api!, ['/api/*']) < 10]).toEqual([true, true]);
  });
});

describe('rules that can never match', () => {
  it('shadowedPaths: an earlier rule whose path and hosts cover a later one', () => {
    expect(
      shadowedPaths([
        { service: 'web', paths: ['/*'], hosts: null, priority: 1 },
        { service: 'api', paths: ['/api/*'], hosts: null, priority: 2 },
        { service: 'site', paths: ['/x/*'], hosts: ['shop.example.com'], priority: 3 },
        { service: 'other', paths: ['/y'], hosts: null, priority: 0 },
      ]),
    ).toEqual([
      { service: 'api', path: '/api/*', priority: 2, by: 'web', byPath: '/*', byPriority: 1 },
      { service: 'site', path: '/x/*', priority: 3, by: 'web', byPath: '/*', byPriority: 1 },
    ]);
    // A host rule is not covered by a later-matching path; a host-only earlier rule does not cover other hosts.
    expect(
      shadowedPaths([
        { service: 'site', paths: ['/*'], hosts: ['shop.example.com'], priority: 1 },
        { service: 'web', paths: ['/*'], hosts: null, priority: 2 },
        { service: 'admin', paths: ['/*'], hosts: ['admin.example.com'], priority: 3 },
      ]),
    ).toEqual([{ service: 'admin', path: '/*', priority: 3, by: 'web', byPath: '/*', byPriority: 2 }]);
  });

  it('explicit `/*` before `/api/*`: exit 2 naming both services and both lines', () => {
    const { code, issues } = issuesOf(`  web:
    image: "nginx:1"
    port: 8080
    route: { paths: ["/*"], priority: 1 }
  api:
    image: "nginx:1"
    port: 8081
    route: { paths: ["/api/*"], priority: 2 }
`);
    expect(code).toBe('PW_CONFIG_INVALID');
    expect(issues).toEqual([
      expect.objectContaining({
        line: 11,
        path: 'services.api.route.priority',
        message:
          'path "/api/*" of service "api" (priority 2, explicit) can never match: service "web" (priority 1, explicit, patchwork.yml:7) routes "/*" first; give "api" a lower priority than "web" or drop the explicit priorities',
      }),
    ]);
  });

  it('an explicit priority that puts a broad route before a default one is refused at the path', () => {
    const { issues } = issuesOf(`  web: { image: "nginx:1", port: 8080, route: { paths: ["/*"], priority: 1 } }
  api: { image: "nginx:1", port: 8081, route: { paths: ["/v2/*", "/api/*"] } }
`);
    expect(issues.map((i) => [i.line, i.path])).toEqual([
      [5, 'services.api.route.paths[0]'],
      [5, 'services.api.route.paths[1]'],
    ]);
    expect(issues[0]!.message).toContain('service "web" (priority 1, explicit, patchwork.yml:4)');
  });

  it('same host and path in two services stays the duplicate error (once); equal explicit priorities are refused', () => {
    const dup = issuesOf(`  web: { image: "nginx:1", port: 8080, route: { paths: ["/*"] } }
  api: { image: "nginx:1", port: 8081, route: { paths: ["/*"] } }
`);
    expect(dup.issues.map((i) => i.message)).toEqual(['path "/*" is already routed to service "web"']);
    const same = issuesOf(`  web: { image: "nginx:1", port: 8080, route: { paths: ["/w/*"], priority: 5 } }
  api: { image: "nginx:1", port: 8081, route: { paths: ["/a/*"], priority: 5 } }
`);
    expect(same.issues.map((i) => [i.path, i.message])).toEqual([
      ['services.api.route.priority', `priority 5 is also service "web"'s: listener rule priorities must be unique`],
    ]);
  });

  it('default priorities never shadow: a default layout of overlapping routes is accepted', () => {
    expect(() =>
      resolve(`  web: { image: "nginx:1", port: 8080 }
  api: { image: "nginx:1", port: 8081, route: { paths: ["/api/*"] } }
  v1: { image: "nginx:1", port: 8082, route: { paths: ["/api/v1/*"] } }
  site: { image: "nginx:1", port: 8083, route: { paths: ["/*"], hosts: ["shop.example.com"] } }
`),
    ).not.toThrow();
  });
});
