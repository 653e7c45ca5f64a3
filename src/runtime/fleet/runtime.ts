// One environment on many clusters (the 34-province shape): a Runtime over one
// Kubernetes runtime per registered cluster. apply() runs the spec's placement
// wave by wave (src/core/placement.ts), each wave health-gated on every cluster
// in it before the next starts; a failed wave stops the rollout and leaves the
// later clusters on the version they serve. Each cluster records what it
// serves on its namespace once a rollout is healthy, so a deploy run again
// after an App restart verifies those clusters instead of applying them again
// and resumes at the first wave not done. An unreachable API server is retried
// with backoff and then reported as failed: never silently skipped.
import pLimit from "p-limit";
import { PaasError, messageOf } from "../../errors.ts";
import { namespaceName, type Target } from "../../names.ts";
import type {
  ApplyOptions,
  ClusterRow,
  DeploySpec,
  Diagnosis,
  LogOptions,
  LogStream,
  RolloutResult,
  Runtime,
  RuntimeEnvironment,
  ServingVersion,
} from "../types.ts";
import { specConfigDigest } from "../../core/operations.ts";
import { isUnreachable } from "../kubernetes/client.ts";

/** One cluster's runtime: the Runtime contract plus what it serves now. */
export interface MemberRuntime extends Runtime {
  serving(target: Target): Promise<ServingVersion | undefined>;
}

export interface FleetMember {
  name: string;
  runtime: MemberRuntime;
  /** The operator's link for the cluster (a console, a dashboard). */
  detailsUrl?: string | undefined;
}

export interface FleetOptions {
  /** In the operator's order. */
  members: readonly FleetMember[];
  /** Where a spec without placement goes (previews; `paas deploy`). */
  defaultCluster: string;
  /** Further attempts at a cluster whose API server does not answer. Default 4. */
  unreachableRetries?: number;
  /** First wait before such an attempt; doubles each time. Default 5 s. */
  unreachableDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export class FleetError extends PaasError {
  constructor(message: string) {
    super("fleet", message);
  }
}

export class FleetRuntime implements Runtime {
  readonly kind = "kubernetes" as const;
  readonly #members: Map<string, FleetMember>;
  readonly #default: string;
  readonly #retries: number;
  readonly #delayMs: number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(o: FleetOptions) {
    this.#members = new Map(o.members.map((m) => [m.name, m]));
    if (!this.#members.has(o.defaultCluster))
      throw new FleetError(`the default cluster "${o.defaultCluster}" is not registered`);
    this.#default = o.defaultCluster;
    this.#retries = o.unreachableRetries ?? 4;
    this.#delayMs = o.unreachableDelayMs ?? 5000;
    this.#sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Registered cluster names, in the operator's order. */
  get clusters(): string[] {
    return [...this.#members.keys()];
  }

  /** One cluster's runtime (`paas logs --cluster`, tests). */
  member(name: string): MemberRuntime {
    const m = this.#members.get(name);
    if (!m)
      throw new FleetError(`cluster "${name}" is not registered; registered: ${this.clusters.join(", ")}`);
    return m.runtime;
  }

  async apply(spec: DeploySpec, options: ApplyOptions = {}): Promise<RolloutResult> {
    const started = Date.now();
    const placement = spec.placement ?? { waves: [[this.#default]], concurrency: 1 };
    const waves = restrict(placement.waves, options.clusters);
    for (const name of waves.flat()) this.member(name);
    const rows: ClusterRow[] = waves.flatMap((w, i) =>
      w.map((cluster) => ({
        cluster,
        wave: i + 1,
        state: "pending" as const,
        detailsUrl: this.#members.get(cluster)!.detailsUrl,
      })),
    );
    const emit = () => options.onClusters?.(rows.map((r) => ({ ...r })));
    emit();
    const limit = pLimit(Math.max(1, placement.concurrency));
    const diagnoses = new Map<string, Diagnosis>();
    let replicas = 0;
    const notes: string[] = [];
    for (const [i, wave] of waves.entries()) {
      const results = await Promise.all(
        wave.map((name) =>
          limit(() =>
            this.#deployOne(
              spec,
              options,
              rows.find((r) => r.cluster === name)!,
              emit,
            ),
          ),
        ),
      );
      for (const [j, r] of results.entries()) {
        if (r?.ok) {
          replicas += r.replicas;
          notes.push(...(r.notes ?? []).map((n) => `${wave[j]}: ${n}`));
        } else if (r) diagnoses.set(wave[j]!, r.diagnosis);
      }
      const failed = rows.filter(
        (r) => r.wave === i + 1 && (r.state === "failed" || r.state === "unreachable"),
      );
      if (failed.length > 0) {
        const later = rows.filter((r) => r.wave > i + 1);
        // What they keep serving, for the table (best effort: the rollout has failed already).
        await Promise.all(
          later.map(async (r) => {
            r.state = "skipped";
            r.sha = await this.member(r.cluster)
              .serving(spec.target)
              .then((v) => v?.sha)
              .catch(() => undefined);
          }),
        );
        emit();
        return this.#failure(failed, diagnoses, { wave: i + 1, of: waves.length, rows, started });
      }
    }
    return {
      ok: true,
      url: spec.url,
      replicas,
      durationMs: Date.now() - started,
      clusters: rows,
      ...(notes.length > 0 ? { notes } : {}),
    };
  }

  /** Deploys to one cluster (or verifies it serves the version already); the row says how it went. */
  async #deployOne(
    spec: DeploySpec,
    options: ApplyOptions,
    row: ClusterRow,
    emit: () => void,
  ): Promise<RolloutResult | undefined> {
    const { runtime } = this.#members.get(row.cluster)!;
    const t0 = Date.now();
    const want = specConfigDigest(spec);
    for (let attempt = 0; ; attempt++) {
      try {
        const now = await runtime.serving(spec.target);
        if (now && now.sha === spec.sha && now.digest === spec.digest && now.configDigest === want) {
          Object.assign(row, {
            state: "unchanged",
            sha: spec.sha,
            detail: "served this version already",
            ms: Date.now() - t0,
          });
          emit();
          return undefined;
        }
        Object.assign(row, { state: "deploying", detail: undefined });
        emit();
        const result = await runtime.apply(spec, {
          secrets: options.secrets,
          signal: options.signal,
          onProgress: (phase) => {
            row.detail = phase;
            emit();
          },
        });
        if (result.ok) Object.assign(row, { state: "serving", sha: spec.sha, detail: undefined });
        else
          Object.assign(row, {
            state: "failed",
            sha: now?.sha,
            detail: result.diagnosis.summary || result.reason,
          });
        row.ms = Date.now() - t0;
        emit();
        return result;
      } catch (e) {
        if (isUnreachable(e) && attempt < this.#retries) {
          const wait = this.#delayMs * 2 ** attempt;
          Object.assign(row, {
            state: "unreachable",
            detail: `API server not answering; attempt ${attempt + 2} of ${this.#retries + 1} in ${Math.round(wait / 1000)} s`,
          });
          emit();
          await this.#sleep(wait);
          continue;
        }
        Object.assign(row, {
          state: isUnreachable(e) ? "unreachable" : "failed",
          detail: errorText(e),
          ms: Date.now() - t0,
        });
        emit();
        return undefined;
      }
    }
  }

  #failure(
    failed: ClusterRow[],
    diagnoses: Map<string, Diagnosis>,
    f: { wave: number; of: number; rows: ClusterRow[]; started: number },
  ): RolloutResult {
    const names = failed.map((r) => r.cluster).join(", ");
    const changed = f.rows.filter((r) => r.state === "serving").length;
    const reason =
      `wave ${f.wave} of ${f.of} failed on ${names}: ${failed[0]!.detail ?? failed[0]!.state}` +
      (f.wave < f.of ? "; later waves were not started and keep the version they served" : "");
    const first = diagnoses.get(failed[0]!.cluster);
    const diagnosis: Diagnosis = first
      ? { ...first, summary: `${failed[0]!.cluster}: ${first.summary}` }
      : {
          summary: `${failed[0]!.cluster}: ${failed[0]!.detail ?? failed[0]!.state}`,
          events: [],
          state: undefined,
          exitCode: undefined,
          logs: [],
        };
    const rollbackHint =
      changed > 0
        ? ` ${changed} cluster(s) already run the new version: "Roll back clusters" on the check run (or /paas redeploy) puts them back on the live version.`
        : "";
    return {
      ok: false,
      reason: reason + rollbackHint,
      diagnosis,
      durationMs: Date.now() - f.started,
      clusters: f.rows,
    };
  }

  /** Removes the environment from every cluster; a cluster that cannot be reached fails it (the reconciler retries). */
  async destroy(target: Target): Promise<void> {
    const results = await Promise.allSettled(
      [...this.#members.values()].map((m) => m.runtime.destroy(target)),
    );
    const failed = results.flatMap((r, i) =>
      r.status === "rejected" ? [`${this.clusters[i]}: ${errorText(r.reason)}`] : [],
    );
    if (failed.length > 0)
      throw new FleetError(
        `could not remove ${namespaceName(target)} from ${failed.length} cluster(s): ${failed.join("; ")}`,
      );
  }

  /** The first cluster where the environment runs unhealthy, else the default's view. */
  async diagnose(target: Target): Promise<Diagnosis> {
    const key = namespaceName(target);
    const where = (await this.listByCluster()).flatMap((c) =>
      (c.environments ?? [])
        .filter((e) => namespaceName(e.target) === key)
        .map((env) => ({ cluster: c.cluster, env })),
    );
    const sick = where.find((e) => e.env.healthy === false) ?? where[0];
    const name = sick?.cluster ?? this.#default;
    const d = await this.member(name).diagnose(target);
    return this.#members.size > 1 ? { ...d, summary: `${name}: ${d.summary}` } : d;
  }

  /** Lines from every cluster the environment runs on, each source prefixed with its cluster. */
  async logs(target: Target, options: LogOptions & { cluster?: string | undefined }): Promise<LogStream[]> {
    const names = options.cluster ? [options.cluster] : this.clusters;
    const streams = await Promise.all(
      names.map(async (n) =>
        (await this.member(n).logs(target, options)).map((s) => ({ ...s, source: `${n}/${s.source}` })),
      ),
    );
    return streams.flat();
  }

  /**
   * Every environment once, as the cluster it runs on first (in the operator's order) reports it;
   * an unreachable cluster fails the listing rather than hiding what runs there (the reconciler
   * would otherwise take its environments for gone).
   */
  async list(): Promise<RuntimeEnvironment[]> {
    const all = await Promise.all([...this.#members.values()].map((m) => m.runtime.list()));
    return firstOfEach(all.flat());
  }

  /** Each cluster's environments, or why it could not be read (`paas status` shows what it can). */
  async listByCluster(): Promise<{ cluster: string; environments?: RuntimeEnvironment[]; error?: string }[]> {
    return Promise.all(
      [...this.#members.values()].map(async (m) => {
        try {
          return { cluster: m.name, environments: await m.runtime.list() };
        } catch (e) {
          return { cluster: m.name, error: errorText(e) };
        }
      }),
    );
  }
}

/** Every environment once, as the first cluster (in the operator's order) reports it. */
export function firstOfEach(envs: readonly RuntimeEnvironment[]): RuntimeEnvironment[] {
  const seen = new Map<string, RuntimeEnvironment>();
  for (const env of envs) {
    const key = namespaceName(env.target);
    if (!seen.has(key)) seen.set(key, env);
  }
  return [...seen.values()];
}

/** An error's one line (the member runtimes redact secret values before they throw). */
function errorText(e: unknown): string {
  return messageOf(e).replace(/\s+/g, " ").slice(0, 500);
}

/** `--cluster`: only the named clusters, each in the wave it is placed in; a name outside the placement is refused. */
function restrict(waves: string[][], only: readonly string[] | undefined): string[][] {
  if (!only) return waves;
  const placed = new Set(waves.flat());
  const outside = only.filter((n) => !placed.has(n));
  if (outside.length > 0)
    throw new FleetError(
      `${outside.join(", ")} ${outside.length > 1 ? "are" : "is"} not among this environment's clusters (${[...placed].join(", ")})`,
    );
  // Waves keep their numbers (the table says "wave 3 of 3"); one left empty is passed through.
  return waves.map((w) => w.filter((n) => only.includes(n)));
}
