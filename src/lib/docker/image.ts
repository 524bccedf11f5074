/**
 * Building and pushing through the Engine API (dockerode). Every message of the engine's output is
 * checked for an error: a failed step becomes PW_BUILD_FAILED with the step and its last lines, a
 * failed push PW_PUSH_FAILED. The pushed manifest digest comes from the push's aux message.
 */
import type Docker from 'dockerode';
import { PatchworkError } from '../errors.js';
import { type ContextPlan, packContext } from './context.js';
import { BuildLog, type EngineMessage, messageError, readMessages } from './progress.js';

export interface ImageBuildSpec {
  plan: ContextPlan;
  /** Full references (`repo:tag`) the image gets. */
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  platform: string;
  labels: Record<string, string>;
  /** Used in messages. */
  service: string;
}

export interface BuildHooks {
  /** Every output line; isStep for `Step n/m : …`. */
  line?: (line: string, isStep: boolean) => void;
  /** Cancels the build: the request to the engine is aborted (the engine stops the build). */
  signal?: AbortSignal;
}

export interface BuiltImage {
  imageId: string;
  /** Steps answered from the build cache / all steps. */
  cachedSteps: number;
  steps: number;
}

/** Engine-side failures (HTTP errors from dockerode) carry the engine's JSON message. */
export function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string } | string; reason?: string; message?: string; statusCode?: number };
  const json = typeof e.json === 'string' ? e.json : e.json?.message;
  return (json ?? e.message ?? String(err)).toString().trim().split('\n')[0]!;
}

export async function buildImage(docker: Docker, spec: ImageBuildSpec, hooks: BuildHooks = {}): Promise<BuiltImage> {
  const log = new BuildLog(hooks.line);
  let imageId: string | undefined;
  let failure: string | undefined;
  let steps = 0;
  let cached = 0;
  const options: Record<string, unknown> = {
    t: spec.tags,
    dockerfile: spec.plan.dockerfile,
    buildargs: spec.buildArgs,
    labels: spec.labels,
    platform: spec.platform,
    networkmode: 'host',
    rm: true,
    forcerm: true,
    version: '1',
  };
  if (spec.target) options.target = spec.target;
  if (hooks.signal) options.abortSignal = hooks.signal;

  let stream: NodeJS.ReadableStream;
  const tar = await packContext(spec.plan);
  // A file that vanishes or cannot be read mid-pack: remember it, the engine then fails the build.
  let tarError: Error | undefined;
  tar.on('error', (err) => {
    tarError = err;
  });
  try {
    stream = await docker.buildImage(tar as never, options as Docker.ImageBuildOptions);
  } catch (err) {
    tar.destroy();
    throw new PatchworkError(
      'PW_BUILD_FAILED',
      tarError
        ? `${spec.service}: cannot read the build context: ${tarError.message}`
        : `${spec.service}: the engine refused the build: ${engineMessage(err)}`,
      {
        hint: 'check build: in the config (dockerfile, target, platform) and the Dockerfile syntax',
        data: { service: spec.service },
        cause: err,
      },
    );
  }

  try {
    await readMessages(stream as never, (m: EngineMessage) => {
      const error = messageError(m);
      if (error !== undefined) {
        failure ??= error;
        return;
      }
      if (m.stream !== undefined) {
        if (/^Step \d+\/\d+ : /.test(m.stream)) steps++;
        if (m.stream.includes('---> Using cache')) cached++;
        log.write(m.stream);
      } else if (m.status) {
        log.write(`${m.id ? `${m.id}: ` : ''}${m.status}\n`); // base image pulls
      }
      const id = m.aux?.ID;
      if (typeof id === 'string') imageId = id;
    });
  } catch (err) {
    log.flush();
    throw buildFailure(spec.service, log, `the build stream broke: ${engineMessage(err)}`, err);
  }
  log.flush();
  if (tarError) throw buildFailure(spec.service, log, `cannot read the build context: ${tarError.message}`, tarError);
  if (failure !== undefined) throw buildFailure(spec.service, log, failure);

  if (!imageId) {
    // Older engines only print "Successfully built <id>"; ask for the tag instead.
    try {
      imageId = (await docker.getImage(spec.tags[0]!).inspect()).Id;
    } catch (err) {
      throw buildFailure(spec.service, log, `the build ended without an image: ${engineMessage(err)}`, err);
    }
  }
  return { imageId, steps, cachedSteps: cached };
}

function buildFailure(service: string, log: BuildLog, error: string, cause?: unknown): PatchworkError {
  // The step's own output; before any step (a bad Dockerfile), the last lines of all output.
  const output = log.step ? log.stepLines : log.tail;
  return new PatchworkError('PW_BUILD_FAILED', `${service}: build failed${failedAt(log.step)}: ${shortReason(error)}`, {
    hint: 'the failing step and its last output lines are shown above (--debug shows the whole build log); fix it and rerun',
    data: { service, step: log.step, error: error.trim(), output: output.slice(-20) },
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** `Step 3/9 : RUN go build …` → ` at step 3/9 (RUN go build …)`, the instruction cut at 80 characters. */
export function failedAt(step: string | null): string {
  if (!step) return '';
  const m = /^Step (\d+\/\d+) : (.*)$/.exec(step);
  if (!m) return ` at ${step}`;
  const instruction = m[2]!.replace(/\s+/g, ' ').trim();
  return ` at step ${m[1]} (${instruction.length > 80 ? `${instruction.slice(0, 79)}…` : instruction})`;
}

/** The engine's error, short: "returned a non-zero code: 3" → "exit code 3". */
export function shortReason(error: string): string {
  const code = /returned a non-zero code: (\d+)/.exec(error);
  if (code) return `exit code ${code[1]}`;
  const first = error.trim().split('\n')[0]!;
  return first.length > 200 ? `${first.slice(0, 199)}…` : first;
}

export interface RegistryAuth {
  username?: string;
  password?: string;
  serveraddress?: string;
}

export interface LayerProgress {
  layer: string;
  status: string;
  current?: number;
  total?: number;
}

export interface PushHooks {
  /** A layer changed status (Preparing, Waiting, Pushing, Pushed, Layer already exists, …). */
  layer?: (p: LayerProgress) => void;
  /** Byte progress for a layer being pushed (throttle in the caller). */
  progress?: (p: LayerProgress) => void;
  /** Cancels the push: the request to the engine is aborted. */
  signal?: AbortSignal;
}

export interface PushedImage {
  /** Manifest digest reported by the engine (aux.Digest). */
  digest: string;
  /** Manifest size in bytes (aux.Size). */
  manifestSize: number | null;
  /** Layers the registry already had. */
  layersExisting: number;
  layersPushed: number;
}

/** Pushes `repo:tag`; credentials go in the request header only (never to disk). */
export async function pushImage(
  docker: Docker,
  repo: string,
  tag: string,
  auth: RegistryAuth,
  hooks: PushHooks = {},
  service = repo,
): Promise<PushedImage> {
  let digest: string | undefined;
  let manifestSize: number | null = null;
  let failure: string | undefined;
  const statuses = new Map<string, string>();
  let stream: NodeJS.ReadableStream;
  try {
    stream = (await docker.getImage(repo).push({
      tag,
      authconfig: auth,
      ...(hooks.signal ? { abortSignal: hooks.signal } : {}),
    } as Docker.ImagePushOptions)) as NodeJS.ReadableStream;
  } catch (err) {
    throw new PatchworkError(
      'PW_PUSH_FAILED',
      `${service}: the engine refused to push ${repo}:${tag}: ${engineMessage(err)}`,
      {
        hint: 'check that the registry is reachable from the engine and that the image was built',
        data: { service, image: `${repo}:${tag}` },
        cause: err,
      },
    );
  }
  try {
    await readMessages(stream as never, (m) => {
      const error = messageError(m);
      if (error !== undefined) {
        failure ??= error;
        return;
      }
      const aux = m.aux as { Digest?: string; Size?: number; Tag?: string } | undefined;
      if (aux?.Digest) {
        digest = aux.Digest;
        manifestSize = typeof aux.Size === 'number' ? aux.Size : null;
      }
      if (m.id && m.status && /^[0-9a-f]{12}$/.test(m.id)) {
        const p: LayerProgress = { layer: m.id, status: m.status };
        if (m.progressDetail?.current !== undefined) p.current = m.progressDetail.current;
        if (m.progressDetail?.total !== undefined) p.total = m.progressDetail.total;
        if (statuses.get(m.id) !== m.status) {
          statuses.set(m.id, m.status);
          hooks.layer?.(p);
        } else if (p.current !== undefined) hooks.progress?.(p);
      }
    });
  } catch (err) {
    throw new PatchworkError('PW_PUSH_FAILED', `${service}: push of ${repo}:${tag} broke off: ${engineMessage(err)}`, {
      hint: 'rerun: layers already pushed are not sent again',
      data: { service, image: `${repo}:${tag}` },
      cause: err,
    });
  }
  if (failure !== undefined) {
    throw new PatchworkError(
      'PW_PUSH_FAILED',
      `${service}: push of ${repo}:${tag} failed: ${failure.trim().split('\n')[0]}`,
      {
        hint: /denied|unauthorized|authentication/i.test(failure)
          ? 'the registry refused the credentials; for ECR check ecr:InitiateLayerUpload/PutImage permissions'
          : 'check that the registry is reachable from the engine (an http registry must be on loopback or in insecure-registries)',
        data: { service, image: `${repo}:${tag}`, error: failure },
      },
    );
  }
  if (!digest) {
    throw new PatchworkError('PW_PUSH_FAILED', `${service}: push of ${repo}:${tag} reported no manifest digest`, {
      hint: 'the engine is older than expected or the push was interrupted; rerun',
      data: { service, image: `${repo}:${tag}` },
    });
  }
  const values = [...statuses.values()];
  return {
    digest,
    manifestSize,
    layersExisting: values.filter((s) => /already exists|mounted from/i.test(s)).length,
    layersPushed: values.filter((s) => s === 'Pushed').length,
  };
}
