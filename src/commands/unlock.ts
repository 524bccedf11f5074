import { mutatingFlags, type Outcome, PatchworkCommand } from '../cli/base.js';

export default class Unlock extends PatchworkCommand {
  static override summary = 'Break the deploy lock of an environment deliberately (recorded)';
  static override description = 'The broken lock (holder, command, start) is written to the release history.';
  static override examples = ['<%= config.bin %> unlock --env prod'];
  static override flags = { ...mutatingFlags };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Unlock);
    this.startOutput(flags);
    const { unlock } = await import('../lib/release/index.js');
    const result = await unlock({ ...this.common(flags), dryRun: flags['dry-run'] });
    const lock = result.broken ? `${result.broken.holder} (${result.broken.command})` : null;
    return {
      result: { ...result },
      text: lock ? (result.dryRun ? `would break the lock of ${lock}` : `broke the lock of ${lock}`) : 'not locked',
      ...(flags['dry-run'] && flags['exit-code'] && lock ? { exitCode: 6 } : {}),
    };
  }
}
