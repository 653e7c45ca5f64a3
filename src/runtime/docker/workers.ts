// Role containers (workers, scheduled runs) of one environment as the engine
// holds them: listed by label, so a restarted App finds what an earlier
// process started. Web containers are the runtime's own (managed.ts).
import type Docker from "dockerode";
import { containerCreateOptions, L, type DockerContainerPlan, type EngineFacts } from "./plan.ts";
import { R, roleCreateOptions, type Role } from "./processes.ts";

export interface RoleContainer {
  id: string;
  state: string;
  imageId: string;
  labels: Record<string, string>;
}

/** Containers of this instance with a role; of one namespace and role when given. */
export async function listRoles(
  docker: Docker,
  instance: string,
  filter: { namespace?: string; role?: Role },
): Promise<RoleContainer[]> {
  const labels = [`${L.managedBy}=${instance}`, filter.role ? `${R.role}=${filter.role}` : R.role];
  if (filter.namespace) labels.push(`${L.namespace}=${filter.namespace}`);
  const list = await docker.listContainers({ all: true, filters: { label: labels } });
  return list.map((c) => ({ id: c.Id, state: c.State, imageId: c.ImageID, labels: c.Labels }));
}

/** Stops and removes containers; already gone is fine. */
export async function removeRoles(
  docker: Docker,
  containers: RoleContainer[],
  stopTimeoutSeconds: number,
): Promise<void> {
  await Promise.all(
    containers.map(async (m) => {
      const c = docker.getContainer(m.id);
      if (m.state === "running") await c.stop({ t: stopTimeoutSeconds }).catch(() => undefined);
      try {
        await c.remove({ force: true, v: true });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      }
    }),
  );
}

/** Whether a container's labels mark a role container (not a routed web container). */
export function hasRole(labels: Record<string, string> | undefined): boolean {
  return !!labels?.[R.role];
}

/**
 * Creates and starts the planned workers (no restarts yet: a crash keeps its exit code and
 * logs), adding each to `created` for the caller's cleanup. Not ok when the engine cannot
 * start one (a command that does not exist in the image).
 */
export async function startWorkers(
  docker: Docker,
  planned: DockerContainerPlan[],
  facts: EngineFacts,
  created: Docker.Container[],
): Promise<{ ok: true; containers: Docker.Container[] } | { ok: false; reason: string }> {
  const containers: Docker.Container[] = [];
  for (const p of planned) {
    const w = await docker.createContainer(roleCreateOptions(containerCreateOptions(p, facts), undefined));
    created.push(w);
    containers.push(w);
    try {
      await w.start();
    } catch (err) {
      const message = ((err as Error).message ?? String(err)).replace(/^\(HTTP code \d+\)[^-]*- /, "");
      return {
        ok: false,
        reason: `worker ${p.labels[R.process] ?? p.name} could not start: ${message.slice(0, 300)}`,
      };
    }
  }
  return { ok: true, containers };
}
