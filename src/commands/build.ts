import { Flags } from '@oclif/core';
import { mutatingFlags, type Outcome, PatchworkCommand } from '../cli/base.js';

export default class Build extends PatchworkCommand {
  static override summary = 'Build service images through the Docker Engine API, tagged by git sha, and push them';
  static override description =
    'Skips a service whose tag the registry already has (and reports its digest). A dirty work tree is refused for push unless --allow-dirty.';
  static override examples = [
    '<%= config.bin %> build --env prod',
    '<%= config.bin %> build -e staging --service web --no-push',
    '<%= config.bin %> build -e prod --allow-dirty --json',
  ];
  static override flags = {
    ...mutatingFlags,
    service: Flags.string({ description: 'only this service' }),
    'no-push': Flags.boolean({ description: 'build a local image only (no registry, no AWS calls)' }),
    'allow-dirty': Flags.boolean({ description: 'push uncommitted changes, tagged <sha>-dirty-<hash>' }),
    tag: Flags.string({ description: 'tag to use instead of the git sha (git then optional)' }),
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Build);
    this.startOutput(flags);
    const { build } = await import('../lib/build.js');
    const result = await build({
      ...this.common(flags),
      ...(flags.service ? { service: flags.service } : {}),
      ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
      push: !flags['no-push'],
      allowDirty: flags['allow-dirty'],
      dryRun: flags['dry-run'],
    });
    const lines = result.images.map((i) => {
      const what = i.skipped
        ? 'already pushed'
        : i.wouldBuild
          ? 'would build and push'
          : i.pushed
            ? `built and pushed in ${i.seconds}s`
            : `built in ${i.seconds}s (not pushed)`;
      return `${i.service}: ${what}: ${i.digest ? `${i.repository}@${i.digest}` : i.image}`;
    });
    const pending = result.images.some((i) => i.wouldBuild);
    return {
      result: { ...result },
      text: lines.length ? lines.join('\n') : 'no service has build: (nothing to build)',
      ...(flags['dry-run'] && flags['exit-code'] && pending ? { exitCode: 6 } : {}),
    };
  }
}
