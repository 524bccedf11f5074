import { mutatingFlags, type Outcome, PatchworkCommand } from '../cli/base.js';
import { notYet } from '../cli/pending.js';

export default class Unlock extends PatchworkCommand {
  static override summary = 'Break the deploy lock of an environment deliberately (recorded)';
  static override examples = ['<%= config.bin %> unlock --env prod'];
  static override flags = { ...mutatingFlags };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Unlock);
    this.startOutput(flags);
    return notYet('unlock', 7, this.common(flags));
  }
}
