// The Docker runtime's pure planner: DeploySpec → the network, containers,
// route, limits and health check the runtime creates, with no I/O. The
// runtime's apply (rollout.ts) creates exactly this, and `paas plan --runtime
// docker` prints it, so the dry run is the plan (golden-tested like the
// Kubernetes manifests). What only the engine knows (the image id and user
// after the pull, secret values) is added by containerCreateOptions.
import { createHash } from "node:crypto";
import type Docker from "dockerode";
import type { Healthcheck } from "../../config/schema.ts";
import { cpuMillis, memoryBytes } from "../../core/plan.ts";
import type { DeploySpec } from "../../core/spec.ts";
import { containerName, githubEnvironment, namespaceName } from "../../names.ts";
import { formatDeliveredNames } from "../secret-values.ts";
import { startArgv } from "../start-command.ts";
import { hardenedHostConfig } from "./hardening.ts";
import { cronLabel, planRoles, type RolePlan } from "./processes.ts";

/** Container and network labels: how the runtime reads its state back. */
export const L = {
  managedBy: "paas.managed-by",
  namespace: "paas.namespace",
  repositoryId: "paas.repository-id",
  owner: "paas.owner",
  repo: "paas.repo",
  app: "paas.app",
  appName: "paas.app-name",
  environment: "paas.environment",
  pr: "paas.pr",
  sha: "paas.sha",
  digest: "paas.digest",
  image: "paas.image",
  hostnames: "paas.hostnames",
  url: "paas.url",
  port: "paas.port",
  secrets: "paas.secrets",
  /** Names (never values) among paas.secrets whose value a hand-off delivered (secret-values.ts). */
  deliveredSecrets: "paas.secrets.delivered",
  deployedAt: "paas.deployed-at",
  deployId: "paas.deploy-id",
} as const;

export const DEFAULT_INSTANCE = "paas";
/** The uid:gid an image's root user is replaced by, as Kubernetes' restricted profile demands. */
export const NON_ROOT = "65532:65532";

export interface DockerPlanInput {
  spec: DeploySpec;
  /** PAAS_DOCKER_INSTANCE (default "paas"): scopes network names and route ids. */
  instance?: string | undefined;
  /** This rollout's id: in container names and labels, and answered by the route. */
  deployId: string;
  /** ISO time of the rollout (a label `paas status` shows). */
  deployedAt: string;
  /**
   * Names among spec.secrets whose value a hand-off delivered, now or earlier: a label, so the
   * next deploy without a hand-off keeps their values (read back from the container's env).
   */
  deliveredSecrets?: readonly string[] | undefined;
}

export interface DockerContainerPlan {
  name: string;
  /** The image reference pinned by digest; the engine creates from its resolved id. */
  image: string;
  labels: Record<string, string>;
  /** The spec's environment; secret values are added at creation, by name. */
  env: Record<string, string>;
  secrets: string[];
  entrypoint: string[] | undefined;
  cmd: string[] | undefined;
  port: number;
  network: string;
  /** Names other containers of the environment reach this one by. */
  aliases: string[];
  limits: { nanoCpus: number; memoryBytes: number; memoryReservationBytes: number; pids: number };
  healthcheck: Healthcheck;
}

/** The environment's network: internal (no route out) unless the app asked for internet. */
export interface DockerNetworkPlan {
  name: string;
  labels: Record<string, string>;
  /** network.egress none: the engine forwards nothing off the network (egress.ts). */
  internal: boolean;
  /** The bridge interface's name on the host, when internal: the host firewall's guard matches its prefix. */
  bridge?: string | undefined;
}

export interface DockerPlan {
  network: DockerNetworkPlan;
  containers: DockerContainerPlan[];
  /** Caddy's route: the hostnames to the containers' published ports, once healthy. */
  route: { id: string; hostnames: string[]; port: number };
  url: string;
  /** run.release: a one-off container run to completion before the web containers start (processes.ts). */
  release?: DockerContainerPlan | undefined;
  /** Containers of the processes without a route (processes.ts). */
  workers?: DockerContainerPlan[] | undefined;
}

/** Route ids are per environment: `paas-<namespace>`. */
export function routeId(ns: string): string {
  return `paas-${ns}`;
}

/** Network names and route ids of a non-default instance carry its name, so instances never collide. */
export function scoped(instance: string, name: string): string {
  return instance === DEFAULT_INSTANCE ? name : `${instance}.${name}`;
}

/** Prefix of the host interface of every internal environment network; the guard (egress.ts) matches it. */
export const SEALED_BRIDGE_PREFIX = "paasnx-";

/**
 * The environment's network for an egress: `<ns>` with a route out (internet), `<ns>.internal`
 * without (none). Two names, so a deploy that changes egress starts its containers on the new
 * network while the previous version keeps serving on the old one (rollout.ts moves the
 * services and removes the old network after the drain). "." never appears in a namespace.
 */
export function envNetwork(instance: string, ns: string, egress: "none" | "internet" | undefined): string {
  return scoped(instance, egress === "internet" ? ns : `${ns}.internal`);
}

/** Both possible network names of an environment: what destroy removes. */
export function envNetworks(instance: string, ns: string): string[] {
  return [envNetwork(instance, ns, "internet"), envNetwork(instance, ns, "none")];
}

/** A stable bridge name within Linux's 15 characters, from the network's name. */
export function sealedBridgeName(network: string): string {
  return SEALED_BRIDGE_PREFIX + createHash("sha256").update(network).digest("hex").slice(0, 8);
}

/** How many containers a spec runs on one host: autoscaling starts at its minimum. */
export function replicasOf(spec: DeploySpec): number {
  return Math.max(1, spec.scale.autoscale ? spec.scale.autoscale.min : (spec.scale.replicas ?? 1));
}

/** How many leading words of a start argv are the program: `/bin/sh -c` for a shell command, else one. */
function programWords(argv: string[] | undefined): number {
  return argv?.[0] === "/bin/sh" && argv[1] === "-c" ? 2 : 1;
}

export function planDocker(input: DockerPlanInput): DockerPlan {
  const { spec, deployId } = input;
  const instance = input.instance ?? DEFAULT_INSTANCE;
  const ns = namespaceName(spec.target);
  const internal = spec.egress !== "internet";
  const network = envNetwork(instance, ns, spec.egress);
  const replicas = replicasOf(spec);
  const labels = { ...containerLabels(input, instance, ns), ...cronLabel(spec) };
  const argv = spec.command ? startArgv(spec.command) : undefined;
  const containers = Array.from({ length: replicas }, (_, i) => ({
    name: containerName(spec.target, spec.sha, replicas > 1 ? `${deployId}-${i}` : deployId),
    image: spec.image,
    labels,
    env: { ...spec.env },
    secrets: [...spec.secrets],
    // Exec form for a plain argv (images without a shell can run it); a command with shell syntax
    // runs through /bin/sh -c so $PORT and operators work as users write them (start-command.ts).
    entrypoint: argv?.slice(0, programWords(argv)),
    cmd: argv?.slice(programWords(argv)),
    port: spec.port,
    network,
    aliases: [spec.appName].filter(Boolean),
    limits: {
      nanoCpus: cpuMillis(spec.resources.limits.cpu) * 1_000_000,
      memoryBytes: memoryBytes(spec.resources.limits.memory),
      memoryReservationBytes: memoryBytes(spec.resources.requests.memory),
      pids: 4096,
    },
    healthcheck: spec.healthcheck,
  }));
  const roles: RolePlan = planRoles(input, containers[0]!);
  return {
    network: {
      name: network,
      labels: { [L.managedBy]: instance, [L.namespace]: ns, [L.repositoryId]: String(spec.repositoryId) },
      internal,
      ...(internal ? { bridge: sealedBridgeName(network) } : {}),
    },
    containers,
    route: { id: scoped(instance, routeId(ns)), hostnames: [...spec.hostnames], port: spec.port },
    url: spec.url,
    // Only when configured: plans of apps without them print as before.
    ...(roles.release ? { release: roles.release } : {}),
    ...(roles.workers.length > 0 ? { workers: roles.workers } : {}),
  };
}

function containerLabels(input: DockerPlanInput, instance: string, ns: string): Record<string, string> {
  const { spec } = input;
  const t = spec.target;
  return {
    [L.managedBy]: instance,
    [L.namespace]: ns,
    [L.repositoryId]: String(spec.repositoryId),
    [L.owner]: t.owner,
    [L.repo]: t.repo,
    [L.app]: t.app,
    [L.appName]: spec.appName,
    [L.environment]: githubEnvironment(t.environment),
    [L.pr]: t.environment.kind === "preview" ? String(t.environment.pr) : "",
    [L.sha]: spec.sha,
    [L.digest]: spec.digest,
    [L.image]: spec.image,
    [L.hostnames]: spec.hostnames.join(","),
    [L.url]: spec.url,
    [L.port]: String(spec.port),
    [L.secrets]: spec.secrets.join(","),
    [L.deployedAt]: input.deployedAt,
    [L.deployId]: input.deployId,
    ...deliveredLabel(spec, input.deliveredSecrets),
  };
}

/** Only when a hand-off delivered some: plans without them print as before. */
function deliveredLabel(spec: DeploySpec, delivered: readonly string[] | undefined): Record<string, string> {
  const named = new Set(spec.secrets);
  const names = (delivered ?? []).filter((n) => named.has(n));
  return names.length > 0 ? { [L.deliveredSecrets]: formatDeliveredNames(names) } : {};
}

/** What the engine knows only after the pull, and the secret values: the rest is the plan's. */
export interface EngineFacts {
  imageId: string;
  /** The image's configured user ("" when unset). */
  imageUser: string;
  secretValues: Record<string, string>;
}

/** The engine's create options for a planned container. */
export function containerCreateOptions(
  c: DockerContainerPlan,
  facts: EngineFacts,
): Docker.ContainerCreateOptions {
  const port = `${c.port}/tcp`;
  const env = { ...c.env, ...facts.secretValues };
  // Root in the image is replaced by an unprivileged uid.
  const user = /^(?:|root|0)(?::.*)?$/.test(facts.imageUser) ? NON_ROOT : facts.imageUser;
  return {
    name: c.name,
    Image: facts.imageId,
    Labels: c.labels,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    User: user,
    ExposedPorts: { [port]: {} },
    ...(c.entrypoint ? { Entrypoint: c.entrypoint, Cmd: c.cmd } : {}),
    HostConfig: {
      NetworkMode: c.network,
      // Loopback only, on an ephemeral port: Caddy on the host dials it; the network never sees it.
      // The engine publishes no port of a container on an internal network (egress none): there
      // Caddy dials the container's own address on the bridge instead (managed.ts, probes.ts).
      PortBindings: { [port]: [{ HostIp: "127.0.0.1", HostPort: "" }] },
      NanoCpus: c.limits.nanoCpus,
      Memory: c.limits.memoryBytes,
      MemoryReservation: c.limits.memoryReservationBytes,
      PidsLimit: c.limits.pids,
      ...hardenedHostConfig(),
    },
    NetworkingConfig: { EndpointsConfig: { [c.network]: { Aliases: c.aliases } } },
  };
}
