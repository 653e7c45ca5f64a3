// Add-on services on one Docker host: a container per service on the
// environment's private network, its data in a named volume that outlives the
// container. The volume also carries the service's password in its labels:
// created once with the data, it lives exactly as long as the data it opens
// (the engine is the only store, as for everything else of this runtime).
//
// Lifetimes: a deploy keeps the container when nothing about it changed and
// always keeps the volume. A preview's services go with the preview. In a
// long-lived environment a service dropped from .paas.yml is stopped and its
// volume kept (reported) until the default branch's .paas.yml says
// `remove: confirm` for it.
import { randomBytes } from "node:crypto";
import { finished } from "node:stream/promises";
import type Docker from "dockerode";
import { SERVICE_DEFAULTS, type ServiceType } from "../../config/services.ts";
import { serviceReadyCommand, serviceUrl, type ServiceSpec } from "../../core/services.ts";
import type { DeploySpec, Diagnosis } from "../../core/spec.ts";
import { PaasError } from "../../errors.ts";
import { namespaceName, type Target } from "../../names.ts";
import { redactDiagnosis } from "../../redact.ts";
import { demux } from "./diagnose.ts";
import { ensureConnected } from "./egress.ts";
import { statusOf } from "./engine-errors.ts";
import { L } from "./plan.ts";
import { sleep } from "./probes.ts";
import {
  planDockerServices,
  serviceCreateOptions,
  serviceResourceName,
  SL,
  type DockerServicePlan,
} from "./services-plan.ts";

export class ServiceError extends PaasError {
  constructor(message: string) {
    super("service", message);
  }
}

export interface DockerServicesOptions {
  docker: Docker;
  instance: string;
  stopTimeoutSeconds: number;
  /** Pull credentials by registry host (the runtime's). */
  registryAuth?:
    ((registry: string) => Promise<{ username: string; password: string } | undefined>) | undefined;
  /** How long a service may take to accept clients. Default 120 s. */
  readyTimeoutMs?: number | undefined;
}

export type ServicesStarted = { ok: true } | { ok: false; reason: string; diagnosis: Diagnosis };

export class DockerServices {
  readonly #docker: Docker;
  readonly #instance: string;
  readonly #stopTimeout: number;
  readonly #auth: DockerServicesOptions["registryAuth"];
  readonly #readyTimeoutMs: number;

  constructor(o: DockerServicesOptions) {
    this.#docker = o.docker;
    this.#instance = o.instance;
    this.#stopTimeout = o.stopTimeoutSeconds;
    this.#auth = o.registryAuth;
    this.#readyTimeoutMs = o.readyTimeoutMs ?? 120_000;
  }

  /**
   * Each service's volume, created with a new password the first time: the variables the app
   * gets (connection URLs) and the passwords to mask. Checks every service before creating any.
   */
  async prepare(spec: DeploySpec): Promise<{ env: Record<string, string>; passwords: string[] }> {
    const plans = planDockerServices(spec, this.#instance);
    const existing = new Map<string, Record<string, string>>();
    for (const p of plans) {
      const labels = await this.#volumeLabels(p.volume.name);
      if (!labels) continue;
      if (labels[SL.type] !== p.service.type || !labels[SL.password]) {
        throw new ServiceError(
          `service ${p.service.name} holds ${labels[SL.type] ?? "unknown"} data and is now ${p.service.type}: give the new service another name, or delete the old one first with services.${p.service.name}.remove: confirm`,
        );
      }
      existing.set(p.volume.name, labels);
    }
    const env: Record<string, string> = {};
    const passwords: string[] = [];
    for (const p of plans) {
      let password = existing.get(p.volume.name)?.[SL.password];
      if (password === undefined) {
        password = randomBytes(24).toString("hex");
        await this.#docker.createVolume({
          Name: p.volume.name,
          Labels: { ...p.volume.labels, [SL.password]: password },
        });
      }
      passwords.push(password);
      Object.assign(env, serviceUrl(p.service, p.container.alias, password));
    }
    return { env, passwords };
  }

  /** Starts what is not running (or was created from another image) and waits until every service answers. */
  async start(
    spec: DeploySpec,
    options: { signal?: AbortSignal | undefined; progress: (phase: string, detail?: string) => void },
  ): Promise<ServicesStarted> {
    for (const p of planDockerServices(spec, this.#instance)) {
      options.progress("service", `${p.service.name} (${p.service.type} ${p.service.version})`);
      const password = (await this.#volumeLabels(p.volume.name))?.[SL.password];
      if (!password) throw new ServiceError(`the volume of service ${p.service.name} disappeared`);
      const { container: c, previous } = await this.#ensureContainer(p, password);
      const ready = await this.#waitReady(c, p.service, password, options.signal);
      if (!ready.ok) {
        const diagnosis = redactDiagnosis(await this.#diagnose(c, p.service, ready.reason), [password]);
        // A replacement that does not come up gives way to the container it replaced.
        if (previous) await this.#restore(c, previous, p.container.name);
        return { ok: false, reason: diagnosis.summary, diagnosis };
      }
      // Ready: from now on the engine restarts it (after a crash or a host reboot).
      await c.update({ RestartPolicy: { Name: "unless-stopped" } });
      if (previous) await this.#removeContainer(previous);
    }
    return { ok: true };
  }

  /**
   * After a rollout: containers of services the spec no longer has are removed. Their volumes
   * go too in a preview or when confirmed (`remove: confirm`); otherwise they are kept, and
   * the returned notes say so and how to delete them.
   */
  async retire(spec: DeploySpec): Promise<string[]> {
    const ns = namespaceName(spec.target);
    const keep = new Set(spec.services.map((s) => s.name));
    const preview = spec.target.environment.kind === "preview";
    const confirmed = new Set(spec.deleteServices);
    for (const c of await this.#containers(ns)) {
      if (!keep.has(c.Labels[SL.service] ?? "")) await this.#removeContainer(c.Id);
    }
    const notes: string[] = [];
    for (const v of await this.#volumes(ns)) {
      const name = v.Labels[SL.service] ?? "";
      if (keep.has(name)) continue;
      if (preview || confirmed.has(name)) {
        await this.#removeVolume(v.Name);
        if (confirmed.has(name)) notes.push(`service ${name} and its data were deleted (remove: confirm)`);
      } else {
        notes.push(
          `service ${name} is no longer in .paas.yml: it is stopped and its data kept in volume ${v.Name}; add it back to use it again, or set services.${name}.remove: confirm on the default branch to delete it`,
        );
      }
    }
    return notes;
  }

  /** Removes the environment's service containers; their data too for a preview, else it is kept. */
  async destroy(target: Target): Promise<void> {
    const ns = namespaceName(target);
    for (const c of await this.#containers(ns)) await this.#removeContainer(c.Id);
    if (target.environment.kind !== "preview") return;
    for (const v of await this.#volumes(ns)) await this.#removeVolume(v.Name);
  }

  /** Stops the environment's service containers (kept, with their data): a sleeping environment's. */
  async stopAll(target: Target): Promise<void> {
    for (const c of await this.#containers(namespaceName(target))) {
      await this.#docker
        .getContainer(c.Id)
        .stop({ t: this.#stopTimeout })
        .catch((err: unknown) => {
          if (![304, 404].includes(statusOf(err) ?? 0)) throw err;
        });
    }
  }

  /** Starts them again and waits until each accepts clients, before the app wakes; false when one does not. */
  async startAll(target: Target): Promise<boolean> {
    const ns = namespaceName(target);
    const passwords = new Map(
      (await this.#volumes(ns)).map((v) => [v.Labels[SL.service], v.Labels[SL.password]]),
    );
    for (const info of await this.#containers(ns)) {
      const type = info.Labels[SL.type] as ServiceType | undefined;
      const name = info.Labels[SL.service] ?? "";
      const password = passwords.get(name);
      if (!type || !Object.hasOwn(SERVICE_DEFAULTS, type) || !password) continue;
      const c = this.#docker.getContainer(info.Id);
      await c.start().catch((err: unknown) => {
        if (statusOf(err) !== 304) throw err;
      });
      const s = { name, type, port: SERVICE_DEFAULTS[type].port } as ServiceSpec;
      if (!(await this.#waitReady(c, s, password, undefined)).ok) return false;
    }
    return true;
  }

  /** The passwords of an environment's services, to mask them in a diagnosis. */
  async passwords(target: Target): Promise<string[]> {
    return (await this.#volumes(namespaceName(target)))
      .map((v) => v.Labels[SL.password] ?? "")
      .filter(Boolean);
  }

  /** The volume a service of this environment keeps its data in (for operators and tests). */
  volumeName(target: Target, service: string): string {
    return serviceResourceName(this.#instance, namespaceName(target), service);
  }

  /**
   * The service's container: the running one when nothing about it changed; else a new one on
   * the same volume, the old one stopped and set aside (`previous`) until the new one is ready.
   */
  async #ensureContainer(
    p: DockerServicePlan,
    password: string,
  ): Promise<{ container: Docker.Container; previous?: string }> {
    const name = p.container.name;
    // Set aside by a deploy that was interrupted: the current container is the one to keep.
    await this.#removeContainer(`${name}.previous`);
    const c = this.#docker.getContainer(name);
    const info = await c.inspect().catch((err: unknown) => {
      if (statusOf(err) === 404) return undefined;
      throw err;
    });
    if (info && info.Config.Labels?.[SL.config] === p.container.labels[SL.config]) {
      // A deploy that changed network.egress: on the new network too, the old one until its drain (egress.ts).
      await ensureConnected(this.#docker, info, p.container.network, p.container.alias);
      if (!info.State.Running) await c.start();
      return { container: c };
    }
    // Pulled first: an image that cannot be had changes nothing.
    const imageId = await this.#image(p.service.image);
    if (info) {
      await c.stop({ t: this.#stopTimeout }).catch((err: unknown) => {
        if (![304, 404].includes(statusOf(err) ?? 0)) throw err;
      });
      await c.rename({ name: `${name}.previous` });
    }
    const created = await this.#docker.createContainer(serviceCreateOptions(p, { imageId, password }));
    await created.start();
    return info ? { container: created, previous: info.Id } : { container: created };
  }

  async #restore(failed: Docker.Container, previous: string, name: string): Promise<void> {
    await this.#removeContainer(failed.id);
    const old = this.#docker.getContainer(previous);
    await old.rename({ name });
    await old.start();
  }

  async #waitReady(
    c: Docker.Container,
    s: ServiceSpec,
    password: string,
    signal: AbortSignal | undefined,
  ): Promise<{ ok: true } | { ok: false; reason: string }> {
    const deadline = Date.now() + this.#readyTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const info = await c.inspect();
      if (!info.State.Running || info.State.Restarting) return { ok: false, reason: "exited" };
      const code = await this.#probe(c, s, password);
      // The container stopped between the inspect and the probe: the engine refuses the exec with 409.
      if (code === "exited") return { ok: false, reason: "exited" };
      if (code === 0) return { ok: true };
      if (Date.now() > deadline) {
        return {
          ok: false,
          reason: `service ${s.name} (${s.type}) did not accept clients within ${Math.round(this.#readyTimeoutMs / 1000)}s`,
        };
      }
      await sleep(Math.min(50 * 2 ** attempt, 1000), signal);
    }
  }

  /** The readiness command's exit code inside the service's container, or "exited" when it stopped. */
  async #probe(c: Docker.Container, s: ServiceSpec, password: string): Promise<number | "exited"> {
    try {
      const exec = await c.exec({
        Cmd: serviceReadyCommand(s),
        Env: [`REDISCLI_AUTH=${password}`],
        AttachStdout: true,
        AttachStderr: true,
      });
      // The engine answers until the command exits; read to the end, which also frees the connection.
      const output = (await exec.start({})) as NodeJS.ReadableStream;
      output.resume();
      await finished(output);
      return (await exec.inspect()).ExitCode ?? -1;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 409) return "exited";
      throw err;
    }
  }

  async #diagnose(c: Docker.Container, s: ServiceSpec, reason: string): Promise<Diagnosis> {
    const info = await c.inspect().catch(() => undefined);
    const exited = !!info && (!info.State.Running || info.State.Restarting);
    const logs = await c
      .logs({ stdout: true, stderr: true, tail: 50, follow: false })
      .then((buf) =>
        demux(Buffer.from(buf as unknown as Buffer))
          .split("\n")
          .filter((l) => l !== "")
          .slice(-50),
      )
      .catch(() => []);
    const summary = exited
      ? `service ${s.name} (${s.type}) exited with code ${info.State.ExitCode} before the app was started`
      : reason;
    return {
      summary,
      events: [],
      state: exited ? "Exited" : info ? "Running" : undefined,
      exitCode: exited ? info.State.ExitCode : undefined,
      logs,
    };
  }

  async #image(ref: string): Promise<string> {
    const inspect = () => this.#docker.getImage(ref).inspect();
    try {
      return (await inspect()).Id;
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
    const first = ref.split("/")[0]!;
    const registry =
      ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")
        ? first
        : "docker.io";
    const auth = this.#auth ? await this.#auth(registry) : undefined;
    const stream = await this.#docker.pull(
      ref,
      auth ? { authconfig: { serveraddress: registry, ...auth } } : {},
    );
    await new Promise<void>((resolve, reject) =>
      this.#docker.modem.followProgress(stream, (err: Error | null, events: { error?: string }[]) => {
        const failed = err?.message ?? events.find((e) => e.error)?.error;
        if (failed)
          reject(
            new ServiceError(
              `could not pull the service image ${ref}: ${failed.slice(0, 300)} (an operator can point PAAS_SERVICE_IMAGES at a reachable registry)`,
            ),
          );
        else resolve();
      }),
    );
    return (await inspect()).Id;
  }

  async #volumeLabels(name: string): Promise<Record<string, string> | undefined> {
    try {
      const v = (await this.#docker.getVolume(name).inspect()) as { Labels?: Record<string, string> | null };
      return v.Labels ?? {};
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }

  #filters(ns: string): { label: string[] } {
    return { label: [`${L.managedBy}=${this.#instance}`, `${L.namespace}=${ns}`, SL.service] };
  }

  async #containers(ns: string): Promise<Docker.ContainerInfo[]> {
    return this.#docker.listContainers({ all: true, filters: this.#filters(ns) });
  }

  async #volumes(ns: string): Promise<{ Name: string; Labels: Record<string, string> }[]> {
    const r = await this.#docker.listVolumes({ filters: this.#filters(ns) });
    return (r.Volumes ?? []).map((v) => ({ Name: v.Name, Labels: v.Labels ?? {} }));
  }

  async #removeContainer(id: string): Promise<void> {
    const c = this.#docker.getContainer(id);
    try {
      await c.stop({ t: this.#stopTimeout });
    } catch (err) {
      if (![304, 404].includes(statusOf(err) ?? 0)) throw err;
    }
    try {
      await c.remove({ force: true });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  async #removeVolume(name: string): Promise<void> {
    try {
      await this.#docker.getVolume(name).remove();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }
}
