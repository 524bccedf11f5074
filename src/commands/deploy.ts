import { mutatingFlags, type Outcome, PatchworkCommand } from '../cli/base.js';
import { notYet } from '../cli/pending.js';

export default class Deploy extends PatchworkCommand {
  static override summary = 'Build, register a digest-pinned task definition and roll it out under the deploy lock';
  static override examples = ['<%= config.bin %> deploy --env prod'];
  static override flags = { ...mutatingFlags };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Deploy);
    this.startOutput(flags);
    return notYet('deploy', 7, this.common(flags));
  }
}
