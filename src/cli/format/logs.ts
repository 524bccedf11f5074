/** One log line for people: time, service/task (short id), container, message; a colour per task in a terminal. */
import type { LogLine } from '../../lib/logs/index.js';

const COLOURS = [36, 33, 35, 32, 34, 91, 96, 93];

export function colourOf(taskId: string): number {
  let h = 0;
  for (const ch of taskId) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return COLOURS[h % COLOURS.length]!;
}

export function logLineText(line: LogLine, colour: boolean): string {
  const who = `${line.service}/${line.taskId.slice(0, 8)} ${line.container}`;
  return `${line.time} ${colour ? `\x1b[${colourOf(line.taskId)}m${who}\x1b[0m` : who} | ${line.message}`;
}
