import { Flags } from '@oclif/core';
import { durationFlag, type Outcome, PatchworkCommand } from '../cli/base.js';
import { PlainRenderer } from '../cli/render.js';

export default class Logs extends PatchworkCommand {
  static override summary = "Show the services' CloudWatch logs, interleaved by time; --follow for new lines";
  static override description =
    'Lines of every task container of the environment (or --service / --task), oldest first, as `time service/task container | message`, a colour per task in a terminal. With --json: one `data` event of kind `log.line` per line (NDJSON). --follow polls every deploy.pollSeconds until Ctrl-C (exit 0). Exit 2 for bad input, 1 when AWS fails.';
  static override examples = [
    '<%= config.bin %> logs --env prod --since 30m',
    '<%= config.bin %> logs --env prod --service web --follow --filter ERROR',
    '<%= config.bin %> logs --env prod --task 0123456789abcdef --json',
  ];
  static override flags = {
    service: Flags.string({ description: 'only this service' }),
    task: Flags.string({ description: 'only this task (id or ARN)' }),
    since: durationFlag({ description: 'how far back to start (90s, 10m, 1h)', default: 600, min: 1 }),
    follow: Flags.boolean({ char: 'f', description: 'keep polling for new lines until Ctrl-C' }),
    filter: Flags.string({ description: 'a CloudWatch Logs filter pattern (terms, or a "quoted phrase")' }),
  };

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Logs);
    if (flags.json) this.startOutput(flags);
    else this.renderer = new PlainRenderer(process.stderr, flags.debug);
    const { logs } = await import('../lib/logs/index.js');
    const { logLineText } = await import('../cli/format/logs.js');
    const colour = !flags.json && !!process.stdout.isTTY && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
    const result = await logs({
      ...this.common(flags),
      ...(flags.service ? { service: flags.service } : {}),
      ...(flags.task ? { task: flags.task } : {}),
      ...(flags.filter ? { filter: flags.filter } : {}),
      sinceSeconds: flags.since,
      follow: flags.follow,
      ...(flags.json ? {} : { onLine: (line) => process.stdout.write(`${logLineText(line, colour)}\n`) }),
    });
    return { result: { ...result } };
  }
}
