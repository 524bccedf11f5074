/**
 * The command/flag surface is a contract scripts depend on: it is snapshotted here, so any change
 * to a verb, flag, short flag or env var shows up in review (update with `vitest -u` on purpose).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands.js';

const manifestPath = fileURLToPath(new URL('../../oclif.manifest.json', import.meta.url));

describe('CLI surface', () => {
  it.skipIf(!existsSync(manifestPath))('matches the checked-in snapshot', async () => {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      commands: Record<
        string,
        { flags: Record<string, { char?: string; env?: string; type: string; multiple?: boolean }> }
      >;
    };
    const surface = Object.fromEntries(
      Object.keys(manifest.commands)
        .sort()
        .map((id) => [
          id,
          Object.entries(manifest.commands[id]!.flags)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([name, f]) => `--${name}${f.char ? ` -${f.char}` : ''}${f.env ? ` $${f.env}` : ''} (${f.type})`),
        ]),
    );
    await expect(JSON.stringify(surface, null, 2)).toMatchFileSnapshot('../contract/cli-surface.json');
  });
});

describe('the bundled CLI (src/cli/commands.ts)', () => {
  it('lists every command file under src/commands, each by its default export', async () => {
    const dir = fileURLToPath(new URL('../../src/commands', import.meta.url));
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(Object.keys(COMMANDS).sort()).toEqual(files);
    for (const id of files) {
      const mod = (await import(/* @vite-ignore */ new URL(`../../src/commands/${id}.ts`, import.meta.url).href)) as {
        default: unknown;
      };
      expect(COMMANDS[id as keyof typeof COMMANDS], id).toBe(mod.default);
    }
  });
});
