/**
 * The repository layout of an environment whose config does not say (`registryLayout` unset): the
 * default is the shared `<app>-<svc>` repositories, but a project that used the per-environment
 * layout (`<app>-<env>-<svc>`, the only one before 0.2) must not switch silently — its images,
 * its `deploy --sha` targets and its lifecycle are in the old repositories. So when no shared
 * repository of the environment's built services exists and an old per-env one holds images, the
 * environment keeps the per-env layout for this run and PW_PER_ENV_REPOSITORY says how to migrate.
 *
 * Reads only: ECR DescribeRepositories by name per shared repository (nothing more once one
 * exists) and DescribeImages (maxResults 1) per old repository; on a plain registry the Registry
 * HTTP API's tags list. Only when the config does not set registryLayout.
 */

import { ecrSdk } from './aws/sdk.js';
import type { ResolvedEnvironment } from './config/resolve.js';
import { httpFetch, isLoopback, type RegistryFetch } from './docker/registry.js';
import type { Session } from './session.js';

// The registry's tags list over node:http (httpFetch): the global fetch would load undici and compile
// its WebAssembly HTTP parser for this one GET (~30 MiB more peak memory and ~0.1 s on a deploy).
type Fetch = RegistryFetch;

export interface LayoutFacts {
  /** A shared `<app>-<svc>` repository of one of the environment's built services exists. */
  sharedExists: boolean;
  /** The per-env repositories (`<app>-<env>-<svc>`) that hold at least one image. */
  perEnvWithImages: string[];
}

/** Pure: does an environment with these facts keep the per-env layout? */
export function keepsPerEnvLayout(
  target: Pick<ResolvedEnvironment, 'registryLayoutConfigured' | 'registryLayout'>,
  facts: LayoutFacts,
): boolean {
  return (
    !target.registryLayoutConfigured &&
    target.registryLayout === 'shared' &&
    !facts.sharedExists &&
    facts.perEnvWithImages.length > 0
  );
}

/** Pure: the environment on the per-env layout (each built service's repository its `<app>-<env>-<svc>`). */
export function onPerEnvLayout(target: ResolvedEnvironment): ResolvedEnvironment {
  return {
    ...target,
    registryLayout: 'per-env',
    services: target.services.map((s) => ({ ...s, repository: s.fullName })),
  };
}

/**
 * Settles `session.target`'s layout (in place) before a verb creates, pushes to or pins a
 * repository (provision, promote at their start; build and deploy after their local checks, before
 * the registry): unchanged unless keepsPerEnvLayout, then the per-env layout and the warning.
 */
export async function settleRepositoryLayout(session: Session, fetchImpl: Fetch = httpFetch): Promise<void> {
  const { target } = session;
  if (target.registryLayoutConfigured || target.registryLayout !== 'shared') return;
  const built = target.services.filter((s) => s.build);
  if (!built.length) return;
  const facts = await readLayoutFacts(session, built, fetchImpl);
  if (!keepsPerEnvLayout(target, facts)) return;
  // In place: what a verb already holds (its target, the services it prepared) follows.
  const settled = onPerEnvLayout(target);
  target.registryLayout = settled.registryLayout;
  target.services.forEach((s, i) => {
    s.repository = settled.services[i]!.repository;
  });
  const shared = built.map((s) => `${target.app}-${s.name}`).join(', ');
  session.events.warn(
    'PW_PER_ENV_REPOSITORY',
    `${target.env} keeps its per-environment repositories (${facts.perEnvWithImages.join(', ')} hold images; ${shared} do not exist): set registryLayout in the config — per-env to stay, or shared and then deploy (or promote) once into ${shared}`,
  );
}

async function readLayoutFacts(
  session: Session,
  built: ResolvedEnvironment['services'],
  fetchImpl: Fetch,
): Promise<LayoutFacts> {
  const { target, aws } = session;
  const shared = built.map((s) => `${target.app}-${s.name}`);
  const perEnv = built.map((s) => s.fullName);
  if (target.registry) {
    const registry = target.registry;
    const scheme = isLoopback(registry) ? 'http' : 'https';
    const hasTags = async (repo: string): Promise<boolean> => {
      try {
        const res = await fetchImpl(`${scheme}://${registry}/v2/${repo}/tags/list`, {
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status !== 200) {
          await res.body?.cancel();
          return false;
        }
        const body = (await res.json()) as { tags?: string[] | null };
        return (body.tags?.length ?? 0) > 0;
      } catch {
        return false; // unreachable: the verb's own registry calls say so
      }
    };
    const sharedFlags = await Promise.all(shared.map(hasTags));
    if (sharedFlags.some(Boolean)) return { sharedExists: true, perEnvWithImages: [] };
    const perEnvFlags = await Promise.all(perEnv.map(hasTags));
    return { sharedExists: false, perEnvWithImages: perEnv.filter((_, i) => perEnvFlags[i]) };
  }
  const { DescribeImagesCommand, DescribeRepositoriesCommand } = ecrSdk();
  const { isAwsError } = await import('./aws/errors.js');
  const ecr = await aws.get('ecr');
  // By name (authorised on repository/<app>-*, as deploy.json grants): a missing one is RepositoryNotFound.
  const exists = async (name: string) =>
    ecr.send(new DescribeRepositoriesCommand({ repositoryNames: [name] })).then(
      () => true,
      (err: unknown) => {
        if (isAwsError(err, 'RepositoryNotFoundException')) return false;
        throw err;
      },
    );
  if ((await Promise.all(shared.map(exists))).some(Boolean)) return { sharedExists: true, perEnvWithImages: [] };
  const withImages: string[] = [];
  for (const repo of perEnv) {
    const out = await ecr
      .send(new DescribeImagesCommand({ repositoryName: repo, maxResults: 1 }))
      .catch((err: unknown) => {
        if (isAwsError(err, 'RepositoryNotFoundException')) return null;
        throw err;
      });
    if (out?.imageDetails?.length) withImages.push(repo);
  }
  return { sharedExists: false, perEnvWithImages: withImages };
}
