// The Docker runtime: one host, dockerode for containers, Caddy's admin API
// for routing. Every container carries labels that describe its environment,
// so the runtime's state can be read back (list, restoreRoutes) after any
// process restart: there is no other state.
//
// How Caddy reaches containers: Caddy runs on the host. A container on an
// ordinary network (network.egress internet) publishes its port on 127.0.0.1
// with an ephemeral host port and routes dial 127.0.0.1:<port>: loopback
// publishing never exposes a tenant's port to the network, and it works with
// Docker Desktop too. The engine publishes nothing on an internal network
// (egress none, egress.ts): there routes dial the container's bridge address,
// which a Linux host reaches directly (Docker Desktop does not, hence
// PAAS_DOCKER_EGRESS_GUARD=off there). Each environment gets its own bridge
// network either way, so tenants cannot reach each other's containers.
import type Docker from "dockerode";
import { namespaceName, type Target } from "../../names.ts";
import {
  LOGS_WITHHELD_LINE,
  type ApplyOptions,
  type DeploySpec,
  type Diagnosis,
  type LogOptions,
  type LogStream,
  type RolloutResult,
  type Runtime,
  type RuntimeEnvironment,
  type SecretSource,
} from "../types.ts";
import { AccessLog } from "./access-log.ts";
import type { CaddyClient } from "./caddy.ts";
import { envRouteId, type DockerContext } from "./context.ts";
import { containerSecretValues, demux, diagnoseContainer } from "./diagnose.ts";
import { DockerRuntimeError, messageOf, statusOf } from "./engine-errors.ts";
import type { RegistryAuthProvider } from "./image-pull.ts";
import { containerLogs } from "./logs.ts";
import {
  currentGeneration,
  generations,
  listManaged,
  pruneImages,
  removeContainers,
  splitList,
  targetOf,
  type Generation,
} from "./managed.ts";
import { RELEASE_TIMEOUT_MS } from "./one-off.ts";
import { DEFAULT_INSTANCE, envNetworks, L } from "./plan.ts";
import type { EgressGuard } from "./egress.ts";
import { restoreRoutes } from "./routes.ts";
import { applySpec } from "./rollout.ts";
import { DockerServices } from "./services.ts";
import { sleepEnvironment, wakeEnvironment, type WakeOptions } from "./sleep-wake.ts";
import { listRoles, removeRoles } from "./workers.ts";

// The runtime's parts live in their own modules; these names stay importable from here.
export { DockerRuntimeError } from "./engine-errors.ts";
export { demux } from "./diagnose.ts";
export { registryOf, type RegistryAuthProvider } from "./image-pull.ts";
export type { WakeOptions } from "./sleep-wake.ts";

export interface DockerRuntimeOptions {
  /** dockerode client (PAAS_DOCKER_HOST, else DOCKER_HOST or the local socket). */
  docker: Docker;
  caddy: CaddyClient;
  /** Secret values (PAAS_SECRETS_DIR → FileSecretSource). Without it, a spec that lists secrets fails. */
  secrets?: SecretSource | undefined;
  registryAuth?: RegistryAuthProvider | undefined;
  /** Time the old version keeps running after the route moved, for in-flight requests. Default 2000 ms. */
  drainMs?: number | undefined;
  /** SIGTERM → SIGKILL grace when stopping a container. Default 10 s. */
  stopTimeoutSeconds?: number | undefined;
  /** "unless-stopped" (default) or "on-failure". */
  restartPolicy?: "unless-stopped" | "on-failure" | undefined;
  /** How long the new version may take to answer through Caddy after the route moved. Default 15 s. */
  routeTimeoutMs?: number | undefined;
  /**
   * Which paas owns the containers (PAAS_DOCKER_INSTANCE). Default "paas". Two Apps sharing one
   * Docker engine (say a staging and a production paas) each see, reconcile and remove only their own.
   */
  instance?: string | undefined;
  /** File Caddy writes its access log to (PAAS_CADDY_ACCESS_LOG): request activity for sleeping previews. */
  accessLog?: string | undefined;
  /** How long the release step (run.release) may run. Default 15 minutes. */
  releaseTimeoutMs?: number | undefined;
  /** Who keeps the host firewall rule of network.egress none (PAAS_DOCKER_EGRESS_GUARD, egress.ts). Default "paas". */
  egressGuard?: EgressGuard | undefined;
}

export class DockerRuntime implements Runtime {
  readonly kind = "docker" as const;
  readonly #ctx: DockerContext;
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Add-on services (services.ts): their containers and volumes, apart from the app's generations. */
  readonly services: DockerServices;
  readonly #accessLog: AccessLog | undefined;

  constructor(options: DockerRuntimeOptions) {
    this.#accessLog = options.accessLog ? new AccessLog(options.accessLog) : undefined;
    const instance = options.instance ?? DEFAULT_INSTANCE;
    if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(instance)) {
      throw new DockerRuntimeError(
        "PAAS_DOCKER_INSTANCE must be lowercase letters, digits, . and - (at most 63)",
      );
    }
    const stopTimeout = options.stopTimeoutSeconds ?? 10;
    this.services = new DockerServices({
      docker: options.docker,
      instance,
      stopTimeoutSeconds: stopTimeout,
      registryAuth: options.registryAuth,
    });
    this.#ctx = {
      docker: options.docker,
      caddy: options.caddy,
      services: this.services,
      instance,
      secrets: options.secrets,
      auth: options.registryAuth,
      drainMs: options.drainMs ?? 2000,
      stopTimeout,
      restart: options.restartPolicy ?? "unless-stopped",
      routeTimeoutMs: options.routeTimeoutMs ?? 15_000,
      releaseTimeoutMs: options.releaseTimeoutMs ?? RELEASE_TIMEOUT_MS,
      egressGuard: options.egressGuard ?? "paas",
    };
  }

  apply(spec: DeploySpec, options: ApplyOptions = {}): Promise<RolloutResult> {
    return this.#locked(namespaceName(spec.target), () => applySpec(this.#ctx, spec, options));
  }

  destroy(target: Target): Promise<void> {
    return this.#locked(namespaceName(target), () => this.#destroy(target));
  }

  async diagnose(target: Target): Promise<Diagnosis> {
    const current = await currentGeneration(this.#ctx, namespaceName(target));
    if (!current) {
      return {
        summary: "no container exists for this environment",
        events: [],
        state: undefined,
        exitCode: undefined,
        logs: [],
      };
    }
    // The first container that is not running says the most; else the first one.
    const c = current.containers.find((x) => x.state !== "running") ?? current.containers[0]!;
    // The values the container was given (delivered or the operator's): read back from its own environment.
    const docker = this.#ctx.docker;
    const secrets = await containerSecretValues(docker, c.id, splitList(current.labels[L.secrets]));
    const passwords = await this.services.passwords(target).catch(() => []);
    return diagnoseContainer(docker, c.id, [...secrets, ...passwords], undefined);
  }

  async logs(target: Target, options: LogOptions): Promise<LogStream[]> {
    const current = await currentGeneration(this.#ctx, namespaceName(target));
    if (!current) return [];
    // Masked with the values the containers were given (read back from their environment, as
    // diagnose does); withheld when those cannot be read.
    const names = splitList(current.labels[L.secrets]);
    const secrets = await containerSecretValues(this.#ctx.docker, current.containers[0]!.id, names).catch(
      () => undefined,
    );
    if (!secrets)
      return current.containers.map((c) => ({
        source: c.name,
        lines: [{ time: undefined, text: LOGS_WITHHELD_LINE }],
      }));
    return containerLogs(this.#ctx.docker, current.containers, { ...options, secrets, demux });
  }

  async list(): Promise<RuntimeEnvironment[]> {
    const byNs = new Map<string, Generation[]>();
    for (const g of generations(await listManaged(this.#ctx, {}))) {
      const ns = g.labels[L.namespace];
      byNs.set(ns, [...(byNs.get(ns) ?? []), g]);
    }
    const out: RuntimeEnvironment[] = [];
    for (const gens of byNs.values()) {
      const g = gens[0]!;
      const target = targetOf(g.labels);
      if (!target) continue;
      out.push({
        target,
        repositoryId: g.labels[L.repositoryId],
        appName: g.labels[L.appName],
        sha: g.labels[L.sha],
        digest: g.labels[L.digest],
        hostnames: splitList(g.labels[L.hostnames]),
        url: g.labels[L.url],
        deployedAt: g.labels[L.deployedAt],
        healthy: g.containers.every((c) => c.state === "running"),
      });
    }
    return out;
  }

  /** Hostnames requested since the previous call (Caddy's access log); undefined without one. */
  async activity(): Promise<Set<string> | undefined> {
    if (!this.#accessLog) return undefined;
    // Servers first: the log settings go into them (a fresh or restarted Caddy has none).
    await this.#ctx.caddy.ensureServers();
    await this.#ctx.caddy.enableAccessLog(this.#accessLog.file);
    return this.#accessLog.hosts();
  }

  /**
   * Scales the environment to zero: its route first points at `wakeUpstream` (the App's wake
   * handler, told by a request header), then its containers stop (kept, to start again).
   * False when the environment has no containers.
   */
  sleep(target: Target, wakeUpstream: string): Promise<boolean> {
    const ns = namespaceName(target);
    return this.#locked(ns, () => sleepEnvironment(this.#ctx, target, ns, wakeUpstream));
  }

  /**
   * Starts a sleeping environment's containers, waits until each answers its health path, then
   * routes its hostnames to them again. False when it has no containers or they do not become healthy.
   */
  wake(target: Target, o: WakeOptions): Promise<boolean> {
    const ns = namespaceName(target);
    return this.#locked(ns, () => wakeEnvironment(this.#ctx, target, ns, o));
  }

  /**
   * Rebuilds Caddy's routes from container labels (after a Caddy restart, or
   * published ports changed after an engine restart) and removes routes of
   * environments that no longer exist. With `wakeUpstream`, an environment whose
   * containers are all stopped (asleep, src/deploy/sleep.ts) gets its wake route back.
   * Returns how many routes it set.
   */
  restoreRoutes(o: { wakeUpstream?: string | undefined } = {}): Promise<number> {
    return restoreRoutes(this.#ctx, o.wakeUpstream);
  }

  async #destroy(target: Target): Promise<void> {
    const ctx = this.#ctx;
    const ns = namespaceName(target);
    const containers = await listManaged(ctx, { namespace: ns });
    const roles = await listRoles(ctx.docker, ctx.instance, { namespace: ns });
    await ctx.caddy.removeRoute(envRouteId(ctx, ns));
    await removeRoles(ctx.docker, roles, ctx.stopTimeout);
    await removeContainers(ctx, containers);
    await this.services.destroy(target);
    for (const name of envNetworks(ctx.instance, ns)) {
      try {
        await ctx.docker.getNetwork(name).remove();
      } catch (err) {
        if (statusOf(err) !== 404)
          throw new DockerRuntimeError(`could not remove network ${name}: ${messageOf(err)}`, { cause: err });
      }
    }
    await pruneImages(
      ctx.docker,
      [...containers, ...roles].map((c) => c.imageId),
    );
  }

  async #locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(fn);
    this.#locks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(key) === run) this.#locks.delete(key);
    }
  }
}
