/**
 * The smoke test after a rollout (`deploy.smoke`): GET <path> through the environment's load
 * balancer — its DNS name from DescribeLoadBalancers, https when the environment has a
 * certificate — until it answers `expectStatus` or `timeoutSeconds` pass. Redirects are not
 * followed (a 301 is an answer). Over https the certificate chain is checked but not the host
 * name: the certificate names the app's domain, not the ALB's generated DNS name.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { sleeper, throwIfAborted } from '../abort.js';
import { loadBalancerName } from '../desired/names.js';
import { PatchworkError } from '../errors.js';
import type { Session } from '../session.js';

export interface SmokeSettings {
  path: string;
  expectStatus: number;
  timeoutSeconds: number;
}

export interface SmokeResult {
  url: string;
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

/** One GET: the status, or an error message when nothing answered within `timeoutMs`. */
export function probe(url: string, timeoutMs: number): Promise<{ status: number } | { error: string }> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      u,
      {
        method: 'GET',
        timeout: timeoutMs,
        headers: { 'user-agent': 'patchwork-smoke/1' },
        ...(u.protocol === 'https:' ? { checkServerIdentity: () => undefined } : {}),
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
): Promise<SmokeResult> {
  const { target, aws } = session;
  const elb = await aws.get('elbv2');
  // Loaded here, not with the module: a deploy without a smoke test never loads the ELBv2 package.
  const { DescribeLoadBalancersCommand } = await import('@aws-sdk/client-elastic-load-balancing-v2');
  const lbs = await elb.send(new DescribeLoadBalancersCommand({ Names: [loadBalancerName(target)] }));
  const dns = lbs.LoadBalancers?.[0]?.DNSName;
  if (!dns) {
    throw new PatchworkError('PW_NOT_PROVISIONED', `load balancer ${loadBalancerName(target)} has no DNS name`, {
      hint: 'run `patchwork provision` for this environment',
    });
  }
  const url = smokeUrl(dns, !!target.https, smoke.path);
  const started = Date.now();
  const deadline = started + smoke.timeoutSeconds * 1000;
  let attempts = 0;
  let status: number | null = null;
  let reason: string | null = null;
  for (;;) {
    throwIfAborted(session.signal, 'during the smoke test');
    attempts++;
    const left = Math.max(500, deadline - Date.now());
    const got = await probe(url, Math.min(5000, left));
    if ('status' in got) {
      status = got.status;
      reason = got.status === smoke.expectStatus ? null : `answered ${got.status}, expected ${smoke.expectStatus}`;
    } else {
      status = null;
      reason = got.error;
    }
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    if (!reason) return { url, ok: true, status, attempts, reason: null, seconds };
    if (Date.now() + 1000 >= deadline) return { url, ok: false, status, attempts, reason, seconds };
    await sleep(1000);
  }
}
