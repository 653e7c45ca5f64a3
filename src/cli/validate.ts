// `paas validate [dir]`: compiler-style errors, exit 1 on any error.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { resolveApps } from "../config/load.ts";
import { ConfigError } from "../errors.ts";
import { appDir, args, loadConfigAt, type Command } from "./io.ts";

export const validate: Command = async (argv, io) => {
  const { positionals } = args(argv, {});
  const dir = await appDir(positionals[0], io.cwd);
  let loaded;
  try {
    loaded = await loadConfigAt(dir, io.cwd);
  } catch (e) {
    if (e instanceof ConfigError) {
      io.err(e.message);
      io.err(`${e.issues.length} error${e.issues.length === 1 ? "" : "s"}`);
      return 1;
    }
    throw e;
  }
  const apps = resolveApps(loaded);
  // Monorepo app folders must exist: a typo there would only show at build time.
  let missing = 0;
  for (const app of apps) {
    const ok = await stat(join(dir, app.path)).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!ok) {
      io.err(`${loaded.file}: error: apps.${app.key}.path "${app.path}" is not a folder of this repository`);
      missing++;
    }
  }
  if (missing) return 1;
  const names = apps.map((a) => (a.key ? `${a.key} (${a.path})` : "one app"));
  io.out(`${loaded.file}: ${loaded.present ? "valid" : "not found, using defaults"}: ${names.join(", ")}`);
  return 0;
};
