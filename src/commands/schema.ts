import { type Outcome, PatchworkCommand } from '../cli/base.js';

export default class Schema extends PatchworkCommand {
  static override summary = 'Print the JSON Schema of patchwork.yml (for editors)';
  static override examples = ['<%= config.bin %> schema > patchwork.schema.json'];

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Schema);
    const { configJsonSchema } = await import('../lib/config/schema.js');
    const schema = JSON.stringify(configJsonSchema(), null, 2);
    if (flags.json) {
      this.startOutput(flags);
      return { result: { schema: configJsonSchema() } };
    }
    process.stdout.write(`${schema}\n`);
    process.exitCode = 0;
    return { exitCode: 0 };
  }
}
