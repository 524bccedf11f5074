/**
 * Listener-rule priorities and the rules that can never match. Pure.
 *
 * Default priority: a number computed from the route itself, so that adding, removing or reordering
 * services never renumbers another service's rule (only rules of exactly the same shape share a
 * band, and there a free slot is chosen from the service name). Lower is evaluated first:
 *   1. host class: exact hosts, then wildcard hosts, then no hosts (hosts before paths);
 *   2. the literal prefix of the route's least specific path (the characters before its first
 *      `*` or `?`): longer first, so `/api/*` comes before `/*`;
 *   3. the literal characters after that prefix: more first (`/api/*.json` before `/api/*`);
 *   4. a slot among the (at most 10) rules of the same shape, from a hash of the service name.
 * An explicit `route.priority` is used as written, and a default never takes a number an explicit
 * one holds.
 *
 * Shadowing: a path of a rule is never reached when an earlier rule (lower priority) matches every
 * request that path would: its hosts cover the later rule's hosts and one of its paths covers the
 * path (glob inclusion, `*` and `?` as the ALB evaluates them).
 */

const PREFIX_CAP = 63;
const EXTRA_CAP = 25;
const SLOTS = 10;
const BAND = (EXTRA_CAP + 1) * SLOTS; // 260 numbers per literal-prefix length
const CLASS_SPAN = (PREFIX_CAP + 1) * BAND; // 16640 numbers per host class
/** ALB rule priorities are 1..50000. */
export const MAX_PRIORITY = 50_000;

export interface RouteInput {
  service: string;
  paths: string[];
  hosts: string[] | null;
  /** As written in the config, or undefined for the default. */
  priority?: number;
}

const firstWildcard = (p: string) => {
  const i = p.search(/[*?]/);
  return i < 0 ? p.length : i;
};
const literals = (p: string) => p.replace(/[*?]/g, '').length;

function hostClass(hosts: string[] | null): number {
  if (!hosts?.length) return 2;
  return hosts.some((h) => /[*?]/.test(h)) ? 1 : 0;
}

/** The route's least specific path: the shortest literal prefix, then the fewest literals. */
function leastSpecific(paths: string[]): { prefix: number; extra: number } {
  let best = { prefix: Number.POSITIVE_INFINITY, extra: Number.POSITIVE_INFINITY };
  for (const p of paths) {
    const prefix = firstWildcard(p);
    const extra = literals(p) - prefix;
    if (prefix < best.prefix || (prefix === best.prefix && extra < best.extra)) best = { prefix, extra };
  }
  return Number.isFinite(best.prefix) ? best : { prefix: 0, extra: 0 };
}

/** The first number of the band of rules shaped like this route (its slots follow). */
export function priorityBand(route: Pick<RouteInput, 'paths' | 'hosts'>): number {
  const { prefix, extra } = leastSpecific(route.paths);
  return (
    1 +
    hostClass(route.hosts) * CLASS_SPAN +
    (PREFIX_CAP - Math.min(prefix, PREFIX_CAP)) * BAND +
    (EXTRA_CAP - Math.min(extra, EXTRA_CAP)) * SLOTS
  );
}

/** FNV-1a, for a slot that depends on the service's name only. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Priorities by service: explicit ones as written, defaults from priorityBand plus a slot. Slots
 * are probed from the name's hash (then upwards past the band, should 10 rules share one shape).
 */
export function assignPriorities(routes: RouteInput[]): Map<string, number> {
  const out = new Map<string, number>();
  const taken = new Set<number>();
  for (const r of routes) {
    if (r.priority === undefined) continue;
    out.set(r.service, r.priority);
    taken.add(r.priority);
  }
  // Defaults in name order, so the result does not depend on the order services are listed in.
  const defaults = routes.filter((r) => r.priority === undefined).sort((a, b) => a.service.localeCompare(b.service));
  for (const r of defaults) {
    const band = priorityBand(r);
    const start = hash(r.service) % SLOTS;
    let chosen: number | undefined;
    for (let i = 0; i < SLOTS && chosen === undefined; i++) {
      const n = band + ((start + i) % SLOTS);
      if (!taken.has(n)) chosen = n;
    }
    for (let n = band + SLOTS; chosen === undefined && n <= MAX_PRIORITY; n++) if (!taken.has(n)) chosen = n;
    const p = chosen ?? MAX_PRIORITY;
    out.set(r.service, p);
    taken.add(p);
  }
  return out;
}

/** Does glob `a` match every string glob `b` matches? (`*` any run, `?` one character.) */
export function covers(a: string, b: string): boolean {
  const memo = new Map<number, boolean>();
  const go = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let r: boolean;
    if (i === a.length) r = j === b.length;
    else if (a[i] === '*') r = go(i + 1, j) || (j < b.length && go(i, j + 1));
    else if (j === b.length || b[j] === '*') r = false;
    else if (a[i] === '?') r = go(i + 1, j + 1);
    else r = a[i] === b[j] && go(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return go(0, 0);
}

/** Hosts are case-insensitive; a rule without hosts matches any. */
function hostsCover(earlier: string[] | null, later: string[] | null): boolean {
  if (!earlier?.length) return true;
  if (!later?.length) return false;
  return later.every((h) => earlier.some((e) => covers(e.toLowerCase(), h.toLowerCase())));
}

export interface Shadow {
  /** The service whose path is never reached, and that path. */
  service: string;
  path: string;
  priority: number;
  /** The earlier rule that takes every such request, and its path that covers it. */
  by: string;
  byPath: string;
  byPriority: number;
}

/** Every path that an earlier rule takes all requests of (routes with their final priorities). */
export function shadowedPaths(routes: (RouteInput & { priority: number })[]): Shadow[] {
  const ordered = [...routes].sort((x, y) => x.priority - y.priority);
  const out: Shadow[] = [];
  ordered.forEach((later, k) => {
    for (const path of later.paths) {
      for (const earlier of ordered.slice(0, k)) {
        if (earlier.service === later.service || !hostsCover(earlier.hosts, later.hosts)) continue;
        const byPath = earlier.paths.find((p) => covers(p, path));
        if (byPath === undefined) continue;
        out.push({
          service: later.service,
          path,
          priority: later.priority,
          by: earlier.service,
          byPath,
          byPriority: earlier.priority,
        });
        break;
      }
    }
  });
  return out;
}
