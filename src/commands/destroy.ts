import { mutatingFlags, type Outcome, PatchworkCommand } from '../cli/base.js';
import { notYet } from '../cli/pending.js';
import { PatchworkError } from '../lib/errors.js';

export default class Destroy extends PatchworkCommand {
  static override summary = 'Delete everything patchwork manages for an environment';
  static override examples = ['<%= config.bin %> destroy --env prod'];
  static override flags = { ...mutatingFlags };

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
    return notYet('destroy', 5, this.common(flags));
  }
}
