// `paas status [dir] [--json]`: the repository's environments on the Docker
// runtime, read back from container labels: URL, sha, health.
import { githubEnvironment } from "../names.ts";
import { appDir, args, type Command } from "./io.ts";
import { localPlatform } from "./local.ts";
import { localRepo } from "./repo.ts";

export const statusCommand: Command = async (argv, io) => {
  const { values, positionals } = args(argv, { json: { type: "boolean", default: false } });
  const dir = await appDir(positionals[0], io.cwd);
  const repo = await localRepo(dir);
  const platform = await localPlatform(io.env, { routing: false });
  const envs = (await platform.runtime.list())
    .filter((e) => e.target.owner === repo.owner && e.target.repo === repo.repo)
    .sort((a, b) =>
      githubEnvironment(a.target.environment).localeCompare(githubEnvironment(b.target.environment)),
    );
  const rows = envs.map((e) => ({
    environment: githubEnvironment(e.target.environment),
    app: e.appName,
    url: e.url ?? null,
    sha: e.sha,
    health: e.healthy === undefined ? "unknown" : e.healthy ? "healthy" : "unhealthy",
    deployedAt: e.deployedAt ?? null,
  }));
  if (values.json) {
    io.out(JSON.stringify({ repository: `${repo.owner}/${repo.repo}`, environments: rows }, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    io.out(`no environments of ${repo.owner}/${repo.repo} on this host (deploy one with: paas deploy)`);
    return 0;
  }
  const table = [
    ["ENVIRONMENT", "APP", "URL", "SHA", "HEALTH"],
    ...rows.map((r) => [r.environment, r.app, r.url ?? "-", r.sha.slice(0, 7), r.health]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  io.out(
    table
      .map((row) =>
        row
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      )
      .join("\n"),
  );
  return 0;
};
