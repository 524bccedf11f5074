import { Flags } from '@oclif/core';
import { type Outcome, PatchworkCommand } from '../cli/base.js';

export default class Releases extends PatchworkCommand {
  static override summary = 'List the release history of an environment';
  static override examples = ['<%= config.bin %> releases --env prod', '<%= config.bin %> releases -e prod --json'];
  static override flags = {
    limit: Flags.integer({ description: 'how many (newest first) [default: deploy.keepReleases]', min: 1, max: 1000 }),
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Releases);
    this.startOutput(flags);
    const { releases } = await import('../lib/release/index.js');
    const result = await releases({ ...this.common(flags), ...(flags.limit ? { limit: flags.limit } : {}) });
    const rows = result.releases.map((r) =>
      [
        r.startedAt,
        r.kind.padEnd(8),
        (r.sha ?? '-').slice(0, 12).padEnd(12),
        r.outcome.padEnd(11),
        r.durationMs === null ? '-' : `${Math.round(r.durationMs / 1000)}s`,
        r.deployer,
        r.fast ? 'fast' : '',
        r.promotedFrom ? `promoted from ${r.promotedFrom}` : '',
        r.reason ?? '',
      ]
        .join('  ')
        .trimEnd(),
    );
    const lock = result.lock
      ? `locked by ${result.lock.holder} (${result.lock.command}) since ${new Date(result.lock.startedAt).toISOString()}`
      : 'not locked';
    return {
      result: { ...result },
      text: [...(rows.length ? rows : [`no releases recorded for ${result.env}`]), lock].join('\n'),
    };
  }
}
