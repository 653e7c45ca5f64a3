// Scale to zero and back for sleeping previews: the route points at the App's
// wake handler while the containers are stopped (kept). Its own module because
// it is a lifecycle apart from deploys, with its own ordering of services.
import type { Target } from "../../names.ts";
import type { DockerContext } from "./context.ts";
import { statusOf } from "./engine-errors.ts";
import { currentGeneration, listManaged, type Generation } from "./managed.ts";
import { L } from "./plan.ts";
import { httpGet, sleep } from "./probes.ts";
import { routeGeneration } from "./routes.ts";
import { listRoles } from "./workers.ts";

/** How a sleeping environment is woken: its health path and how long it may take. */
export interface WakeOptions {
  path: string;
  timeoutMs: number;
}

/** Routes to `wakeUpstream`, then stops the environment's containers and services. False without containers. */
export async function sleepEnvironment(
  ctx: DockerContext,
  target: Target,
  ns: string,
  wakeUpstream: string,
): Promise<boolean> {
  const g = await currentGeneration(ctx, ns);
  if (!g) return false;
  await routeGeneration(ctx, g, [wakeUpstream], true);
  // Workers sleep with the web process (scheduled jobs do too: the scheduler follows running web containers).
  const workers = await listRoles(ctx.docker, ctx.instance, { namespace: ns, role: "worker" });
  for (const c of [...g.containers, ...workers]) {
    await ctx.docker
      .getContainer(c.id)
      .stop({ t: ctx.stopTimeout })
      .catch((err: unknown) => {
        if (statusOf(err) !== 304) throw err; // 304: already stopped
      });
  }
  // Its services sleep too (after the app, which may still be using them).
  await ctx.services.stopAll(target);
  return true;
}

/** Starts services, then containers; routes back once each answers its health path. False when they do not. */
export async function wakeEnvironment(
  ctx: DockerContext,
  target: Target,
  ns: string,
  o: WakeOptions,
): Promise<boolean> {
  const g = await currentGeneration(ctx, ns);
  if (!g) return false;
  // Services first, ready before the app starts (as at a deploy).
  if (!(await ctx.services.startAll(target))) return false;
  const workers = await listRoles(ctx.docker, ctx.instance, { namespace: ns, role: "worker" });
  for (const c of [...g.containers, ...workers]) {
    await ctx.docker
      .getContainer(c.id)
      .start()
      .catch((err: unknown) => {
        if (statusOf(err) !== 304) throw err; // 304: already running
      });
  }
  return routeWhenHealthy(ctx, ns, g, o);
}

async function routeWhenHealthy(
  ctx: DockerContext,
  ns: string,
  g: Generation,
  o: WakeOptions,
): Promise<boolean> {
  const deadline = Date.now() + o.timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const now = (await listManaged(ctx, { namespace: ns })).filter(
      (c) => c.labels[L.deployId] === g.deployId,
    );
    const ups = now.map((c) => c.upstream);
    if (ups.every(Boolean)) {
      const answers = await Promise.all(
        ups.map((u) =>
          httpGet(u!, o.path, 2000).then(
            (s) => s >= 200 && s < 400,
            () => false,
          ),
        ),
      );
      if (answers.every(Boolean)) {
        await routeGeneration(ctx, g, ups as string[]);
        return true;
      }
    }
    if (Date.now() > deadline) return false;
    await sleep(Math.min(25 * 2 ** attempt, 500));
  }
}
