import { Flags } from '@oclif/core';
import { mutatingFlags, type Outcome, PatchworkCommand } from '../cli/base.js';
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
    'delete-images': Flags.boolean({ description: 'also delete ECR repositories that still hold images' }),
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Destroy);
    this.startOutput(flags);
    if (!flags.yes && !flags['dry-run'] && !process.stdin.isTTY) {
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
    const result = await destroy({ ...this.common(flags), dryRun, deleteImages: flags['delete-images'] });
    const pending = result.plan.summary.delete > 0 || result.taskDefinitions.length > 0;
    const verb = dryRun ? 'would delete' : 'deleted';
    const kept = result.keptRepositories.length ? `; kept ${result.keptRepositories.join(', ')} (holds images)` : '';
    return {
      result: { ...result },
      text: `${result.name}: ${verb} ${result.plan.summary.delete} resource(s) and ${result.taskDefinitions.length} task definition revision(s)${kept}`,
      exitCode: dryRun && flags['exit-code'] && pending ? 6 : 0,
    };
  }
}
