import { mutatingFlags, type Outcome, PatchworkCommand, yesFlag } from '../cli/base.js';
import { canAsk } from '../cli/confirm.js';
import { ExitCode } from '../lib/errors.js';

export default class Provision extends PatchworkCommand {
  static override summary =
    'Create or update everything an environment needs (ECR, ECS, ALB, IAM, alarms, state table)';
  static override description =
    'Reads AWS, compares it with patchwork.yml and applies the difference in dependency order. Safe to rerun: a second run changes nothing; out-of-band drift is listed and repaired. With --dry-run the plan is printed and nothing changes; add --exit-code to exit 6 when changes are pending.';
  static override examples = [
    '<%= config.bin %> provision --env prod',
    '<%= config.bin %> provision --env prod --dry-run --exit-code --json',
  ];
  static override flags = {
    ...mutatingFlags,
    yes: yesFlag('do not ask: in a terminal provision asks before a plan that replaces or deletes something'),
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Provision);
    this.startOutput(flags);
    const { provision } = await import('../lib/provision.js');
    const { describePlan } = await import('../cli/format/plan.js');
    const { describeCost } = await import('../cli/format/cost.js');
    const dryRun = flags['dry-run'];
    const asking = !flags.yes && !dryRun && canAsk();
    const result = await provision({
      ...this.common(flags),
      dryRun,
      ...(asking
        ? {
            confirm: async (plan) =>
              /^y(es)?$/i.test(
                await this.ask([describePlan(plan, true)], 'Apply this plan (replaces/deletes)? [y/N] '),
              ),
          }
        : {}),
    });
    const exitCode = dryRun && flags['exit-code'] && result.pending ? ExitCode.CHANGES_OR_UNHEALTHY : ExitCode.OK;
    const text = `${describePlan(result.plan, dryRun)}\n${describeCost(result.cost)}`;
    return { result: { ...result }, text, exitCode };
  }
}
