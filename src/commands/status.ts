import { Flags } from '@oclif/core';
import { type Outcome, PatchworkCommand } from '../cli/base.js';
import { PlainRenderer } from '../cli/render.js';
import { sleep } from '../lib/abort.js';
import { ExitCode } from '../lib/errors.js';
import type { StatusReport } from '../lib/status/model.js';

export default class Status extends PatchworkCommand {
  static override summary = 'Show the live state of an environment; exit 0 healthy, 6 unhealthy';
  static override description =
    'Per service: tasks, deployments (with release sha and rollout state), target health, alarms, the last hour of metrics and recent events; for a service that is not healthy, its newest task that stopped on its own (stop reason, exit code, the last 10 lines of its log); the current release and the deploy lock. Exit 0 when healthy (steady state, all targets healthy, no alarm), 6 when not (or when provisioned but never deployed: state `not-deployed`), 2 when the environment was never provisioned. With --json the result line carries one `status` object (schemaVersion 1).';
  static override examples = [
    '<%= config.bin %> status --env prod',
    '<%= config.bin %> status --env prod --service web --json',
    '<%= config.bin %> status --env prod --watch',
  ];
  static override flags = {
    service: Flags.string({ description: 'only this service' }),
    watch: Flags.boolean({ description: 'refresh every --interval seconds until Ctrl-C' }),
    interval: Flags.integer({ description: 'seconds between refreshes with --watch', default: 5, min: 1 }),
    'watch-count': Flags.integer({ hidden: true, description: 'stop --watch after this many refreshes', min: 1 }),
  };

  // status takes no lock: Ctrl-C only ends the read or the --watch loop.
  protected override interruptNote: string | null = 'stopping; press Ctrl-C again to exit at once';

  async execute(): Promise<Outcome> {
    const { flags } = await this.parse(Status);
    if (flags.json) this.startOutput(flags);
    else this.renderer = new PlainRenderer(process.stdout, flags.debug);
    const { openSession } = await import('../lib/session.js');
    const { readStatus } = await import('../lib/status/index.js');
    const { statusScreen, statusText } = await import('../cli/format/status.js');
    const session = await openSession({ ...this.common(flags), ...(flags.service ? { service: flags.service } : {}) });
    const tty = !flags.json && !!process.stdout.isTTY && !process.env.CI && process.env.TERM !== 'dumb';

    // Ctrl-C between refreshes ends --watch with the last report (and its exit code); during a
    // read, the read is cut (PW_INTERRUPTED, exit 130).
    const signal = this.abort.signal;
    const outcome = (report: StatusReport, text: string): Outcome => ({
      result: { status: report, state: report.state, healthy: report.healthy, problems: report.problems },
      ...(flags.watch && !flags.json ? {} : { text }),
      exitCode: report.healthy ? ExitCode.OK : ExitCode.CHANGES_OR_UNHEALTHY,
    });
    for (let frame = 1; ; frame++) {
      const report = await readStatus(session);
      const last = !flags.watch || (flags['watch-count'] !== undefined && frame >= flags['watch-count']);
      const text = statusText(report, { sparklines: tty });
      if (flags.watch && flags.json && !last) {
        this.renderer?.event({ type: 'data', kind: 'status', data: report });
      } else if (flags.watch && !flags.json) {
        const stamp = `— ${report.generatedAt}, every ${flags.interval}s${tty ? ', Ctrl-C to stop' : ''}`;
        // A terminal gets the report fitted to its height (the summary and what is unhealthy first).
        const { rows = 24, columns = 80 } = process.stdout;
        const screen = tty ? statusScreen(report, { sparklines: true, rows, cols: columns, reserve: 2 }) : text;
        process.stdout.write(tty ? `\x1b[H\x1b[2J${screen}\n\n${stamp}\n` : `${text}\n${stamp}\n\n`);
      }
      if (last) return outcome(report, text);
      const woken = await sleep(flags.interval * 1000, signal).then(
        () => false,
        () => true,
      );
      if (woken) return outcome(report, text);
    }
  }
}
