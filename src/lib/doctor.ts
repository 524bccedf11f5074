/**
 * `patchwork doctor`: checks that config, region, credentials, endpoint, Docker engine and
 * registry are usable, and reports each. Read-only: one STS call (and, for a given network, the
 * preflight's Describe calls).
 */
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { mapAwsError } from './aws/errors.js';
import { connectDocker, dockerTarget } from './docker/engine.js';
import { type ErrorCode, isPatchworkError, PatchworkError } from './errors.js';
import { preflightApplies, preflightNetwork } from './observe/network-preflight.js';
import { type CommonOptions, openSession } from './session.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  code?: ErrorCode;
  hint?: string;
}

export interface DoctorResult {
  env: string;
  region: string;
  endpoint: string | null;
  account: string | null;
  identity: string | null;
  checks: Check[];
}

export async function doctor(opts: CommonOptions & { skipDocker?: boolean }): Promise<DoctorResult> {
  const { target, aws, events, environment, config } = await openSession(opts);
  const checks: Check[] = [];
  const record = (check: Check) => {
    checks.push(check);
    events.emit({
      type: 'task',
      id: `check:${check.name}`,
      title: `${check.name}: ${check.detail}`,
      status: check.ok ? 'done' : 'fail',
    });
  };
  record({
    name: 'config',
    ok: true,
    detail: `${target.configFile}: environment ${target.env}, ${target.services.length} service(s), region ${target.region}`,
  });

  let account: string | null = null;
  let identity: string | null = null;
  try {
    const sts = await aws.get('sts');
    const who = await sts.send(new GetCallerIdentityCommand({}));
    account = who.Account ?? null;
    identity = who.Arn ?? null;
    record({
      name: 'aws',
      ok: true,
      detail: `${identity} (account ${account})${aws.endpoint ? ` via ${aws.endpoint}` : ''}`,
    });
  } catch (err) {
    record(failed('aws', mapAwsError(err)));
  }

  if (account && preflightApplies(target)) {
    try {
      await preflightNetwork(aws, target, environment, config);
      record({ name: 'network', ok: true, detail: 'the given subnets route as the load balancer and the tasks need' });
    } catch (err) {
      record(failed('network', err));
    }
  }

  const needsDocker = target.services.some((s) => s.build !== null);
  if (needsDocker && !opts.skipDocker) {
    try {
      const docker = await connectDocker(5_000, environment);
      const version = await docker.version();
      record({
        name: 'docker',
        ok: true,
        detail: `engine ${version.Version} (API ${version.ApiVersion}) at ${dockerTarget(environment)}`,
      });
    } catch (err) {
      record(failed('docker', err));
    }
  }

  if (target.registry) {
    const url = `http://${target.registry}/v2/`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      const ok = res.status === 200 || res.status === 401;
      record(
        ok
          ? { name: 'registry', ok, detail: `${target.registry} answers (HTTP ${res.status})` }
          : {
              name: 'registry',
              ok,
              detail: `${url} answered HTTP ${res.status}`,
              code: 'PW_REGISTRY_UNREACHABLE',
              hint: 'check registry: in the config',
            },
      );
    } catch (err) {
      record({
        name: 'registry',
        ok: false,
        detail: `cannot reach ${url} (${(err as Error).message})`,
        code: 'PW_REGISTRY_UNREACHABLE',
        hint: 'start the registry or fix registry: in the config',
      });
    }
  }

  const result: DoctorResult = {
    env: target.env,
    region: target.region,
    endpoint: aws.endpoint ?? null,
    account,
    identity,
    checks,
  };
  const bad = checks.find((c) => !c.ok);
  if (bad) {
    throw new PatchworkError(
      bad.code ?? 'PW_UNEXPECTED',
      `${checks.filter((c) => !c.ok).length} check(s) failed; first: ${bad.name}: ${bad.detail}`,
      { ...(bad.hint ? { hint: bad.hint } : {}), data: { ...result } },
    );
  }
  return result;
}

function failed(name: string, err: unknown): Check {
  if (isPatchworkError(err)) {
    return { name, ok: false, detail: err.message, code: err.code, ...(err.hint ? { hint: err.hint } : {}) };
  }
  return { name, ok: false, detail: err instanceof Error ? err.message : String(err), code: 'PW_UNEXPECTED' };
}
