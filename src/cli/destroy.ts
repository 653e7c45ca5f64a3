// `paas destroy [dir] --env <name>`: removes an environment (containers, route,
// network; unused images) from the Docker runtime. Idempotent.
import { resolveApps } from "../config/load.ts";
import { envSlug, type Target } from "../names.ts";
import { appDir, args, envArg, loadConfigAt, type Command } from "./io.ts";
import { localPlatform } from "./local.ts";
import { localRepo } from "./repo.ts";

export const destroyCommand: Command = async (argv, io) => {
  const { values, positionals } = args(argv, { env: { type: "string" }, app: { type: "string" } });
  const environment = envArg(values.env);
  const dir = await appDir(positionals[0], io.cwd);
  const loaded = await loadConfigAt(dir, io.cwd);
  const keys = resolveApps(loaded)
    .map((a) => a.key)
    .filter((k) => values.app === undefined || k === values.app);
  if (keys.length === 0) {
    io.err(`paas destroy: error: no app "${values.app}" under apps in ${loaded.file}`);
    return 1;
  }
  const repo = await localRepo(dir);
  const platform = await localPlatform(io.env);
  for (const app of keys) {
    const target: Target = { owner: repo.owner, repo: repo.repo, app, environment };
    await platform.runtime.destroy(target);
    io.out(`removed ${envSlug(environment)}${app ? ` of ${app}` : ""} (${repo.owner}/${repo.repo})`);
  }
  return 0;
};
