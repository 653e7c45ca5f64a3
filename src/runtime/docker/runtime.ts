// The Docker runtime: one host, dockerode for containers, Caddy's admin API
// for routing. Every container carries labels that describe its environment,
// so the runtime's state can be read back (list, restoreRoutes) after any
// process restart: there is no other state.
//
// How Caddy reaches containers: Caddy runs on the host and each container
// publishes its port on 127.0.0.1 with an ephemeral host port; routes dial
// 127.0.0.1:<port>. Dialing the container's bridge IP would also work on a
// Linux host, but not with Docker Desktop (bridge IPs are not routable from
// the host), and loopback publishing never exposes a tenant's port to the
// network. Each environment still gets its own bridge network, so tenants
// cannot reach each other's containers.
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";
import type Docker from "dockerode";
import { z } from "zod";
import { durationMs } from "../../config/schema.ts";
import {
  conflictingClaim,
  hostnameOwner,
  HostnameTakenError,
  type HostnameClaim,
} from "../../core/ownership.ts";
import { PaasError } from "../../errors.ts";
import { namespaceName, parseEnvironment, type Target } from "../../names.ts";
import { redactDiagnosis, redactError, Redactor } from "../../redact.ts";
import { resolveSecretValues } from "../secret-values.ts";
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
import type { CaddyClient } from "./caddy.ts";
import { AccessLog } from "./access-log.ts";
import { containerLogs } from "./logs.ts";
import { emptyDiagnosis, RELEASE_TIMEOUT_MS, runRelease } from "./one-off.ts";
import { containerCreateOptions, DEFAULT_INSTANCE, L, planDocker, routeId, scoped } from "./plan.ts";
import { R, roleCreateOptions } from "./processes.ts";
import { DockerServices } from "./services.ts";
import { hasRole, listRoles, removeRoles, startWorkers } from "./workers.ts";

/** Registry credentials for pulls, by registry host ("ghcr.io", "localhost:5000", "docker.io"). */
export type RegistryAuthProvider = (
  registry: string,
) => Promise<{ username: string; password: string; serveraddress?: string } | undefined>;

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
}

/** How a sleeping environment is woken: its health path and how long it may take. */
export interface WakeOptions {
  path: string;
  timeoutMs: number;
}

export class DockerRuntimeError extends PaasError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("docker_runtime", message, options);
  }
}

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
  [L.deployedAt]: z.string().optional(),
  [L.deployId]: z.string().min(1),
});
type Labels = z.output<typeof labelsSchema>;

interface Managed {
  id: string;
  name: string;
  imageId: string;
  state: string;
  labels: Labels;
  /** 127.0.0.1:<published port> when running. */
  upstream: string | undefined;
}

/** One deployed version of an environment: its containers share a deploy id. */
interface Generation {
  deployId: string;
  labels: Labels;
  containers: Managed[];
}

export class DockerRuntime implements Runtime {
  readonly kind = "docker" as const;
  readonly #docker: Docker;
  readonly #caddy: CaddyClient;
  readonly #secrets: SecretSource | undefined;
  readonly #auth: RegistryAuthProvider | undefined;
  readonly #drainMs: number;
  readonly #stopTimeout: number;
  readonly #restart: "unless-stopped" | "on-failure";
  readonly #routeTimeoutMs: number;
  readonly #instance: string;
  readonly #releaseTimeoutMs: number;
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Add-on services (services.ts): their containers and volumes, apart from the app's generations. */
  readonly services: DockerServices;
  readonly #accessLog: AccessLog | undefined;

  constructor(options: DockerRuntimeOptions) {
    this.#accessLog = options.accessLog ? new AccessLog(options.accessLog) : undefined;
    this.#docker = options.docker;
    this.#caddy = options.caddy;
    this.#secrets = options.secrets;
    this.#auth = options.registryAuth;
    this.#drainMs = options.drainMs ?? 2000;
    this.#stopTimeout = options.stopTimeoutSeconds ?? 10;
    this.#restart = options.restartPolicy ?? "unless-stopped";
    this.#routeTimeoutMs = options.routeTimeoutMs ?? 15_000;
    this.#instance = options.instance ?? DEFAULT_INSTANCE;
    this.#releaseTimeoutMs = options.releaseTimeoutMs ?? RELEASE_TIMEOUT_MS;
    if (!/^[a-z0-9][a-z0-9.-]{0,62}$/.test(this.#instance)) {
      throw new DockerRuntimeError(
        "PAAS_DOCKER_INSTANCE must be lowercase letters, digits, . and - (at most 63)",
      );
    }
    this.services = new DockerServices({
      docker: this.#docker,
      instance: this.#instance,
      stopTimeoutSeconds: this.#stopTimeout,
      registryAuth: this.#auth,
    });
  }

  apply(spec: DeploySpec, options: ApplyOptions = {}): Promise<RolloutResult> {
    return this.#locked(namespaceName(spec.target), () => this.#apply(spec, options));
  }

  destroy(target: Target): Promise<void> {
    return this.#locked(namespaceName(target), () => this.#destroy(target));
  }

  async diagnose(target: Target): Promise<Diagnosis> {
    const gens = generations(await this.#managed({ namespace: namespaceName(target) }));
    const current = gens[0];
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
    const secrets = await this.#containerSecretValues(c.id, splitList(current.labels[L.secrets]));
    const passwords = await this.services.passwords(target).catch(() => []);
    return this.#diagnoseContainer(c.id, [...secrets, ...passwords], undefined);
  }

  async logs(target: Target, options: LogOptions): Promise<LogStream[]> {
    const current = generations(await this.#managed({ namespace: namespaceName(target) }))[0];
    if (!current) return [];
    // Masked with the values the containers were given (read back from their environment, as
    // diagnose does); withheld when those cannot be read.
    const names = splitList(current.labels[L.secrets]);
    const secrets = await this.#containerSecretValues(current.containers[0]!.id, names).catch(
      () => undefined,
    );
    if (!secrets)
      return current.containers.map((c) => ({
        source: c.name,
        lines: [{ time: undefined, text: LOGS_WITHHELD_LINE }],
      }));
    return containerLogs(this.#docker, current.containers, { ...options, secrets, demux });
  }

  async list(): Promise<RuntimeEnvironment[]> {
    const byNs = new Map<string, Generation[]>();
    for (const g of generations(await this.#managed({}))) {
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
    await this.#caddy.ensureServers();
    await this.#caddy.enableAccessLog(this.#accessLog.file);
    return this.#accessLog.hosts();
  }

  /**
   * Scales the environment to zero: its route first points at `wakeUpstream` (the App's wake
   * handler, told by a request header), then its containers stop (kept, to start again).
   * False when the environment has no containers.
   */
  sleep(target: Target, wakeUpstream: string): Promise<boolean> {
    const ns = namespaceName(target);
    return this.#locked(ns, async () => {
      const g = generations(await this.#managed({ namespace: ns }))[0];
      if (!g) return false;
      await this.#caddy.setRoute({
        id: this.#scoped(routeId(ns)),
        hostnames: splitList(g.labels[L.hostnames]),
        upstreams: [wakeUpstream],
        deployId: g.deployId,
        wake: true,
      });
      // Workers sleep with the web process (scheduled jobs do too: the scheduler follows running web containers).
      const workers = await listRoles(this.#docker, this.#instance, { namespace: ns, role: "worker" });
      for (const c of [...g.containers, ...workers]) {
        await this.#docker
          .getContainer(c.id)
          .stop({ t: this.#stopTimeout })
          .catch((err: unknown) => {
            if (statusOf(err) !== 304) throw err; // 304: already stopped
          });
      }
      // Its services sleep too (after the app, which may still be using them).
      await this.services.stopAll(target);
      return true;
    });
  }

  /**
   * Starts a sleeping environment's containers, waits until each answers its health path, then
   * routes its hostnames to them again. False when it has no containers or they do not become healthy.
   */
  wake(target: Target, o: WakeOptions): Promise<boolean> {
    const ns = namespaceName(target);
    return this.#locked(ns, async () => {
      const g = generations(await this.#managed({ namespace: ns }))[0];
      if (!g) return false;
      // Services first, ready before the app starts (as at a deploy).
      if (!(await this.services.startAll(target))) return false;
      const workers = await listRoles(this.#docker, this.#instance, { namespace: ns, role: "worker" });
      for (const c of [...g.containers, ...workers]) {
        await this.#docker
          .getContainer(c.id)
          .start()
          .catch((err: unknown) => {
            if (statusOf(err) !== 304) throw err; // 304: already running
          });
      }
      const deadline = Date.now() + o.timeoutMs;
      for (let attempt = 0; ; attempt++) {
        const now = (await this.#managed({ namespace: ns })).filter(
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
            await this.#caddy.setRoute({
              id: this.#scoped(routeId(ns)),
              hostnames: splitList(g.labels[L.hostnames]),
              upstreams: ups as string[],
              deployId: g.deployId,
            });
            return true;
          }
        }
        if (Date.now() > deadline) return false;
        await sleep(Math.min(25 * 2 ** attempt, 500));
      }
    });
  }

  /**
   * Rebuilds Caddy's routes from container labels (after a Caddy restart, or
   * published ports changed after an engine restart) and removes routes of
   * environments that no longer exist. With `wakeUpstream`, an environment whose
   * containers are all stopped (asleep, src/deploy/sleep.ts) gets its wake route back.
   * Returns how many routes it set.
   */
  async restoreRoutes(o: { wakeUpstream?: string | undefined } = {}): Promise<number> {
    await this.#caddy.ensureServers();
    const managed = await this.#managed({});
    const live = new Map<string, Generation>();
    for (const g of generations(managed)) {
      const ns = g.labels[L.namespace];
      // Newest generation whose containers all run: an interrupted rollout's unready container is not routed.
      if (!live.has(ns) && g.containers.every((c) => c.state === "running" && c.upstream)) live.set(ns, g);
    }
    let set = 0;
    if (o.wakeUpstream) {
      // The newest generation of each environment (sorted newest first): all stopped means asleep.
      const newest = new Map<string, Generation>();
      for (const g of generations(managed))
        if (!newest.has(g.labels[L.namespace])) newest.set(g.labels[L.namespace], g);
      for (const [ns, g] of newest) {
        if (live.has(ns) || !g.containers.every((c) => c.state === "exited")) continue;
        await this.#caddy.setRoute({
          id: this.#scoped(routeId(ns)),
          hostnames: splitList(g.labels[L.hostnames]),
          upstreams: [o.wakeUpstream],
          deployId: g.deployId,
          wake: true,
        });
        set++;
      }
    }
    for (const [ns, g] of live) {
      await this.#caddy.setRoute({
        id: this.#scoped(routeId(ns)),
        hostnames: splitList(g.labels[L.hostnames]),
        upstreams: g.containers.map((c) => c.upstream!),
        deployId: g.deployId,
      });
      set++;
    }
    const namespaces = new Set(managed.map((m) => m.labels[L.namespace]));
    // Stale routes of this instance only: another instance's routes are not ours to remove.
    const prefix = this.#scoped(routeId(""));
    for (const r of await this.#caddy.routes()) {
      const ns = r.id.startsWith(prefix) ? r.id.slice(prefix.length) : undefined;
      if (ns && !ns.includes(".") && !namespaces.has(ns)) await this.#caddy.removeRoute(r.id);
    }
    return set;
  }

  async #apply(spec: DeploySpec, options: ApplyOptions): Promise<RolloutResult> {
    await this.#assertHostnamesFree(spec, namespaceName(spec.target));
    // Services' volumes and credentials first: their URLs reach the app like secrets.
    const services = await this.services.prepare(spec);
    const secretValues = {
      ...(await resolveSecretValues(spec.target, spec.secrets, options.secrets, {
        source: this.#secrets,
        setting: "PAAS_SECRETS_DIR",
      })),
      ...services.env,
    };
    // What a rollout reports or throws can quote what the app printed or what the engine echoed.
    const redactor = new Redactor([...Object.values(secretValues), ...services.passwords]);
    try {
      const result = await this.#rollout(spec, options, secretValues);
      if (result.ok) return result;
      return {
        ...result,
        reason: redactor.text(result.reason),
        diagnosis: redactor.diagnosis(result.diagnosis),
      };
    } catch (e) {
      throw redactor.error(e);
    }
  }

  async #rollout(
    spec: DeploySpec,
    options: ApplyOptions,
    secretValues: Record<string, string>,
  ): Promise<RolloutResult> {
    const started = Date.now();
    const progress = options.onProgress ?? (() => {});
    const signal = options.signal;
    const ns = namespaceName(spec.target);
    const fail = (reason: string, diagnosis: Diagnosis): RolloutResult => ({
      ok: false,
      reason,
      diagnosis,
      durationMs: Date.now() - started,
    });

    const redact = Object.values(secretValues);

    progress("pull", spec.image);
    let image: { id: string; user: string };
    try {
      image = await this.#resolveImage(spec.image);
    } catch (err) {
      const message = pullMessage(err);
      const login = /unauthorized|authentication required|no basic auth|denied/i.test(message)
        ? "; if the registry needs a login, give the runtime credentials for it (PAAS_REGISTRY_HOST, PAAS_REGISTRY_USERNAME, PAAS_REGISTRY_PASSWORD)"
        : "";
      return fail(`image ${spec.image} is not available`, {
        summary: `could not pull the image: ${message.slice(0, 200)}${login}`,
        events: [],
        state: "ImagePullFailed",
        exitCode: undefined,
        logs: [messageOf(err).slice(0, 2000)],
      });
    }
    signal?.throwIfAborted();

    const deployId = randomBytes(4).toString("hex");
    // The pure plan (plan.ts): what `paas plan --runtime docker` prints is what is created here.
    const plan = planDocker({
      spec,
      instance: this.#instance,
      deployId,
      deployedAt: new Date().toISOString(),
    });
    await this.#ensureNetwork(plan.network);
    // Health-gated: the app is not started until its services answer.
    const up = await this.services.start(spec, { signal, progress });
    if (!up.ok) return fail(up.reason, up.diagnosis);
    await this.#caddy.ensureServers();
    const old = generations(await this.#managed({ namespace: ns }));
    const oldWorkers = await listRoles(this.#docker, this.#instance, { namespace: ns, role: "worker" });
    const facts = { imageId: image.id, imageUser: image.user, secretValues };

    if (plan.release) {
      // Before any new container starts: a failed migration leaves the old version serving, untouched.
      progress("release", spec.release);
      const failed = await runRelease(
        this.#docker,
        roleCreateOptions(containerCreateOptions(plan.release, facts), undefined),
        {
          timeoutMs: this.#releaseTimeoutMs,
          signal,
        },
      );
      if (failed) return fail(failed.summary, failed);
    }

    const replicas = plan.containers.length;
    progress("start", `${replicas} container(s)`);
    const created: Docker.Container[] = [];
    const cleanup = async () => {
      for (const c of created) await c.remove({ force: true }).catch(() => undefined);
    };
    try {
      for (const planned of plan.containers) {
        const c = await this.#docker.createContainer(
          containerCreateOptions(planned, { imageId: image.id, imageUser: image.user, secretValues }),
        );
        created.push(c);
        await c.start();
      }
      // Workers start beside the new web containers, without restarts until the web version is
      // healthy: one the engine cannot start, or that has exited by then, fails the deploy.
      const web = [...created];
      const workers = await startWorkers(this.#docker, plan.workers ?? [], facts, created);
      if (!workers.ok) {
        await cleanup();
        return fail(workers.reason, { ...emptyDiagnosis(workers.reason), state: "StartFailed" });
      }

      progress("health", spec.healthcheck.path);
      const upstreams: string[] = [];
      for (const c of web) {
        const health = await this.#waitHealthy(c, spec, signal);
        if (!health.ok) {
          const diagnosis = await this.#diagnoseContainer(c.id, redact, health.reason);
          await cleanup();
          return fail(diagnosis.summary, diagnosis);
        }
        upstreams.push(health.upstream);
        await c.update({ RestartPolicy: this.#restartPolicy() });
      }

      for (const w of workers.containers) {
        const info = await w.inspect();
        if (info.State.Status === "exited" || info.State.Status === "dead") {
          const diagnosis = await this.#diagnoseContainer(w.id, redact, undefined);
          await cleanup();
          const reason = `worker ${info.Config.Labels[R.process] ?? ""}: ${diagnosis.summary}`;
          return fail(reason, { ...diagnosis, summary: reason });
        }
        await w.update({ RestartPolicy: this.#restartPolicy() });
      }

      progress("route", spec.hostnames.join(", "));
      await this.#caddy.setRoute({ id: plan.route.id, hostnames: plan.route.hostnames, upstreams, deployId });
      const routed = await this.#waitRouted(spec, deployId, signal);
      if (!routed.ok) {
        // Put the previous version back in front before removing the new one.
        const prev = old.find((g) => g.containers.every((c) => c.upstream));
        if (prev) {
          await this.#caddy.setRoute({
            id: this.#scoped(routeId(ns)),
            hostnames: splitList(prev.labels[L.hostnames]),
            upstreams: prev.containers.map((c) => c.upstream!),
            deployId: prev.deployId,
          });
        } else {
          await this.#caddy.removeRoute(this.#scoped(routeId(ns)));
        }
        await cleanup();
        return fail(routed.reason, {
          summary: routed.reason,
          events: [],
          state: "Running",
          exitCode: undefined,
          logs: [],
        });
      }
    } catch (err) {
      await cleanup();
      throw err;
    }

    progress("rollout", "draining the previous version");
    const oldContainers = old.flatMap((g) => g.containers);
    await removeRoles(this.#docker, oldWorkers, this.#stopTimeout);
    if (oldContainers.length > 0) {
      await sleep(this.#drainMs, signal).catch(() => undefined);
      await this.#removeContainers(oldContainers);
    }
    await this.#pruneImages([...oldContainers, ...oldWorkers].map((c) => c.imageId));
    const notes = await this.services.retire(spec);
    return { ok: true, url: spec.url, replicas, durationMs: Date.now() - started, notes };
  }

  /** Network names and route ids of a non-default instance carry its name, so instances never collide. */
  #scoped(name: string): string {
    return scoped(this.#instance, name);
  }

  async #destroy(target: Target): Promise<void> {
    const ns = namespaceName(target);
    const containers = await this.#managed({ namespace: ns });
    const roles = await listRoles(this.#docker, this.#instance, { namespace: ns });
    await this.#caddy.removeRoute(this.#scoped(routeId(ns)));
    await removeRoles(this.#docker, roles, this.#stopTimeout);
    await this.#removeContainers(containers);
    await this.services.destroy(target);
    try {
      await this.#docker.getNetwork(this.#scoped(ns)).remove();
    } catch (err) {
      if (statusOf(err) !== 404)
        throw new DockerRuntimeError(`could not remove network ${ns}: ${messageOf(err)}`, { cause: err });
    }
    await this.#pruneImages([...containers, ...roles].map((c) => c.imageId));
  }

  /** Another environment's route already serving one of these hostnames would shadow or be shadowed: refuse. */
  async #assertHostnamesFree(spec: DeploySpec, ns: string): Promise<void> {
    const claims: HostnameClaim[] = [];
    for (const g of generations(await this.#managed({}))) {
      const target = targetOf(g.labels);
      if (g.labels[L.namespace] === ns || !target) continue;
      const owner = hostnameOwner(target, g.labels[L.repositoryId]);
      for (const hostname of splitList(g.labels[L.hostnames])) claims.push({ hostname, owner });
    }
    const self = hostnameOwner(spec.target, spec.repositoryId);
    for (const hostname of spec.hostnames) {
      const clash = conflictingClaim(hostname, self, claims, "environment");
      if (clash) throw new HostnameTakenError(clash.hostname, clash.owner);
    }
  }

  /** Values of the named variables in a container's environment (what diagnose must mask). */
  async #containerSecretValues(id: string, names: readonly string[]): Promise<string[]> {
    if (names.length === 0) return [];
    const wanted = new Set(names);
    const env = (await this.#docker.getContainer(id).inspect()).Config.Env ?? [];
    return env.flatMap((kv) => {
      const at = kv.indexOf("=");
      return at > 0 && wanted.has(kv.slice(0, at)) ? [kv.slice(at + 1)] : [];
    });
  }

  /**
   * Finds the image: by its reference when the engine knows it (pulled or
   * pushed images carry RepoDigests), else — for images built on this host
   * and never pushed — `<repo>@sha256:<image id>` when a local image has that
   * id and is tagged in <repo>, else pulls it.
   */
  async #resolveImage(ref: string): Promise<{ id: string; user: string }> {
    const m = /^(.+)@(sha256:[a-f0-9]{64})$/.exec(ref);
    if (!m)
      throw new DockerRuntimeError(`image "${ref.slice(0, 200)}" is not pinned by digest (name@sha256:…)`);
    const [, repo, digest] = m as unknown as [string, string, string];
    const found = (await this.#inspectImage(ref)) ?? (await this.#localById(repo, digest));
    if (found) return found;
    const registry = registryOf(repo);
    const auth = this.#auth ? await this.#auth(registry) : undefined;
    try {
      const stream = await this.#docker.pull(
        ref,
        auth ? { authconfig: { serveraddress: registry, ...auth } } : {},
      );
      await new Promise<void>((resolve, reject) =>
        this.#docker.modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
          const failed = err?.message ?? events.find((e) => e.error)?.error;
          if (failed) reject(new DockerRuntimeError(failed));
          else resolve();
        }),
      );
    } catch (e) {
      // The engine's or the registry's answer must not carry the pull credentials into a check run.
      throw redactError(e, auth ? [auth.password] : []);
    }
    const pulled = await this.#inspectImage(ref);
    if (!pulled) throw new DockerRuntimeError(`pulled ${ref} but the engine does not find it`);
    return pulled;
  }

  async #inspectImage(ref: string): Promise<{ id: string; user: string; repoTags: string[] } | undefined> {
    try {
      const info = await this.#docker.getImage(ref).inspect();
      return {
        id: info.Id,
        user: info.Config?.User ?? "",
        repoTags: [...(info.RepoTags ?? []), ...(info.RepoDigests ?? [])],
      };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  async #localById(repo: string, digest: string): Promise<{ id: string; user: string } | undefined> {
    const info = await this.#inspectImage(digest);
    // An image id is a content hash, but a tenant must not run another tenant's image by guessing its id: require the name.
    if (!info || info.id !== digest) return undefined;
    return info.repoTags.some((t) => t.replace(/(?:@sha256:[a-f0-9]+|:[^:/]+)$/, "") === repo)
      ? info
      : undefined;
  }

  async #ensureNetwork(network: { name: string; labels: Record<string, string> }): Promise<void> {
    try {
      await this.#docker.getNetwork(network.name).inspect();
      return;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    try {
      await this.#docker.createNetwork({
        Name: network.name,
        Driver: "bridge",
        CheckDuplicate: true,
        Labels: network.labels,
      });
    } catch (err) {
      // Created concurrently by another process: fine.
      if (statusOf(err) !== 409) throw err;
    }
  }

  #restartPolicy(): { Name: string; MaximumRetryCount?: number } {
    return this.#restart === "on-failure"
      ? { Name: "on-failure", MaximumRetryCount: 5 }
      : { Name: "unless-stopped" };
  }

  /** Polls the container's health path on its published port until 2xx/3xx, it dies, or startupTimeout passes. */
  async #waitHealthy(
    c: Docker.Container,
    spec: DeploySpec,
    signal: AbortSignal | undefined,
  ): Promise<{ ok: true; upstream: string } | { ok: false; reason: string }> {
    const hc = spec.healthcheck;
    const deadline = Date.now() + durationMs(hc.startupTimeout);
    const probeTimeout = Math.min(durationMs(hc.timeout), 5000);
    let last = "no answer yet";
    let attempt = 0;
    for (;;) {
      signal?.throwIfAborted();
      const info = await c.inspect();
      const s = info.State;
      if (s.Status === "exited" || s.Status === "dead" || s.Restarting || info.RestartCount > 0) {
        return { ok: false, reason: "exited" };
      }
      const hostPort = info.NetworkSettings.Ports?.[`${spec.port}/tcp`]?.find(
        (b) => b.HostIp === "127.0.0.1",
      )?.HostPort;
      if (hostPort) {
        const upstream = `127.0.0.1:${hostPort}`;
        try {
          const status = await httpGet(upstream, hc.path, probeTimeout);
          if (status >= 200 && status < 400) return { ok: true, upstream };
          last = `GET ${hc.path} answered ${status}`;
        } catch (err) {
          last = `GET ${hc.path} failed: ${messageOf(err)}`;
        }
      }
      if (Date.now() > deadline) {
        return {
          ok: false,
          reason: `the new version did not answer GET ${hc.path} with 2xx or 3xx on port ${spec.port} within ${hc.startupTimeout} (${last})`,
        };
      }
      // Fast polls first (most apps start in well under a second), then at most twice a second.
      await sleep(Math.min(25 * 2 ** attempt++, 500), signal);
    }
  }

  /** Probes every hostname through Caddy until the new deployment answers. */
  async #waitRouted(
    spec: DeploySpec,
    deployId: string,
    signal: AbortSignal | undefined,
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    const deadline = Date.now() + this.#routeTimeoutMs;
    for (const host of spec.hostnames) {
      let last: string;
      for (;;) {
        signal?.throwIfAborted();
        try {
          const r = await this.#caddy.probe(host, spec.healthcheck.path, 5000);
          if (r.status >= 200 && r.status < 400 && r.deployId === deployId) break;
          last = `answered ${r.status}${r.deployId && r.deployId !== deployId ? " from the previous version" : ""}`;
        } catch (err) {
          last = messageOf(err);
          // A new real domain has no certificate until Caddy's ACME order completes (no TLS handshake yet):
          // then the route as Caddy holds it is the proof.
          if (this.#caddy.usesTls(host) && (await this.#routeHolds(host, deployId))) break;
        }
        if (Date.now() > deadline) {
          return {
            ok: false,
            reason: `the new version is healthy but http://${host}${spec.healthcheck.path} through Caddy ${last} (check Caddy's logs)`,
          };
        }
        await sleep(50, signal);
      }
    }
    return { ok: true };
  }

  async #routeHolds(host: string, deployId: string): Promise<boolean> {
    const routes = await this.#caddy.routes().catch(() => []);
    return routes.some((r) => r.deployId === deployId && r.hostnames.includes(host));
  }

  async #diagnoseContainer(id: string, redact: string[], reason: string | undefined): Promise<Diagnosis> {
    const c = this.#docker.getContainer(id);
    const info = await c.inspect().catch(() => undefined);
    const s = info?.State;
    const exited =
      s && (s.Status === "exited" || s.Status === "dead" || s.Restarting || (info?.RestartCount ?? 0) > 0);
    const state = !s
      ? undefined
      : s.OOMKilled
        ? "OOMKilled"
        : s.Restarting
          ? "Restarting"
          : s.Status[0]!.toUpperCase() + s.Status.slice(1);
    const exitCode = exited ? s.ExitCode : undefined;
    const logs = await this.#logs(c);
    const events = await this.#events(id, info?.Created);
    let summary: string;
    if (s?.OOMKilled) summary = `container was killed for using more than its memory limit (OOMKilled)`;
    else if (exited)
      summary = `container exited with code ${s.ExitCode}${info!.RestartCount > 0 ? ` (restarted ${info!.RestartCount} times)` : ""}`;
    else summary = reason ?? `container is ${s?.Status ?? "missing"}`;
    return redactDiagnosis({ summary, events, state, exitCode, logs }, redact);
  }

  async #logs(c: Docker.Container): Promise<string[]> {
    try {
      const buf = (await c.logs({
        stdout: true,
        stderr: true,
        tail: 50,
        follow: false,
      })) as unknown as Buffer;
      return demux(Buffer.from(buf))
        .split("\n")
        .filter((l, i, a) => l !== "" || i < a.length - 1)
        .slice(-50);
    } catch {
      return [];
    }
  }

  async #events(id: string, created: string | undefined): Promise<string[]> {
    try {
      const since = created
        ? Math.floor(Date.parse(created) / 1000) - 1
        : Math.floor(Date.now() / 1000) - 600;
      const stream = (await this.#docker.getEvents({
        since,
        until: Math.floor(Date.now() / 1000) + 1,
        filters: { container: [id] },
      })) as NodeJS.ReadableStream;
      let text = "";
      for await (const chunk of stream) text += String(chunk);
      return text
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const e = JSON.parse(line) as {
            time?: number;
            Action?: string;
            Actor?: { Attributes?: Record<string, string> };
          };
          const code = e.Actor?.Attributes?.exitCode;
          const at = e.time ? new Date(e.time * 1000).toISOString() : "";
          return `${at} container ${e.Action ?? "?"}${code !== undefined ? ` (exit code ${code})` : ""}`.trim();
        })
        .filter((l) => !/ container exec_/.test(l))
        .slice(-50);
    } catch {
      return [];
    }
  }

  async #managed(filter: { namespace?: string }): Promise<Managed[]> {
    const list = await this.#docker.listContainers({
      all: true,
      filters: {
        label: [
          `${L.managedBy}=${this.#instance}`,
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
        upstream: c.State === "running" && port ? `127.0.0.1:${port.PublicPort}` : undefined,
      });
    }
    return out;
  }

  async #removeContainers(containers: Managed[]): Promise<void> {
    await Promise.all(
      containers.map(async (m) => {
        const c = this.#docker.getContainer(m.id);
        try {
          if (m.state === "running") await c.stop({ t: this.#stopTimeout });
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
  async #pruneImages(ids: string[]): Promise<void> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return;
    const inUse = new Set((await this.#docker.listContainers({ all: true })).map((c) => c.ImageID));
    for (const id of unique) {
      if (inUse.has(id)) continue;
      try {
        await this.#docker.getImage(id).remove();
      } catch (err) {
        if (![404, 409].includes(statusOf(err) ?? 0)) throw err;
      }
    }
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

/** Groups containers by deploy id, newest first. */
function generations(containers: Managed[]): Generation[] {
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

function targetOf(labels: Labels): Target | undefined {
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

function splitList(s: string): string[] {
  return s.split(",").filter(Boolean);
}

/** "ghcr.io/o/r" → "ghcr.io"; "localhost:5000/x" → "localhost:5000"; "o/r" → "docker.io". */
export function registryOf(repo: string): string {
  const first = repo.split("/")[0]!;
  return repo.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")
    ? first
    : "docker.io";
}

/** Docker's multiplexed log stream (non-TTY): 8-byte frame headers. */
export function demux(buf: Buffer): string {
  let out = "";
  let i = 0;
  while (i + 8 <= buf.length && buf[i]! <= 2 && buf[i + 1] === 0) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString("utf8");
    i += 8 + size;
  }
  return i === 0 ? buf.toString("utf8") : out;
}

function httpGet(hostPort: string, path: string, timeoutMs: number): Promise<number> {
  const [host, port] = hostPort.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host,
        port: Number(port),
        path,
        method: "GET",
        timeout: timeoutMs,
        agent: false,
        headers: { "user-agent": "paas-health" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The engine's reason without its HTTP wrapping and the URL it tried. */
function pullMessage(err: unknown): string {
  return messageOf(err)
    .replace(/^\(HTTP code \d+\)[^-]*- /, "")
    .replace(/\b(?:Get|Head) "[^"]*": /g, "")
    .trim();
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === "number" ? s : undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
