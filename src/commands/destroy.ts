import { Flags } from '@oclif/core';
import { mutatingFlags, type Outcome, PatchworkCommand, yesFlag } from '../cli/base.js';
import { canAsk } from '../cli/confirm.js';
import type { DestroyConfirmation } from '../lib/destroy.js';
import { PatchworkError } from '../lib/errors.js';

export default class Destroy extends PatchworkCommand {
  static override summary = 'Delete everything patchwork manages for an environment';
  static override description =
    'Deletes, in reverse dependency order, the resources patchwork made for the environment (found by name and tags). ECR repositories that hold images are kept unless --delete-images. Safe to rerun.';
  static override examples = [
    '<%= config.bin %> destroy --env staging --yes',
    '<%= config.bin %> destroy --env staging --dry-run',
  ];
  static override flags = {
    ...mutatingFlags,
    yes: yesFlag(
      "do not ask: in a terminal destroy shows what it deletes and asks for the environment's name; without one --yes is required",
    ),
    'delete-images': Flags.boolean({ description: 'also delete ECR repositories that still hold images' }),
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Destroy);
    this.startOutput(flags);
    const asking = !flags.yes && !flags['dry-run'];
    if (asking && !canAsk()) {
      throw new PatchworkError(
        'PW_CONFIRMATION_REQUIRED',
        'destroy deletes resources and there is no terminal to confirm',
        {
          hint: 'pass --yes to confirm (or --dry-run to see what would be deleted)',
        },
      );
    }
    const { destroy } = await import('../lib/destroy.js');
    const dryRun = flags['dry-run'];
    const result = await destroy({
      ...this.common(flags),
      dryRun,
      deleteImages: flags['delete-images'],
      ...(asking ? { confirm: (p) => this.confirmDestroy(p) } : {}),
    });
    const pending = result.plan.summary.delete > 0 || result.taskDefinitions.length > 0;
    const verb = dryRun ? 'would delete' : 'deleted';
    const kept = result.keptRepositories.length ? `; kept ${result.keptRepositories.join(', ')} (holds images)` : '';
    return {
      result: { ...result },
      text: `${result.name}: ${verb} ${result.plan.summary.delete} resource(s) and ${result.taskDefinitions.length} task definition revision(s)${kept}`,
      exitCode: dryRun && flags['exit-code'] && pending ? 6 : 0,
    };
  }

  /** The plan's summary, then the environment's name typed back: anything else deletes nothing. */
  private async confirmDestroy(p: DestroyConfirmation): Promise<boolean> {
    const { summarize } = await import('../cli/confirm.js');
    const kept = p.keptRepositories.length ? [`  kept (hold images): ${p.keptRepositories.join(', ')}`] : [];
    const revisions = p.taskDefinitions.length ? [`  ${p.taskDefinitions.length} task definition revision(s)`] : [];
    const answer = await this.ask(
      [
        `destroy deletes from ${p.name} (${p.region}), state table and release history included:`,
        ...(p.deletes.length || revisions.length ? [...summarize(p.deletes), ...revisions] : ['  nothing']),
        ...kept,
      ],
      `Type the environment's name (${p.env}) to delete it: `,
    );
    return answer === p.env;
  }
}
