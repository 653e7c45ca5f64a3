// The Docker plan of the containers that are not the routed web process: the
// release step (one-off, before traffic switches), workers (long-running, no
// route) and scheduled jobs (one-off runs started by the App's scheduler,
// cron.ts). They run the web container's image, env, secrets, user and
// limits on the environment's network, with their own command; a role label
// keeps them out of the web generations the runtime routes (managed.ts).
import type Docker from "dockerode";
import { cpuMillis, memoryBytes } from "../../core/plan.ts";
import type { CronSpec, DeploySpec, ProcessSpec } from "../../core/spec.ts";
import { containerName } from "../../names.ts";
import { startArgv } from "../start-command.ts";
import { hardenedHostConfig } from "./hardening.ts";
import type { DockerContainerPlan, DockerPlanInput } from "./plan.ts";

/** Labels of the role containers, on top of the environment's labels (plan.ts L). */
export const R = {
  /** "release", "worker" or "cron"; web containers have none. */
  role: "paas.role",
  /** The worker's or the scheduled job's name. */
  process: "paas.process",
  /** On web containers: the environment's scheduled jobs (JSON), read back by the scheduler. */
  cron: "paas.cron",
  /** On a scheduled run: the ISO time of the schedule slot it runs. */
  slot: "paas.cron-slot",
} as const;

export type Role = "release" | "worker" | "cron";

/** The release step and the workers of one deploy, planned from the web containers' plan. */
export interface RolePlan {
  release: DockerContainerPlan | undefined;
  workers: DockerContainerPlan[];
}

export function planRoles(input: DockerPlanInput, web: DockerContainerPlan): RolePlan {
  const { spec, deployId } = input;
  const release = spec.release
    ? roleContainer(web, {
        name: containerName(spec.target, spec.sha, `release-${deployId}`),
        role: "release",
        process: "release",
        command: spec.release,
      })
    : undefined;
  const workers = (spec.processes ?? []).flatMap((p) => workerContainers(input, web, p));
  return { release, workers };
}

function workerContainers(input: DockerPlanInput, web: DockerContainerPlan, p: ProcessSpec) {
  const { spec, deployId } = input;
  return Array.from({ length: p.replicas }, (_, i) =>
    roleContainer(web, {
      name: containerName(spec.target, spec.sha, `${p.name}-${deployId}${p.replicas > 1 ? `-${i}` : ""}`),
      role: "worker",
      process: p.name,
      command: p.command,
      limits: limitsOf(p.resources),
    }),
  );
}

/** The web container's labels carry the jobs, so the scheduler reads them back after any restart. */
export function cronLabel(spec: DeploySpec): Record<string, string> {
  const jobs = spec.cron ?? [];
  return jobs.length > 0 ? { [R.cron]: JSON.stringify(jobs) } : {};
}

function roleContainer(
  web: DockerContainerPlan,
  o: {
    name: string;
    role: Role;
    process: string;
    command: string;
    limits?: DockerContainerPlan["limits"];
  },
): DockerContainerPlan {
  const argv = startArgv(o.command);
  const shell = argv[0] === "/bin/sh" && argv[1] === "-c";
  const labels: Record<string, string> = { ...web.labels, [R.role]: o.role, [R.process]: o.process };
  delete labels[R.cron];
  return {
    ...web,
    name: o.name,
    labels,
    env: { ...web.env },
    secrets: [...web.secrets],
    entrypoint: argv.slice(0, shell ? 2 : 1),
    cmd: argv.slice(shell ? 2 : 1),
    aliases: [],
    limits: o.limits ?? { ...web.limits },
  };
}

export function limitsOf(r: ProcessSpec["resources"]): DockerContainerPlan["limits"] {
  return {
    nanoCpus: cpuMillis(r.limits.cpu) * 1_000_000,
    memoryBytes: memoryBytes(r.limits.memory),
    memoryReservationBytes: memoryBytes(r.requests.memory),
    pids: 4096,
  };
}

/** Create options for a role container: no published port, no restarts for one-off runs. */
export function roleCreateOptions(
  base: Docker.ContainerCreateOptions,
  restart: { Name: string; MaximumRetryCount?: number } | undefined,
): Docker.ContainerCreateOptions {
  const { ExposedPorts: _ports, ...rest } = base;
  const { PortBindings: _bindings, ...host } = base.HostConfig ?? {};
  return { ...rest, HostConfig: { ...host, ...(restart ? { RestartPolicy: restart } : {}) } };
}

/**
 * One scheduled run of a job, from the web container that serves the environment:
 * its image, env (secret values included), user and limits. The name is the
 * environment, the job and the slot: a second App process that tries the same
 * run is refused by the engine (409), so a slot runs once.
 */
export function cronRunOptions(
  web: Docker.ContainerInspectInfo,
  job: CronSpec,
  slot: Date,
): Docker.ContainerCreateOptions {
  const argv = startArgv(job.command);
  const shell = argv[0] === "/bin/sh" && argv[1] === "-c";
  const labels: Record<string, string> = { ...web.Config.Labels };
  delete labels[R.cron];
  Object.assign(labels, { [R.role]: "cron", [R.process]: job.name, [R.slot]: slot.toISOString() });
  const h = web.HostConfig;
  const network = h.NetworkMode ?? "";
  return {
    name: cronRunName(network, job.name, slot),
    Image: web.Image,
    Labels: labels,
    Env: web.Config.Env,
    User: web.Config.User,
    Entrypoint: argv.slice(0, shell ? 2 : 1),
    Cmd: argv.slice(shell ? 2 : 1),
    HostConfig: {
      NetworkMode: network,
      NanoCpus: h.NanoCpus,
      Memory: h.Memory,
      MemoryReservation: h.MemoryReservation,
      PidsLimit: h.PidsLimit,
      ...hardenedHostConfig(),
    },
  };
}

/** `<network>-cron-<job>-<slot in epoch minutes>`: unique per instance and slot, the same in every App process. */
export function cronRunName(network: string, job: string, slot: Date): string {
  return `${network}-cron-${job}-${Math.floor(slot.getTime() / 60_000)}`;
}
