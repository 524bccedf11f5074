import { existsSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Flags } from '@oclif/core';
import { type Outcome, PatchworkCommand } from '../cli/base.js';
import { parseConfig } from '../lib/config/load.js';
import { starterConfig } from '../lib/config/starter.js';
import { isPatchworkError, PatchworkError } from '../lib/errors.js';

export default class Init extends PatchworkCommand {
  static override summary = 'Write a commented starter patchwork.yml';
  static override examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init --app shop --context webapp --port 8080',
  ];
  static override flags = {
    app: Flags.string({ description: 'app name [default: from the directory name]' }),
    context: Flags.string({ description: 'build context of the web service', default: 'webapp' }),
    port: Flags.integer({ description: 'container port', default: 8080, min: 1, max: 65535 }),
    force: Flags.boolean({ description: 'overwrite an existing file' }),
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Init);
    this.startOutput(flags);
    const file = resolve(flags.config ?? 'patchwork.yml');
    if (existsSync(file) && !flags.force) {
      throw new PatchworkError('PW_FILE_EXISTS', `${file} already exists`, { hint: 'pass --force to overwrite it' });
    }
    const dirName = basename(process.cwd())
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .replace(/^[^a-z]+/, '')
      .slice(0, 20);
    const app = flags.app ?? (dirName.replace(/-+$/, '') || 'app');
    const region = flags.region ?? process.env.AWS_REGION ?? 'eu-west-1';
    const text = starterConfig({ app, region, context: flags.context, port: flags.port });
    checkStarter(text, file, { app, region, context: flags.context, port: String(flags.port) });
    writeFileSync(file, text);
    return { result: { file }, text: `wrote ${file}; next: patchwork doctor --env staging` };
  }
}

/** Which flag set the starter's value at a config path. */
const FLAG_OF: [RegExp, keyof StarterValues][] = [
  [/^app$/, 'app'],
  [/^region$/, 'region'],
  [/\.build\.context$/, 'context'],
  [/\.port$/, 'port'],
];
type StarterValues = { app: string; region: string; context: string; port: string };

/**
 * The starter must itself be valid (e.g. --app with capitals is refused): a bad value is the flag's
 * fault (PW_USAGE naming --app), not a line of a file that was never written.
 */
function checkStarter(text: string, file: string, values: StarterValues): void {
  try {
    parseConfig(text, file);
  } catch (err) {
    const issues = isPatchworkError(err) ? (err.data.issues as { path: string; message: string }[] | undefined) : null;
    if (!issues?.length) throw err;
    const lines = issues.map((i) => {
      const flag = FLAG_OF.find(([re]) => re.test(i.path))?.[1];
      return flag ? `--${flag} ${values[flag]}: ${i.message}` : `${i.path}: ${i.message}`;
    });
    throw new PatchworkError('PW_USAGE', lines.join('; '), {
      hint: 'fix the value of that flag (`patchwork init --help`)',
      data: { issues },
    });
  }
}
