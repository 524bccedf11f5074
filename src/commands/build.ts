import { mutatingFlags, type Outcome, PatchworkCommand } from '../cli/base.js';
import { notYet } from '../cli/pending.js';

export default class Build extends PatchworkCommand {
  static override summary = 'Build service images through the Docker Engine API and push them';
  static override examples = ['<%= config.bin %> build --env prod'];
  static override flags = { ...mutatingFlags };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Build);
    this.startOutput(flags);
    return notYet('build', 6, this.common(flags));
  }
}
