/**
 * patchwork as a library: the same functions the CLI runs, returning the objects `--json`
 * reports and sending progress to `onEvent`. Nothing here prints.
 */

export { AwsClients, type AwsSettings } from './lib/aws/clients.js';
export type { ApiCalls } from './lib/aws/counter.js';
export { ApiCallCounter } from './lib/aws/counter.js';
export { type BuildOptions, type BuildResult, build, type ImageResult } from './lib/build.js';
export { loadConfigFile, parseConfig } from './lib/config/load.js';
export { type ResolvedEnvironment, type ResolvedService, resolveEnvironment } from './lib/config/resolve.js';
export { configJsonSchema, type RawConfig } from './lib/config/schema.js';
export { type DeployOptions, type DeployResult, deploy, planDeploy } from './lib/deploy.js';
export { type DestroyOptions, type DestroyResult, destroy } from './lib/destroy.js';
export { type DoctorResult, doctor } from './lib/doctor.js';
export type { EnvSource, PatchworkEnv } from './lib/env.js';
export { readEnv } from './lib/env.js';
export { type ErrorCode, ErrorCodes, ExitCode, PatchworkError } from './lib/errors.js';
export type { DataEvent, DataKinds, EventSink, PatchworkEvent, WarningEvent } from './lib/events.js';
export {
  choosePromotion,
  type PromoteOptions,
  type PromotePlan,
  type PromoteResult,
  planPromote,
  promote,
} from './lib/promote.js';
export { type ProvisionOptions, type ProvisionResult, provision } from './lib/provision.js';
export { type ReleasesResult, releases, type UnlockResult, unlock } from './lib/release/index.js';
export { planRollback, type RollbackOptions, type RollbackResult, rollback } from './lib/rollback.js';
export { type CommonOptions, openSession } from './lib/session.js';
export { readStatus, type StatusOptions, type StatusReport, status } from './lib/status/index.js';
export { type WarningCode, WarningCodes } from './lib/warnings.js';
