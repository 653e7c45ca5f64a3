// `paas logs [dir] --env <name> [--app <key>] [--tail <n>] [--follow]
// [--runtime kubernetes [--cluster <name>]]`: recent log lines of an
// environment's containers on this Docker host, or its pods on the cluster(s)
// of the App's settings, secret values masked (the runtime masks them);
// --follow prints new lines until Ctrl-C.
import { setTimeout as sleep } from "node:timers/promises";
import type { LogStream } from "../runtime/types.ts";
import { appDir, args, envArg, UsageError, type CliIO, type Command } from "./io.ts";
import { clusterRuntime, localPlatform } from "./local.ts";
import { FleetRuntime } from "../runtime/fleet/index.ts";
import { localTargets } from "./repo.ts";

/** How often --follow asks the runtime for newer lines. */
const FOLLOW_INTERVAL_MS = 1000;

export const logsCommand: Command = async (argv, io) => {
  const { values, positionals } = args(argv, {
    env: { type: "string" },
    app: { type: "string" },
    tail: { type: "string" },
    follow: { type: "boolean", short: "f" },
    runtime: { type: "string" },
    cluster: { type: "string" },
  });
  const kind = values.runtime ?? io.env.PAAS_RUNTIME ?? "docker";
  if (kind !== "docker" && kind !== "kubernetes")
    throw new UsageError(`--runtime must be kubernetes or docker, not "${kind.slice(0, 40)}"`);
  if (values.cluster !== undefined && kind !== "kubernetes")
    throw new UsageError("--cluster needs --runtime kubernetes and PAAS_CLUSTERS");
  const environment = envArg(values.env);
  const tail = values.tail === undefined ? 100 : Number(values.tail);
  if (!Number.isInteger(tail) || tail < 1 || tail > 10_000)
    throw new UsageError("--tail must be a whole number of lines from 1 to 10000");
  const dir = await appDir(positionals[0], io.cwd);
  const { targets } = await localTargets(dir, io.cwd, environment, values.app);
  const runtime =
    kind === "kubernetes" ? clusterRuntime(io) : (await localPlatform(io.env, { routing: false })).runtime;
  if (values.cluster !== undefined && !(runtime instanceof FleetRuntime))
    throw new UsageError(
      "--cluster needs PAAS_CLUSTERS, the file registering the clusters (docs/clusters.md)",
    );
  let since: Date | undefined;
  for (;;) {
    let shown = 0;
    for (const target of targets) {
      const streams = await runtime.logs(target, {
        tail,
        since,
        ...(values.cluster ? { cluster: values.cluster } : {}),
      });
      shown += streams.length;
      since = print(io, streams, targets.length > 1 ? `${target.app} ` : "", since);
    }
    if (shown === 0 && since === undefined) {
      io.err(
        `paas logs: error: nothing of ${values.env ?? "production"} runs ${kind === "docker" ? "on this host" : "on the cluster"}`,
      );
      return 1;
    }
    if (!values.follow || io.signal?.aborted) return 0;
    since ??= new Date();
    await sleep(FOLLOW_INTERVAL_MS, undefined, { signal: io.signal }).catch(() => undefined);
    if (io.signal?.aborted) return 0;
  }
};

/** Prints lines prefixed with their source; returns the newest time seen. */
function print(
  io: CliIO,
  streams: readonly LogStream[],
  prefix: string,
  since: Date | undefined,
): Date | undefined {
  let newest = since;
  for (const s of streams)
    for (const l of s.lines) {
      io.out(`${prefix}${s.source} | ${l.text}`);
      const t = l.time ? new Date(l.time) : undefined;
      if (t && (!newest || t > newest)) newest = t;
    }
  return newest;
}
