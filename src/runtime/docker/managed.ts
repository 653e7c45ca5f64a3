// The runtime's web containers as the engine holds them: read back by label
// (there is no other state), grouped into generations (one deploy each), and
// removed with their images. Its own module because every operation — deploy,
// list, route restore, sleep, destroy — starts from this reading.
import type Docker from "dockerode";
import { z } from "zod";
import { parseEnvironment, type Target } from "../../names.ts";
import type { DockerContext } from "./context.ts";
import { statusOf } from "./engine-errors.ts";
import { L } from "./plan.ts";
import { hasRole } from "./workers.ts";

// Labels are read back from the engine: parse them, never trust them.
const labelsSchema = z.looseObject({
  [L.namespace]: z.string().min(1),
  [L.repositoryId]: z.string().regex(/^\d+$/).transform(Number),
  [L.owner]: z.string().min(1),
  [L.repo]: z.string().min(1),
  [L.app]: z.string().default(""),
  [L.appName]: z.string().default(""),
  [L.environment]: z.string().min(1),
  [L.sha]: z.string().default(""),
  [L.digest]: z.string().default(""),
  [L.hostnames]: z.string().default(""),
  [L.url]: z.string().optional(),
  [L.port]: z.string().regex(/^\d+$/).transform(Number),
  [L.secrets]: z.string().default(""),
  [L.deliveredSecrets]: z.string().default(""),
  [L.deployedAt]: z.string().optional(),
  [L.deployId]: z.string().min(1),
});
export type Labels = z.output<typeof labelsSchema>;

export interface Managed {
  id: string;
  name: string;
  imageId: string;
  state: string;
  labels: Labels;
  /** 127.0.0.1:<published port>, or <address on an internal network>:<port>, when running (probes.ts upstreamOf). */
  upstream: string | undefined;
}

/** One deployed version of an environment: its containers share a deploy id. */
export interface Generation {
  deployId: string;
  labels: Labels;
  containers: Managed[];
}

/** This instance's web containers, of one namespace when given. */
export async function listManaged(ctx: DockerContext, filter: { namespace?: string }): Promise<Managed[]> {
  const list = await ctx.docker.listContainers({
    all: true,
    filters: {
      label: [
        `${L.managedBy}=${ctx.instance}`,
        ...(filter.namespace ? [`${L.namespace}=${filter.namespace}`] : []),
      ],
    },
  });
  const out: Managed[] = [];
  for (const c of list) {
    // Workers and one-off runs are not routed web versions (workers.ts lists them).
    if (hasRole(c.Labels)) continue;
    const labels = labelsSchema.safeParse(c.Labels);
    if (!labels.success) continue;
    const port = c.Ports.find(
      (p) => p.PrivatePort === labels.data[L.port] && p.IP === "127.0.0.1" && p.PublicPort,
    );
    out.push({
      id: c.Id,
      name: c.Names[0]?.replace(/^\//, "") ?? c.Id,
      imageId: c.ImageID,
      state: c.State,
      labels: labels.data,
      upstream: c.State === "running" ? listedUpstream(c, port?.PublicPort, labels.data[L.port]) : undefined,
    });
  }
  return out;
}

function listedUpstream(
  c: Docker.ContainerInfo,
  published: number | undefined,
  port: number,
): string | undefined {
  if (published) return `127.0.0.1:${published}`;
  const ip = c.NetworkSettings?.Networks?.[c.HostConfig?.NetworkMode ?? ""]?.IPAddress;
  return ip ? `${ip}:${port}` : undefined;
}

/** Groups containers by deploy id, newest first. */
export function generations(containers: Managed[]): Generation[] {
  const map = new Map<string, Generation>();
  for (const c of containers) {
    const key = `${c.labels[L.namespace]}/${c.labels[L.deployId]}`;
    const g = map.get(key) ?? { deployId: c.labels[L.deployId], labels: c.labels, containers: [] };
    g.containers.push(c);
    map.set(key, g);
  }
  return [...map.values()].sort((a, b) =>
    (b.labels[L.deployedAt] ?? "").localeCompare(a.labels[L.deployedAt] ?? ""),
  );
}

/** The environment's newest generation, if it has containers. */
export async function currentGeneration(ctx: DockerContext, ns: string): Promise<Generation | undefined> {
  return generations(await listManaged(ctx, { namespace: ns }))[0];
}

export function targetOf(labels: Labels): Target | undefined {
  try {
    return {
      owner: labels[L.owner],
      repo: labels[L.repo],
      app: labels[L.app],
      environment: parseEnvironment(labels[L.environment]),
    };
  } catch {
    return undefined;
  }
}

export function splitList(s: string): string[] {
  return s.split(",").filter(Boolean);
}

/** Stops (within the grace) and removes containers; already stopped or gone is fine. */
export async function removeContainers(ctx: DockerContext, containers: Managed[]): Promise<void> {
  await Promise.all(
    containers.map(async (m) => {
      const c = ctx.docker.getContainer(m.id);
      try {
        if (m.state === "running") await c.stop({ t: ctx.stopTimeout });
      } catch (err) {
        // 304: already stopped; 404: already gone.
        if (![304, 404].includes(statusOf(err) ?? 0)) throw err;
      }
      try {
        await c.remove({ force: true, v: true });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
    }),
  );
}

/** Removes images that no container uses any more; images still tagged elsewhere or in use stay (409). */
export async function pruneImages(docker: Docker, ids: string[]): Promise<void> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return;
  const inUse = new Set((await docker.listContainers({ all: true })).map((c) => c.ImageID));
  for (const id of unique) {
    if (inUse.has(id)) continue;
    try {
      await docker.getImage(id).remove();
    } catch (err) {
      if (![404, 409].includes(statusOf(err) ?? 0)) throw err;
    }
  }
}
