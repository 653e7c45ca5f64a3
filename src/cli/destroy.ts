// `paas destroy [dir] --env <name>`: removes an environment (containers, route,
// network; unused images) from the Docker runtime. Idempotent.
import { envSlug } from "../names.ts";
import { appDir, args, envArg, type Command } from "./io.ts";
import { localPlatform } from "./local.ts";
import { localTargets } from "./repo.ts";

export const destroyCommand: Command = async (argv, io) => {
  const { values, positionals } = args(argv, { env: { type: "string" }, app: { type: "string" } });
  const environment = envArg(values.env);
  const dir = await appDir(positionals[0], io.cwd);
  const { repo, targets } = await localTargets(dir, io.cwd, environment, values.app);
  const platform = await localPlatform(io.env);
  for (const target of targets) {
    await platform.runtime.destroy(target);
    io.out(
      `removed ${envSlug(environment)}${target.app ? ` of ${target.app}` : ""} (${repo.owner}/${repo.repo})`,
    );
  }
  return 0;
};
