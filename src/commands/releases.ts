import { type Outcome, PatchworkCommand } from '../cli/base.js';
import { notYet } from '../cli/pending.js';

export default class Releases extends PatchworkCommand {
  static override summary = 'List the release history of an environment';
  static override examples = ['<%= config.bin %> releases --env prod'];
  static override flags = {};

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Releases);
    this.startOutput(flags);
    return notYet('releases', 7, this.common(flags));
  }
}
