import { mutatingFlags, type Outcome, PatchworkCommand } from '../cli/base.js';
import { notYet } from '../cli/pending.js';

export default class Provision extends PatchworkCommand {
  static override summary =
    'Create or update everything an environment needs (ECR, ECS, ALB, IAM, alarms, state table)';
  static override examples = ['<%= config.bin %> provision --env prod'];
  static override flags = { ...mutatingFlags };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Provision);
    this.startOutput(flags);
    return notYet('provision', 5, this.common(flags));
  }
}
