// A per-key lock on coordination.k8s.io/v1 Leases, so several App replicas
// never deploy the same environment at once. Same interface as an
// in-process lock. Expiry is judged like client-go's leader election: by
// how long this process has seen the lease unchanged, not by comparing
// clocks with the holder.
import { randomUUID } from "node:crypto";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { label } from "../../names.ts";
import { KubeClient, KubernetesApiError, type ClientOptions } from "./client.ts";
import { MANAGED_BY } from "./objects.ts";
import { FIELD_MANAGER } from "./settings.ts";

export interface Held {
  release(): Promise<void>;
}

export interface Lock {
  /** Resolves once this caller holds `key`; other callers wait until release (or expiry). */
  acquire(key: string, options?: { signal?: AbortSignal }): Promise<Held>;
}

export interface LeaseLockOptions extends ClientOptions {
  kubeConfig: KubeConfig;
  /** Namespace of the Leases (the App's own namespace). */
  namespace: string;
  /** This replica's name (the pod name), shown as the holder. */
  identity: string;
  /** A holder that stops renewing loses the lease after this long. Default 15 s. */
  leaseDurationSeconds?: number;
  /** Time between attempts while another holder has it. Default 1 s. */
  retryIntervalMs?: number;
  /**
   * Called when this holder steps down: the lease was taken over, or renewals
   * failed (any error) for two thirds of its duration. The caller must stop
   * acting for the key.
   */
  onLost?: (key: string) => void;
}

interface LeaseObject extends KubernetesObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(t);
      reject(signal!.reason instanceof Error ? signal!.reason : new Error("aborted"));
    }
    signal?.addEventListener("abort", abort, { once: true });
  });

/** MicroTime as the API server parses it: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Lease name for a key: a DNS label, hashed when the key is not one. */
export function leaseName(key: string): string {
  return label(`paas-lock-${key}`, 63, `paas-lock/${key}`);
}

export class LeaseLock implements Lock {
  private readonly client: KubeClient;
  private readonly namespace: string;
  private readonly identity: string;
  private readonly duration: number;
  private readonly retryMs: number;
  private readonly onLost: (key: string) => void;

  constructor(options: LeaseLockOptions) {
    this.client = new KubeClient(options.kubeConfig, options);
    this.namespace = options.namespace;
    this.identity = options.identity;
    this.duration = options.leaseDurationSeconds ?? 15;
    this.retryMs = options.retryIntervalMs ?? 1000;
    this.onLost = options.onLost ?? (() => {});
  }

  async acquire(key: string, options: { signal?: AbortSignal } = {}): Promise<Held> {
    const name = leaseName(key);
    // Unique per acquisition: two callers in one process exclude each other too.
    const me = `${this.identity}/${randomUUID().slice(0, 8)}`;
    let seen: { rv: string; at: number } | undefined;
    for (;;) {
      if (options.signal?.aborted)
        throw options.signal.reason instanceof Error ? options.signal.reason : new Error("aborted");
      const lease = await this.client.read<LeaseObject>(
        "coordination.k8s.io/v1",
        "Lease",
        this.namespace,
        name,
      );
      let held: LeaseObject | undefined;
      if (!lease) {
        held = await this.attempt(() =>
          this.client.create(this.lease(name, key, me, undefined), FIELD_MANAGER),
        );
      } else {
        const rv = lease.metadata?.resourceVersion ?? "";
        if (seen?.rv !== rv) seen = { rv, at: Date.now() };
        const duration = (lease.spec?.leaseDurationSeconds ?? this.duration) * 1000;
        const free = !lease.spec?.holderIdentity || Date.now() - seen.at > duration;
        if (free)
          held = await this.attempt(() =>
            this.client.replace(this.lease(name, key, me, lease), FIELD_MANAGER),
          );
      }
      if (held) return this.hold(key, name, me, held);
      await sleep(this.retryMs, options.signal);
    }
  }

  /** Runs a write; a 409 (someone else wrote first) means "not this time". */
  private async attempt(write: () => Promise<LeaseObject>): Promise<LeaseObject | undefined> {
    try {
      return await write();
    } catch (e) {
      if (e instanceof KubernetesApiError && e.status === 409) return undefined;
      throw e;
    }
  }

  private lease(name: string, key: string, holder: string, previous: LeaseObject | undefined): LeaseObject {
    const now = microTime(new Date());
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name,
        namespace: this.namespace,
        labels: { [MANAGED_BY]: "paas" },
        annotations: { "paas.dev/lock-key": key },
        ...(previous?.metadata?.resourceVersion
          ? { resourceVersion: previous.metadata.resourceVersion }
          : {}),
      },
      spec: {
        holderIdentity: holder,
        leaseDurationSeconds: this.duration,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: previous ? (previous.spec?.leaseTransitions ?? 0) + 1 : 0,
      },
    };
  }

  private hold(key: string, name: string, me: string, acquired: LeaseObject): Held {
    let current = acquired;
    let released = false;
    let renewing: Promise<void> = Promise.resolve();
    const stepDown = () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      clearTimeout(deadline);
      this.onLost(key);
    };
    // Like client-go's renew deadline: a holder that could not renew for two thirds of the lease
    // duration (API errors, timeouts, not only 409) steps down before others may take over.
    const renewDeadlineMs = (this.duration * 1000 * 2) / 3;
    let deadline = setTimeout(stepDown, renewDeadlineMs);
    deadline.unref();
    const renew = async () => {
      if (released) return;
      try {
        const next: LeaseObject = structuredClone(current);
        // Server-set bookkeeping is not ours to send back.
        if (next.metadata) delete next.metadata.managedFields;
        next.spec = { ...next.spec, renewTime: microTime(new Date()) };
        current = await this.client.replace(next, FIELD_MANAGER);
        if (released) return;
        clearTimeout(deadline);
        deadline = setTimeout(stepDown, renewDeadlineMs);
        deadline.unref();
      } catch (e) {
        // Other errors: the next tick retries, until the renew deadline steps down.
        if (!(e instanceof KubernetesApiError && e.status === 409)) return;
        const fresh = await this.client
          .read<LeaseObject>("coordination.k8s.io/v1", "Lease", this.namespace, name)
          .catch(() => undefined);
        if (fresh?.spec?.holderIdentity === me) current = fresh;
        else stepDown();
      }
    };
    const timer = setInterval(
      () => {
        renewing = renewing.then(renew);
      },
      Math.max(50, (this.duration * 1000) / 3),
    );
    timer.unref();
    return {
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        clearTimeout(deadline);
        await renewing;
        for (let i = 0; i < 3; i++) {
          try {
            await this.client.delete(
              {
                apiVersion: "coordination.k8s.io/v1",
                kind: "Lease",
                metadata: { name, namespace: this.namespace },
              },
              { resourceVersion: current.metadata!.resourceVersion! },
            );
            return;
          } catch (e) {
            if (!(e instanceof KubernetesApiError && e.status === 409)) throw e;
            // Changed since our last write: delete only if it is still ours.
            const fresh = await this.client.read<LeaseObject>(
              "coordination.k8s.io/v1",
              "Lease",
              this.namespace,
              name,
            );
            if (fresh?.spec?.holderIdentity !== me) return;
            current = fresh;
          }
        }
      },
    };
  }
}

/** The in-process lock with the same interface (Docker runtime, single replica). */
export class MemoryLock implements Lock {
  private readonly tails = new Map<string, Promise<void>>();

  async acquire(key: string): Promise<Held> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    return {
      release: async () => {
        release();
        if (this.tails.get(key) === tail) this.tails.delete(key);
      },
    };
  }
}
