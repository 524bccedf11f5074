import { mutatingFlags, type Outcome, PatchworkCommand } from '../cli/base.js';
import { notYet } from '../cli/pending.js';

export default class Rollback extends PatchworkCommand {
  static override summary = 'Roll back to the previous release, or to a given git sha';
  static override examples = ['<%= config.bin %> rollback --env prod'];
  static override flags = { ...mutatingFlags };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Rollback);
    this.startOutput(flags);
    return notYet('rollback', 7, this.common(flags));
  }
}
