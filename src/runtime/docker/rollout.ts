// One deploy on the Docker engine: pull, release step, start health-gated
// containers beside the old ones, move the route, then drain the old version.
// Its own module because it is the runtime's one long procedure; each phase is
// a function and a failure at any phase leaves the previous version serving.
import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import {
  conflictingClaim,
  hostnameOwner,
  HostnameTakenError,
  type HostnameClaim,
} from "../../core/ownership.ts";
import { namespaceName } from "../../names.ts";
import { Redactor } from "../../redact.ts";
import { resolveSecretValues, type ResolvedSecrets } from "../secret-values.ts";
import type { ApplyOptions, DeploySpec, Diagnosis, RolloutResult } from "../types.ts";
import { envRouteId, restartPolicy, type DockerContext } from "./context.ts";
import { diagnoseContainer } from "./diagnose.ts";
import { enforcedSpec, ensureHostGuard, ensureNetwork, retireNetwork } from "./egress.ts";
import { messageOf } from "./engine-errors.ts";
import { keptSecretValues } from "./kept-secrets.ts";
import { pullMessage, resolveImage, type ResolvedImage } from "./image-pull.ts";
import {
  generations,
  listManaged,
  pruneImages,
  removeContainers,
  splitList,
  targetOf,
  type Generation,
} from "./managed.ts";
import { emptyDiagnosis, runRelease } from "./one-off.ts";
import {
  containerCreateOptions,
  envNetworks,
  L,
  planDocker,
  type DockerPlan,
  type EngineFacts,
} from "./plan.ts";
import { sleep, waitHealthy, waitRouted } from "./probes.ts";
import { R, roleCreateOptions } from "./processes.ts";
import { routeGeneration } from "./routes.ts";
import { listRoles, removeRoles, startWorkers } from "./workers.ts";

type Fail = (reason: string, diagnosis: Diagnosis) => RolloutResult;

/** One rollout's settled inputs, shared by its phases. */
interface Run {
  ctx: DockerContext;
  spec: DeploySpec;
  plan: DockerPlan;
  facts: EngineFacts;
  deployId: string;
  signal: AbortSignal | undefined;
  progress: (phase: string, detail?: string) => void;
  fail: Fail;
  /** The previous generations, newest first: the route falls back to one of them. */
  old: Generation[];
}

/** Resolves the secrets and services, then rolls out; whatever it reports or throws is masked with them. */
export async function applySpec(
  ctx: DockerContext,
  asked: DeploySpec,
  options: ApplyOptions,
): Promise<RolloutResult> {
  // Egress as enforced here (the operator can turn it off for Docker Desktop, egress.ts).
  const spec = enforcedSpec(asked, ctx.egressGuard);
  await assertHostnamesFree(ctx, spec, namespaceName(spec.target));
  // Services' volumes and credentials first: their URLs reach the app like secrets.
  const services = await ctx.services.prepare(spec);
  // Delivered with the hand-off first, then delivered earlier to this environment (its serving
  // containers' env), the operator's files for the rest (secret-values.ts).
  const delivered = options.secrets;
  const secrets = await resolveSecretValues(spec.target, spec.secrets, {
    delivered,
    kept: await keptSecretValues(ctx, namespaceName(spec.target), {
      repositoryId: spec.repositoryId,
      wanted: spec.secrets.filter((n) => !delivered || !Object.hasOwn(delivered, n)),
    }),
    source: ctx.secrets,
    setting: "PAAS_SECRETS_DIR",
  });
  const secretValues = { ...secrets.values, ...services.env };
  // What a rollout reports or throws can quote what the app printed or what the engine echoed.
  const redactor = new Redactor([...Object.values(secretValues), ...services.passwords]);
  try {
    const result = await rollout(ctx, spec, options, { values: secretValues, delivered: secrets.delivered });
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

async function rollout(
  ctx: DockerContext,
  spec: DeploySpec,
  options: ApplyOptions,
  secrets: ResolvedSecrets,
): Promise<RolloutResult> {
  const started = Date.now();
  const secretValues = secrets.values;
  const progress = options.onProgress ?? (() => {});
  const signal = options.signal;
  const ns = namespaceName(spec.target);
  const fail: Fail = (reason, diagnosis) => ({
    ok: false,
    reason,
    diagnosis,
    durationMs: Date.now() - started,
  });

  progress("pull", spec.image);
  const image = await pull(ctx, spec.image);
  if ("diagnosis" in image) return fail(`image ${spec.image} is not available`, image.diagnosis);
  signal?.throwIfAborted();

  const deployId = randomBytes(4).toString("hex");
  // The pure plan (plan.ts): what `paas plan --runtime docker` prints is what is created here.
  const plan = planDocker({
    spec,
    instance: ctx.instance,
    deployId,
    deployedAt: new Date().toISOString(),
    deliveredSecrets: secrets.delivered,
  });
  // Before anything of the app starts on an internal network: it must not reach the host (egress.ts).
  if (plan.network.internal && ctx.egressGuard === "paas") await ensureHostGuard();
  await ensureNetwork(ctx.docker, plan.network);
  // Health-gated: the app is not started until its services answer.
  const up = await ctx.services.start(spec, { signal, progress });
  if (!up.ok) return fail(up.reason, up.diagnosis);
  await ctx.caddy.ensureServers();
  const old = generations(await listManaged(ctx, { namespace: ns }));
  const oldWorkers = await listRoles(ctx.docker, ctx.instance, { namespace: ns, role: "worker" });
  const facts = { imageId: image.id, imageUser: image.user, secretValues };
  const run: Run = { ctx, spec, plan, facts, deployId, signal, progress, fail, old };

  if (plan.release) {
    // Before any new container starts: a failed migration leaves the old version serving, untouched.
    progress("release", spec.release);
    const options = { timeoutMs: ctx.releaseTimeoutMs, signal };
    const release = roleCreateOptions(containerCreateOptions(plan.release, facts), undefined);
    const failed = await runRelease(ctx.docker, release, options);
    if (failed) return fail(failed.summary, failed);
  }

  const replicas = plan.containers.length;
  progress("start", `${replicas} container(s)`);
  const failed = await startAndRoute(run);
  if (failed) return failed;

  progress("rollout", "draining the previous version");
  const oldContainers = old.flatMap((g) => g.containers);
  await removeRoles(ctx.docker, oldWorkers, ctx.stopTimeout);
  if (oldContainers.length > 0) {
    await sleep(ctx.drainMs, signal).catch(() => undefined);
    await removeContainers(ctx, oldContainers);
  }
  await pruneImages(
    ctx.docker,
    [...oldContainers, ...oldWorkers].map((c) => c.imageId),
  );
  // A change of network.egress moved the environment to its other network: the old one goes now.
  const other = envNetworks(ctx.instance, ns).find((n) => n !== plan.network.name);
  if (other) await retireNetwork(ctx.docker, other);
  const notes = await ctx.services.retire(spec);
  return { ok: true, url: spec.url, replicas, durationMs: Date.now() - started, notes };
}

/** The image, or the diagnosis of why it is not available (a login hint when the registry refused). */
async function pull(ctx: DockerContext, ref: string): Promise<ResolvedImage | { diagnosis: Diagnosis }> {
  try {
    return await resolveImage(ctx.docker, ctx.auth, ref);
  } catch (err) {
    const message = pullMessage(err);
    const login = /unauthorized|authentication required|no basic auth|denied/i.test(message)
      ? "; if the registry needs a login, give the runtime credentials for it (PAAS_REGISTRY_HOST, PAAS_REGISTRY_USERNAME, PAAS_REGISTRY_PASSWORD)"
      : "";
    return {
      diagnosis: {
        summary: `could not pull the image: ${message.slice(0, 200)}${login}`,
        events: [],
        state: "ImagePullFailed",
        exitCode: undefined,
        logs: [messageOf(err).slice(0, 2000)],
      },
    };
  }
}

/**
 * Starts the new web containers and workers, waits until they are healthy and the route
 * serves them; on failure removes them all. Undefined when the new version serves.
 */
async function startAndRoute(run: Run): Promise<RolloutResult | undefined> {
  const { ctx, plan, facts } = run;
  const created: Docker.Container[] = [];
  const cleanup = async () => {
    for (const c of created) await c.remove({ force: true }).catch(() => undefined);
  };
  try {
    for (const planned of plan.containers) {
      const c = await ctx.docker.createContainer(containerCreateOptions(planned, facts));
      created.push(c);
      await c.start();
    }
    // Workers start beside the new web containers, without restarts until the web version is
    // healthy: one the engine cannot start, or that has exited by then, fails the deploy.
    const web = [...created];
    const workers = await startWorkers(ctx.docker, plan.workers ?? [], facts, created);
    if (!workers.ok) {
      await cleanup();
      return run.fail(workers.reason, { ...emptyDiagnosis(workers.reason), state: "StartFailed" });
    }
    const health = await healthGate(run, web, workers.containers);
    const failed = "failed" in health ? health.failed : await route(run, health.upstreams);
    if (failed) await cleanup();
    return failed;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Waits for each web container's health path, then checks no worker exited; each then gets its restart policy. */
async function healthGate(
  run: Run,
  web: Docker.Container[],
  workers: Docker.Container[],
): Promise<{ upstreams: string[] } | { failed: RolloutResult }> {
  const { ctx, spec, facts } = run;
  const redact = Object.values(facts.secretValues);
  run.progress("health", spec.healthcheck.path);
  const upstreams: string[] = [];
  for (const c of web) {
    const health = await waitHealthy(c, spec, run.signal);
    if (!health.ok) {
      const diagnosis = await diagnoseContainer(ctx.docker, c.id, redact, health.reason);
      return { failed: run.fail(diagnosis.summary, diagnosis) };
    }
    upstreams.push(health.upstream);
    await c.update({ RestartPolicy: restartPolicy(ctx) });
  }
  for (const w of workers) {
    const info = await w.inspect();
    if (info.State.Status === "exited" || info.State.Status === "dead") {
      const diagnosis = await diagnoseContainer(ctx.docker, w.id, redact, undefined);
      const reason = `worker ${info.Config.Labels[R.process] ?? ""}: ${diagnosis.summary}`;
      return { failed: run.fail(reason, { ...diagnosis, summary: reason }) };
    }
    await w.update({ RestartPolicy: restartPolicy(ctx) });
  }
  return { upstreams };
}

/** Moves the route to the new version; when it does not answer through Caddy, puts the previous one back. */
async function route(run: Run, upstreams: string[]): Promise<RolloutResult | undefined> {
  const { ctx, spec, plan, deployId } = run;
  run.progress("route", spec.hostnames.join(", "));
  await ctx.caddy.setRoute({ id: plan.route.id, hostnames: plan.route.hostnames, upstreams, deployId });
  const routed = await waitRouted(ctx, spec, deployId, run.signal);
  if (routed.ok) return undefined;
  // Put the previous version back in front before removing the new one.
  const prev = run.old.find((g) => g.containers.every((c) => c.upstream));
  if (prev)
    await routeGeneration(
      ctx,
      prev,
      prev.containers.map((c) => c.upstream!),
    );
  else await ctx.caddy.removeRoute(envRouteId(ctx, namespaceName(spec.target)));
  return run.fail(routed.reason, {
    summary: routed.reason,
    events: [],
    state: "Running",
    exitCode: undefined,
    logs: [],
  });
}

/** Another environment's route already serving one of these hostnames would shadow or be shadowed: refuse. */
async function assertHostnamesFree(ctx: DockerContext, spec: DeploySpec, ns: string): Promise<void> {
  const claims: HostnameClaim[] = [];
  for (const g of generations(await listManaged(ctx, {}))) {
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
