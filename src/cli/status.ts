// `paas status [dir] [--json] [--runtime kubernetes]`: the repository's
// environments, read back from the runtime (container labels; namespaces):
// URL, sha, health, and on many clusters (PAAS_CLUSTERS) what each serves.
import { githubEnvironment, namespaceName } from "../names.ts";
import { firstOfEach, FleetRuntime } from "../runtime/fleet/index.ts";
import type { RuntimeEnvironment } from "../runtime/types.ts";
import { appDir, args, UsageError, type Command } from "./io.ts";
import { clusterRuntime, localPlatform } from "./local.ts";
import { localRepo } from "./repo.ts";

export const statusCommand: Command = async (argv, io) => {
  const { values, positionals } = args(argv, {
    json: { type: "boolean", default: false },
    runtime: { type: "string" },
  });
  const dir = await appDir(positionals[0], io.cwd);
  const repo = await localRepo(dir);
  const kind = values.runtime ?? io.env.PAAS_RUNTIME ?? "docker";
  if (kind !== "docker" && kind !== "kubernetes")
    throw new UsageError(`--runtime must be kubernetes or docker, not "${kind.slice(0, 40)}"`);
  const runtime =
    kind === "kubernetes" ? clusterRuntime(io) : (await localPlatform(io.env, { routing: false })).runtime;
  // Many clusters: what the reachable ones hold; an unreachable one is shown as such, not hidden.
  const byCluster = runtime instanceof FleetRuntime ? await runtime.listByCluster() : undefined;
  const listed = byCluster
    ? firstOfEach(byCluster.flatMap((c) => c.environments ?? []))
    : await runtime.list();
  const envs = listed
    .filter((e) => e.target.owner === repo.owner && e.target.repo === repo.repo)
    .sort((a, b) =>
      githubEnvironment(a.target.environment).localeCompare(githubEnvironment(b.target.environment)),
    );
  const rows = await Promise.all(
    envs.map(async (e) => ({
      environment: githubEnvironment(e.target.environment),
      app: e.appName,
      url: e.url ?? null,
      sha: e.sha,
      health: e.healthy === undefined ? "unknown" : e.healthy ? "healthy" : "unhealthy",
      deployedAt: e.deployedAt ?? null,
      ...(byCluster ? { clusters: perCluster(byCluster, e) } : {}),
    })),
  );
  if (values.json) {
    io.out(JSON.stringify({ repository: `${repo.owner}/${repo.repo}`, environments: rows }, null, 2));
    return 0;
  }
  if (rows.length === 0) {
    io.out(`no environments of ${repo.owner}/${repo.repo} on this host (deploy one with: paas deploy)`);
    return 0;
  }
  const fleet = runtime instanceof FleetRuntime;
  const table = [
    ["ENVIRONMENT", "APP", "URL", "SHA", "HEALTH", ...(fleet ? ["CLUSTERS"] : [])],
    ...rows.map((r) => [
      r.environment,
      r.app,
      r.url ?? "-",
      r.sha.slice(0, 7),
      r.health,
      ...(r.clusters
        ? [r.clusters.map((c) => `${c.cluster} ${c.sha?.slice(0, 7) ?? c.state}`).join(", ")]
        : []),
    ]),
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

/** What each cluster serves of one environment: its commit, "absent", or "unreachable". */
function perCluster(
  byCluster: Awaited<ReturnType<FleetRuntime["listByCluster"]>>,
  e: RuntimeEnvironment,
): { cluster: string; sha: string | null; state: "serving" | "absent" | "unreachable" }[] {
  const key = namespaceName(e.target);
  return byCluster.map((c) => {
    const there = c.environments?.find((x) => namespaceName(x.target) === key);
    return {
      cluster: c.cluster,
      sha: there?.sha ?? null,
      state: c.error ? "unreachable" : there ? "serving" : "absent",
    };
  });
}
