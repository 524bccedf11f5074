import { Flags } from '@oclif/core';
import {
  mutatingFlags,
  type Outcome,
  PatchworkCommand,
  rollbackOnTimeoutFlag,
  rolloutFlags,
  rolloutOptions,
} from '../cli/base.js';

export default class Promote extends PatchworkCommand {
  static override summary = "Deploy exactly the image digests another environment's successful release runs";
  static override description =
    "Nothing is built or pushed: the target's release records the source's git sha, the digests and promotedFrom. A sha the source never released successfully exits 2 naming the ones it did; same lock, wait, smoke test and exit codes as deploy.";
  static override examples = [
    '<%= config.bin %> promote --from staging --env prod',
    '<%= config.bin %> promote --from staging -e prod --sha 3f2a9c1 --service web',
    '<%= config.bin %> promote --from staging -e prod --dry-run --json',
  ];
  static override flags = {
    ...mutatingFlags,
    from: Flags.string({ description: 'the environment whose release is promoted', required: true }),
    service: Flags.string({ description: 'only this service' }),
    sha: Flags.string({
      description: "git sha (full or a unique prefix) of the source's release [default: its newest successful one]",
    }),
    ...rolloutFlags,
    ...rollbackOnTimeoutFlag,
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Promote);
    this.startOutput(flags);
    const common = {
      ...this.common(flags),
      from: flags.from,
      ...(flags.service ? { service: flags.service } : {}),
      ...(flags.sha ? { sha: flags.sha } : {}),
    };
    if (flags['dry-run']) {
      const { planPromote } = await import('../lib/promote.js');
      const plan = await planPromote(common);
      const pending = plan.services.some((s) => s.change);
      return {
        result: { ...plan },
        text: [
          `would promote ${plan.sha.slice(0, 12)} from ${plan.from} to ${plan.env}`,
          ...plan.services.map(
            (s) =>
              `  ${s.service}: ${s.change ? `would deploy ${s.image}` : `already on ${s.current ?? '?'}`}${s.copy && !s.copy.present ? ` (would copy it from ${s.copy.from})` : ''}`,
          ),
        ].join('\n'),
        ...(flags['exit-code'] && pending ? { exitCode: 6 } : {}),
      };
    }
    const { promote } = await import('../lib/promote.js');
    const result = await promote({
      ...common,
      ...rolloutOptions(flags),
    });
    const { describeDeploy } = await import('../cli/format/deploy.js');
    const phases = { ...this.phases.seconds(), ...(result.watch ? { rollout: result.watch.seconds } : {}) };
    return {
      result: { ...result, url: result.smoke?.ok ? result.smoke.url : null, phases },
      text: describeDeploy(
        { ...result, source: 'registry' },
        this.phases.describe(result.watch?.seconds),
        `promoted from ${result.from}:`,
      ),
    };
  }
}
