import { type Outcome, PatchworkCommand } from '../cli/base.js';
import { notYet } from '../cli/pending.js';

export default class Status extends PatchworkCommand {
  static override summary = 'Show the live state of an environment; exit 0 healthy, 6 unhealthy';
  static override examples = ['<%= config.bin %> status --env prod'];
  static override flags = {};

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Status);
    this.startOutput(flags);
    return notYet('status', 8, this.common(flags));
  }
}
