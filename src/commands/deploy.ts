import { Flags } from '@oclif/core';
import {
  mutatingFlags,
  type Outcome,
  PatchworkCommand,
  rollbackOnTimeoutFlag,
  rolloutFlags,
  rolloutOptions,
} from '../cli/base.js';

export default class Deploy extends PatchworkCommand {
  static override summary = 'Build, register a digest-pinned task definition and roll it out under the deploy lock';
  static override description =
    'Exits 3 when ECS (circuit breaker) or an alarm rolled the deploy back, 4 on timeout, 5 when another deploy holds the lock.';
  static override examples = [
    '<%= config.bin %> deploy --env prod',
    '<%= config.bin %> deploy -e staging --no-wait --json',
    '<%= config.bin %> deploy -e prod --lock-wait 10m --timeout 15m',
    '<%= config.bin %> deploy -e prod --sha 1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b',
    '<%= config.bin %> deploy -e prod --service web --image 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop-prod-web:v1.4.2',
  ];
  static override flags = {
    ...mutatingFlags,
    service: Flags.string({ description: 'only this service' }),
    sha: Flags.string({
      description:
        'deploy the image already pushed for this git sha: full, or a unique prefix of 7+ hex characters (no build)',
      exclusive: ['image'],
    }),
    image: Flags.string({
      description: 'deploy this image (repo:tag in the environment registry, or any repo@sha256:…) to one service',
      exclusive: ['sha'],
    }),
    build: Flags.boolean({
      description: 'build and push HEAD when the registry lacks it (--no-build: deploy only what is pushed)',
      default: true,
      allowNo: true,
    }),
    ...rolloutFlags,
    ...rollbackOnTimeoutFlag,
    'allow-dirty': Flags.boolean({ description: 'deploy uncommitted changes, tagged <sha>-dirty-<hash>' }),
    fast: Flags.boolean({
      description:
        'break-glass: no smoke test, wait only for ECS to accept the rollout (no target-health or alarm checks); marked fast in history',
    }),
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Deploy);
    this.startOutput(flags);
    const common = { ...this.common(flags), ...(flags.service ? { service: flags.service } : {}) };
    if (flags['dry-run']) {
      const { planDeploy } = await import('../lib/deploy.js');
      const plan = await planDeploy({
        ...common,
        ...(flags['allow-dirty'] ? { allowDirty: true } : {}),
        ...(flags.build ? {} : { build: false }),
        ...(flags.sha ? { sha: flags.sha } : {}),
        ...(flags.image ? { image: flags.image } : {}),
      });
      const { describeDiff } = await import('../cli/format/diff.js');
      const verdict = plan.pending ? 'changes pending' : 'nothing would change';
      return {
        result: { ...plan },
        text: describeDiff(plan.diff, `deploy to ${plan.env} (dry run): ${verdict}`),
        ...(flags['exit-code'] && plan.pending ? { exitCode: 6 } : {}),
      };
    }
    const { deploy } = await import('../lib/deploy.js');
    const result = await deploy({
      ...common,
      ...rolloutOptions(flags),
      ...(flags['allow-dirty'] ? { allowDirty: true } : {}),
      ...(flags.fast ? { fast: true } : {}),
      ...(flags.build ? {} : { build: false }),
      ...(flags.sha ? { sha: flags.sha } : {}),
      ...(flags.image ? { image: flags.image } : {}),
    });
    const { describeDeploy } = await import('../cli/format/deploy.js');
    const phases = { ...this.phases.seconds(), ...(result.watch ? { rollout: result.watch.seconds } : {}) };
    return {
      result: { ...result, url: result.smoke?.ok ? result.smoke.url : null, phases },
      text: describeDeploy(result, this.phases.describe(result.watch?.seconds)),
    };
  }
}
