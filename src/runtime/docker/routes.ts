// Caddy's routes rebuilt from container labels (after a Caddy restart, or
// published ports changed after an engine restart). Its own module because
// it is the one operation over every environment at once.
import type { DockerContext } from "./context.ts";
import { envRouteId } from "./context.ts";
import { generations, listManaged, splitList, type Generation, type Managed } from "./managed.ts";
import { L, routeId, scoped } from "./plan.ts";

/**
 * Sets each live environment's route, and with `wakeUpstream` each sleeping one's wake route;
 * removes routes of this instance's environments that no longer exist. Returns how many routes it set.
 */
export async function restoreRoutes(ctx: DockerContext, wakeUpstream: string | undefined): Promise<number> {
  await ctx.caddy.ensureServers();
  const managed = await listManaged(ctx, {});
  const live = new Map<string, Generation>();
  for (const g of generations(managed)) {
    const ns = g.labels[L.namespace];
    // Newest generation whose containers all run: an interrupted rollout's unready container is not routed.
    if (!live.has(ns) && g.containers.every((c) => c.state === "running" && c.upstream)) live.set(ns, g);
  }
  let set = wakeUpstream ? await restoreWakeRoutes(ctx, managed, live, wakeUpstream) : 0;
  for (const g of live.values()) {
    await routeGeneration(
      ctx,
      g,
      g.containers.map((c) => c.upstream!),
    );
    set++;
  }
  const namespaces = new Set(managed.map((m) => m.labels[L.namespace]));
  // Stale routes of this instance only: another instance's routes are not ours to remove.
  const prefix = scoped(ctx.instance, routeId(""));
  for (const r of await ctx.caddy.routes()) {
    const ns = r.id.startsWith(prefix) ? r.id.slice(prefix.length) : undefined;
    if (ns && !ns.includes(".") && !namespaces.has(ns)) await ctx.caddy.removeRoute(r.id);
  }
  return set;
}

/** Wake routes for environments whose newest generation is all stopped (asleep, src/deploy/sleep.ts). */
async function restoreWakeRoutes(
  ctx: DockerContext,
  managed: Managed[],
  live: Map<string, Generation>,
  wakeUpstream: string,
): Promise<number> {
  let set = 0;
  // The newest generation of each environment (sorted newest first): all stopped means asleep.
  const newest = new Map<string, Generation>();
  for (const g of generations(managed))
    if (!newest.has(g.labels[L.namespace])) newest.set(g.labels[L.namespace], g);
  for (const [ns, g] of newest) {
    if (live.has(ns) || !g.containers.every((c) => c.state === "exited")) continue;
    await routeGeneration(ctx, g, [wakeUpstream], true);
    set++;
  }
  return set;
}

/**
 * Routes the environment of generation `g` (its labels name it and its hostnames) to `upstreams`:
 * its containers, or with `wake` the App's wake handler, which wakes the stopped containers on a request.
 */
export async function routeGeneration(
  ctx: DockerContext,
  g: Generation,
  upstreams: string[],
  wake = false,
): Promise<void> {
  await ctx.caddy.setRoute({
    id: envRouteId(ctx, g.labels[L.namespace]),
    hostnames: splitList(g.labels[L.hostnames]),
    upstreams,
    deployId: g.deployId,
    ...(wake ? { wake: true } : {}),
  });
}
