import { Args, Flags } from '@oclif/core';
import { durationFlag, type Outcome, PatchworkCommand, yesFlag } from '../cli/base.js';
import { canAsk } from '../cli/confirm.js';
import { PlainRenderer } from '../cli/render.js';
import { ExitCode } from '../lib/errors.js';
import type { RunResult, StopQuestion } from '../lib/run.js';

export default class Run extends PatchworkCommand {
  static override summary = "Run a one-off task (a migration, a console) on a service's task definition";
  static override description =
    "RunTask from the service's current task definition (or, with --image/--sha, a one-off revision with that image pinned by digest) in the service's subnets and security groups, startedBy patchwork. Its log is streamed to stdout while it runs. Exits with the container's exit code; 1 with ECS's stop reason when the task could not start (e.g. CannotPullContainerError); 4 when it outlives --timeout (it is stopped). --detach prints the task ARN and exits 0. Ctrl-C in a terminal asks whether to stop the task: yes (Enter, 'y' or a second Ctrl-C) stops it and waits until it is STOPPED (exit 130), 'n' leaves it running and prints how to follow and stop it (exit 0); without a terminal, or with --yes, Ctrl-C stops it at once (exit 130).";
  static override examples = [
    '<%= config.bin %> run --env prod -- /webapp -version',
    '<%= config.bin %> run --env prod --service web --sha 3f2a9c1 -- /app/migrate up',
    '<%= config.bin %> run --env staging --detach --json -- /app/reindex',
  ];
  static override strict = false;
  static override args = { command: Args.string({ description: 'the command and its arguments (after --)' }) };
  static override flags = {
    service: Flags.string({ description: 'the service whose task definition and network to use' }),
    image: Flags.string({
      description: 'run this image (repository@sha256:…) in a one-off revision',
      exclusive: ['sha'],
    }),
    sha: Flags.string({ description: 'run the image pushed for this git sha in a one-off revision' }),
    cpu: Flags.integer({ description: 'task CPU units for this run (Fargate sizes: 256, 512, 1024, …)', min: 128 }),
    memory: Flags.integer({ description: 'task memory MiB for this run', min: 128 }),
    timeout: durationFlag({
      description: 'stop the task after this long (90s, 10m, 1h) [default: deploy.timeoutSeconds]',
      min: 1,
    }),
    detach: Flags.boolean({ description: 'print the task ARN once started; do not wait' }),
    yes: yesFlag('do not ask on Ctrl-C: stop the task at once (as without a terminal)'),
  };

  async execute(): Promise<Outcome> {
    const { flags, argv } = await this.parse(Run);
    if (flags.json) this.startOutput(flags);
    else this.renderer = new PlainRenderer(process.stderr, flags.debug);
    const { run } = await import('../lib/run.js');
    const asking = !flags.yes && !flags.detach && canAsk();
    this.interruptNote = asking ? null : 'stopping the task; press Ctrl-C again to exit at once';
    const r = await run({
      ...this.common(flags),
      command: argv as string[],
      ...(flags.service ? { service: flags.service } : {}),
      ...(flags.image ? { image: flags.image } : {}),
      ...(flags.sha ? { sha: flags.sha } : {}),
      ...(flags.cpu ? { cpu: flags.cpu } : {}),
      ...(flags.memory ? { memory: flags.memory } : {}),
      ...(flags.timeout ? { timeoutSeconds: flags.timeout } : {}),
      ...(flags.detach ? { detach: true } : {}),
      ...(flags.json ? {} : { onLine: (line) => process.stdout.write(`${line.message}\n`) }),
      ...(asking ? { confirmStop: (q) => this.confirmStop(q) } : {}),
    });
    if (r.leftRunning) {
      process.stderr.write(leftRunningText(r));
      return { result: { ...r } };
    }
    if (r.detached) {
      if (!flags.json) process.stdout.write(`${r.taskArn}\n`);
      return { result: { ...r } };
    }
    const exitCode = r.exitCode ?? ExitCode.UNEXPECTED;
    const how =
      r.exitCode === null
        ? `✗ task ${r.taskId} did not run: ${r.stoppedReason ?? r.stopCode ?? 'stopped'}`
        : `task ${r.taskId} exited ${r.exitCode}`;
    process.stderr.write(`${how}\n`);
    return { result: { ...r }, exitCode };
  }

  /** Ctrl-C while the task runs: Enter, 'y' or another Ctrl-C stop it; 'n' leaves it running. */
  private async confirmStop(q: StopQuestion): Promise<boolean> {
    if (this.abort.signal.reason === 'SIGTERM') {
      process.stderr.write(`SIGTERM: stopping task ${q.taskId}\n`);
      return true;
    }
    const answer = await this.ask(
      ['', `task ${q.taskId} (${q.service}) is still ${q.lastStatus}.`],
      `Stop task ${q.taskId}? [Y/n] `,
    );
    const stop = !/^n(o)?$/i.test(answer);
    if (stop)
      process.stderr.write(`stopping task ${q.taskId} and waiting until it is STOPPED (Ctrl-C again: exit at once)\n`);
    return stop;
  }
}

function leftRunningText(r: RunResult): string {
  return [
    `task ${r.taskId} left running: ${r.taskArn}`,
    `  follow it: patchwork logs --env ${r.env} --service ${r.service} --task ${r.taskId} --follow`,
    `  stop it:   aws ecs stop-task --cluster ${r.cluster} --task ${r.taskArn}`,
    '',
  ].join('\n');
}
