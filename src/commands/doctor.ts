import { Flags } from '@oclif/core';
import { type Outcome, PatchworkCommand } from '../cli/base.js';

export default class Doctor extends PatchworkCommand {
  static override summary = 'Check config, AWS credentials and endpoint, Docker engine and registry';
  static override examples = ['<%= config.bin %> doctor --env prod', '<%= config.bin %> doctor -e staging --json'];
  static override flags = {
    'skip-docker': Flags.boolean({ description: 'do not check the Docker engine' }),
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Doctor);
    this.startOutput(flags);
    const { doctor } = await import('../lib/doctor.js');
    const result = await doctor({ ...this.common(flags), skipDocker: flags['skip-docker'] });
    return { result: { ...result }, text: `all ${result.checks.length} checks passed` };
  }
}
