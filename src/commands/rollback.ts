import { Flags } from '@oclif/core';
import { mutatingFlags, type Outcome, PatchworkCommand, rolloutFlags, rolloutOptions } from '../cli/base.js';

export default class Rollback extends PatchworkCommand {
  static override summary = 'Roll back to the previous release, or to a given git sha';
  static override description =
    'Re-uses the recorded task definition when it still exists. An unknown or ambiguous --to exits 2 listing the nearest releases; same lock, wait and exit codes as deploy.';
  static override examples = [
    '<%= config.bin %> rollback --env prod',
    '<%= config.bin %> rollback -e prod --to 3f2a9c1',
  ];
  static override flags = {
    ...mutatingFlags,
    to: Flags.string({ description: 'git sha (full or a unique prefix) of the release to go back to' }),
    ...rolloutFlags,
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Rollback);
    this.startOutput(flags);
    if (flags['dry-run']) {
      const { planRollback } = await import('../lib/rollback.js');
      const plan = await planRollback({ ...this.common(flags), ...(flags.to ? { to: flags.to } : {}) });
      const { describeDiff } = await import('../cli/format/diff.js');
      const verdict = plan.pending ? 'changes pending' : 'already running it, nothing would change';
      const title = `rollback of ${plan.env} to ${plan.sha.slice(0, 12)} (release ${plan.releaseId} of ${plan.startedAt}, dry run): ${verdict}`;
      return {
        result: { ...plan },
        text: describeDiff(plan.diff, title),
        ...(flags['exit-code'] && plan.pending ? { exitCode: 6 } : {}),
      };
    }
    const { rollback } = await import('../lib/rollback.js');
    const result = await rollback({
      ...this.common(flags),
      ...(flags.to ? { to: flags.to } : {}),
      ...rolloutOptions(flags),
    });
    const lines = result.services.map((s) => `${s.service}: ${s.taskDefinitionArn} (${s.image})`);
    return {
      result: { ...result },
      text: [`rolled ${result.env} back to ${result.sha.slice(0, 12)}`, ...lines].join('\n'),
    };
  }
}
