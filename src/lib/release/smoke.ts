/**
 * The smoke test after a rollout (`deploy.smoke`): GET <path> through the environment's load
 * balancer — its DNS name from DescribeLoadBalancers, https when the environment has a
 * certificate — until it answers `expectStatus` or `timeoutSeconds` pass. Redirects are not
 * followed (a 301 is an answer). The request carries the app's host name (`deploy.smoke.host`, else
 * the first `route.hosts` entry of the deployed services) as Host header and TLS SNI, so host-routed
 * listener rules and the listener's per-SNI certificate apply; over https the certificate is then
 * checked for that name. Without one it is the load balancer's DNS name, and only the chain is
 * checked (the certificate names the app's domain, not the ALB's generated name). `deploy.smoke.url`
 * replaces all of this with one URL, checked as any https client would.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { sleeper, throwIfAborted } from '../abort.js';
import { elbv2Sdk } from '../aws/sdk.js';
import type { ResolvedEnvironment, SmokeConfig } from '../config/resolve.js';
import { loadBalancerName } from '../desired/names.js';
import { PatchworkError } from '../errors.js';
import type { Session } from '../session.js';

export type SmokeSettings = SmokeConfig;

export interface SmokeResult {
  url: string;
  /** The Host header and TLS SNI sent (null: the URL's own host). */
  host: string | null;
  ok: boolean;
  /** The last status seen (null when nothing answered). */
  status: number | null;
  attempts: number;
  /** Why the last attempt failed (status mismatch or network error). */
  reason: string | null;
  seconds: number;
}

export function smokeUrl(dnsName: string, https: boolean, path: string): string {
  return `${https ? 'https' : 'http'}://${dnsName}${path}`;
}

/** What the smoke test GETs: the URL, the Host/SNI name it sends, and whether the certificate must name it. */
export interface SmokeTarget {
  url: string;
  /** Host header and TLS SNI; null = the URL's own host. */
  host: string | null;
  /** Check the certificate's names against the host (else only its chain). */
  checkHost: boolean;
}

/** The app's host name for the smoke test: `deploy.smoke.host`, else the first route.hosts entry without wildcards. */
export function smokeHost(target: ResolvedEnvironment, smoke: SmokeSettings): string | null {
  if (smoke.host) return smoke.host;
  for (const svc of target.services) {
    const host = (svc.route.hosts ?? []).find((h) => !/[*?]/.test(h));
    if (host) return host;
  }
  return null;
}

/** Pure: the smoke test's request, from the config and the load balancer's DNS name (unused with `url`). */
export function smokeTarget(
  target: ResolvedEnvironment,
  smoke: SmokeSettings,
  dnsName: string | null,
  testPort?: number,
): SmokeTarget {
  if (smoke.url) return { url: smoke.url, host: null, checkHost: true };
  const host = smokeHost(target, smoke);
  // The test listener (progressive strategies) is plain HTTP on its own port.
  if (testPort !== undefined)
    return { url: `http://${dnsName ?? ''}:${testPort}${smoke.path ?? '/'}`, host, checkHost: false };
  return { url: smokeUrl(dnsName ?? '', !!target.https, smoke.path ?? '/'), host, checkHost: host !== null };
}

/** One GET: the status, or an error message when nothing answered within `timeoutMs`. */
export function probe(
  url: string,
  timeoutMs: number,
  opts: { host?: string | null; checkHost?: boolean } = {},
): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const https = u.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    const host = opts.host ?? null;
    const checkHost = opts.checkHost ?? true;
    const req = send(
      u,
      {
        method: 'GET',
        timeout: timeoutMs,
        headers: { 'user-agent': 'patchwork-smoke/1', ...(host ? { host } : {}) },
        // SNI is a name, never an address (RFC 6066 3); Node's default identity check then uses it.
        ...(https && host && !isIP(host) ? { servername: host } : {}),
        ...(https && !checkHost ? { checkServerIdentity: () => undefined } : {}),
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', (err) => resolve({ error: err.message }));
      },
    );
    req.on('timeout', () => {
      resolve({ error: `no answer within ${timeoutMs} ms` });
      req.destroy();
    });
    req.on('error', (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end();
  });
}

export async function runSmoke(
  session: Session,
  smoke: SmokeSettings,
  sleep: (ms: number) => Promise<void> = sleeper(session.signal),
  /** Through the test listener on this port instead of production. */
  testPort?: number,
): Promise<SmokeResult> {
  const { target, aws } = session;
  let dns: string | null = null;
  if (!smoke.url) {
    const elb = await aws.get('elbv2');
    // Loaded here, not with the module: a deploy without a smoke test never loads the ELBv2 package.
    const { DescribeLoadBalancersCommand } = elbv2Sdk();
    const lbs = await elb.send(new DescribeLoadBalancersCommand({ Names: [loadBalancerName(target)] }));
    dns = lbs.LoadBalancers?.[0]?.DNSName ?? null;
    if (!dns) {
      throw new PatchworkError('PW_NOT_PROVISIONED', `load balancer ${loadBalancerName(target)} has no DNS name`, {
        hint: 'run `patchwork provision` for this environment',
      });
    }
  }
  const { url, host, checkHost } = smokeTarget(target, smoke, dns, testPort);
  const started = Date.now();
  const deadline = started + smoke.timeoutSeconds * 1000;
  let attempts = 0;
  let status: number | null = null;
  let reason: string | null = null;
  for (;;) {
    throwIfAborted(session.signal, 'during the smoke test');
    attempts++;
    const left = Math.max(500, deadline - Date.now());
    const got = await probe(url, Math.min(5000, left), { host, checkHost });
    if ('status' in got) {
      status = got.status;
      reason = got.status === smoke.expectStatus ? null : `answered ${got.status}, expected ${smoke.expectStatus}`;
    } else {
      status = null;
      reason = got.error;
    }
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    if (!reason) return { url, host, ok: true, status, attempts, reason: null, seconds };
    if (Date.now() + 1000 >= deadline) return { url, host, ok: false, status, attempts, reason, seconds };
    await sleep(1000);
  }
}
