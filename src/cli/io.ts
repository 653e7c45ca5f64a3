// The CLI's I/O seam: commands write through it, so tests read what a user sees.
import { readFile, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CONFIG_FILE, parseConfig, type LoadedConfig } from "../config/load.ts";
import { PaasError } from "../errors.ts";
import { parseEnvironment, type EnvRef } from "../names.ts";

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C. */
  signal?: AbortSignal;
}

export type Command = (argv: string[], io: CliIO) => Promise<number>;

/** The command line itself is wrong (unknown flag, missing --env): main prints the usage, exit 2. */
export class UsageError extends Error {}

export function defaultIO(): CliIO {
  const ac = new AbortController();
  process.once("SIGINT", () => ac.abort());
  return {
    out: (t) => process.stdout.write(t.endsWith("\n") ? t : t + "\n"),
    err: (t) => process.stderr.write(t.endsWith("\n") ? t : t + "\n"),
    cwd: process.cwd(),
    env: process.env,
    signal: ac.signal,
  };
}

/** parseArgs with the CLI's conventions: unknown flags are usage errors. */
export function args<T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Reads `<dir>/.paas.yml`; a missing file means defaults. Errors name the file as the user would type it. */
export async function loadConfigAt(dir: string, cwd: string): Promise<LoadedConfig & { file: string }> {
  const path = join(dir, CONFIG_FILE);
  const file = relative(cwd, path) || CONFIG_FILE;
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  return { ...parseConfig(text, file), file };
}

/** The app folder a command works on: the positional argument or the current folder. */
export async function appDir(positional: string | undefined, cwd: string): Promise<string> {
  const dir = resolve(cwd, positional ?? ".");
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir)
    throw new PaasError("no_such_dir", `${positional ?? "."} is not a folder; pass the app's folder`);
  return dir;
}

/** The --env flag: production, a configured environment, or preview/pr-<N>; anything else is a usage error. */
export function envArg(value: string | undefined): EnvRef {
  if (!value)
    throw new UsageError("--env is required (production, a configured environment, or preview/pr-<N>)");
  try {
    return parseEnvironment(value);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
