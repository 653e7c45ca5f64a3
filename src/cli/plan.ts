// `paas plan [dir] --env <name> [--image <ref@sha256:…>] [--runtime kubernetes|docker]`:
// the dry run. Prints what a deploy would apply and changes nothing. For
// Kubernetes the output is multi-document YAML, ready for `kubectl apply -f -`.
import { stringify } from "yaml";
import { resolveApps } from "../config/load.ts";
import { planDeploy } from "../core/plan.ts";
import { embeddedDefaults, platformSettingsFromEnv } from "../settings/platform.ts";
import { detect, diskSource } from "../detect/index.ts";
import { PaasError } from "../errors.ts";
import { envSlug, type Target } from "../names.ts";
import { readClusters } from "../settings/clusters.ts";
import { planDocker } from "../runtime/docker/plan.ts";
import { enforcedSpec } from "../runtime/docker/egress.ts";
import { planDockerServices } from "../runtime/docker/services-plan.ts";
import { kubernetesSettingsFromEnv, planKubernetes, renderManifests } from "../runtime/kubernetes/index.ts";
import type { KubernetesSettings } from "../runtime/kubernetes/manifests.ts";
import type { DeploySpec } from "../core/spec.ts";
import { appDir, args, envArg, loadConfigAt, UsageError, type CliIO, type Command } from "./io.ts";
import { localRepo } from "./repo.ts";

const OPTIONS = {
  env: { type: "string" },
  image: { type: "string" },
  runtime: { type: "string" },
  app: { type: "string" },
  sha: { type: "string" },
  repo: { type: "string" },
  "repository-id": { type: "string" },
  "base-domain": { type: "string" },
  gateway: { type: "string" },
  "ingress-namespace": { type: "string" },
  cluster: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** The Gateway `k8s/settings.yaml` ships with: what a cluster installed from k8s/ routes through. */
export const DEFAULT_GATEWAY = "gateway-system/public";

/** One line per flag; typed by OPTIONS so a flag without a line does not compile. */
const FLAGS: Record<keyof typeof OPTIONS, string> = {
  env: "environment: production, a name under .paas.yml environments, or preview/pr-<N> (required)",
  image: "image pinned by digest, name@sha256:<64 hex> (default: ghcr.io/<owner>/<repo>@sha256:0…0)",
  runtime: "docker or kubernetes (default: PAAS_RUNTIME, else docker)",
  app: "only this app of a monorepo (a key under .paas.yml apps)",
  sha: "commit to plan, 40 hex (default: the checkout's HEAD)",
  repo: "owner/name (default: the checkout's origin remote)",
  "repository-id": "GitHub repository id, for labels and ownership (default: GITHUB_REPOSITORY_ID, else 0)",
  "base-domain": "domain of generated hostnames (default: PAAS_BASE_DOMAIN, else localhost)",
  gateway: `kubernetes: parent Gateway, namespace/name[/section] (default: PAAS_K8S_GATEWAY, else ${DEFAULT_GATEWAY} as in k8s/settings.yaml)`,
  "ingress-namespace":
    "kubernetes: namespace of the gateway or ingress pods allowed to reach apps (default: PAAS_K8S_INGRESS_NAMESPACE, else the Gateway's)",
  cluster:
    "kubernetes: the objects of one cluster registered in PAAS_CLUSTERS (its PAAS_K8S_* over yours); refused when the environment does not run there",
  help: "print this help",
};

export const PLAN_USAGE = `Usage: paas plan [dir] --env <name> [options]

Prints what a deploy would apply, and changes nothing: for kubernetes the
manifests (multi-document YAML for kubectl apply -f -), for docker the
containers, networks and routes. URLs, limits and refusals follow the App's
settings (PAAS_BASE_DOMAIN, PAAS_URL_SCHEME, PAAS_URL_PORT, PAAS_MAX_*).

Options:
${Object.entries(FLAGS)
  .map(([flag, text]) => `  --${flag.padEnd(18)} ${text}`)
  .join("\n")}`;

type PlanValues = ReturnType<typeof args<typeof OPTIONS>>["values"];

export const planCommand: Command = async (argv, io) => {
  const { values, positionals } = args(argv, OPTIONS);
  if (values.help) {
    io.out(PLAN_USAGE);
    return 0;
  }
  const runtime = values.runtime ?? io.env.PAAS_RUNTIME ?? "docker";
  if (runtime !== "docker" && runtime !== "kubernetes") {
    throw new UsageError(`--runtime must be kubernetes or docker, not "${runtime.slice(0, 40)}"`);
  }
  if (values.cluster !== undefined && runtime !== "kubernetes")
    throw new UsageError(
      "--cluster needs --runtime kubernetes (registered clusters are Kubernetes clusters)",
    );
  const specs = await planSpecs({ values, dir: positionals[0], runtime }, io);
  if (runtime === "kubernetes") {
    const k8s = kubernetesPlanSettings(values, values.cluster ? clusterIO(values.cluster, specs, io) : io);
    io.out(renderManifests(specs.flatMap((s) => planKubernetes(s, k8s))));
    return 0;
  }
  io.out(
    specs
      .map((s) => stringify(dockerDryRun(s, io.env.PAAS_DOCKER_INSTANCE, io.env.PAAS_DOCKER_EGRESS_GUARD)))
      .join("---\n"),
  );
  return 0;
};

/** Chosen by the runtime at apply time: shown as such in the dry run. */
export const DRY_RUN_DEPLOY_ID = "<deploy-id>";
export const DRY_RUN_DEPLOYED_AT = "<deploy time>";

/** What the Docker runtime creates for a spec: its own planner's output (runtime/docker/plan.ts). */
export function dockerDryRun(spec: DeploySpec, instance: string | undefined, guard?: string | undefined) {
  // As the runtime applies it: PAAS_DOCKER_EGRESS_GUARD=off plans egress none on an ordinary network.
  spec = enforcedSpec(spec, guard === "off" ? "off" : undefined);
  return {
    runtime: "docker",
    ...planDocker({ spec, instance, deployId: DRY_RUN_DEPLOY_ID, deployedAt: DRY_RUN_DEPLOYED_AT }),
    // Add-on services: their containers and volumes (passwords are generated at apply time).
    ...(spec.services.length > 0 ? { services: planDockerServices(spec, instance) } : {}),
  };
}

/** The specs `paas plan` prints: the App's planner, with the App's settings, for each app. */
export async function planSpecs(
  o: { values: PlanValues; dir: string | undefined; runtime: "docker" | "kubernetes" },
  io: CliIO,
): Promise<DeploySpec[]> {
  const { values, runtime } = o;
  const environment = envArg(values.env);
  const dir = await appDir(o.dir, io.cwd);
  const loaded = await loadConfigAt(dir, io.cwd);
  const repo = await localRepo(dir, values.repo);
  const sha = values.sha ?? repo.sha;
  if (!sha || !/^[a-f0-9]{40}$/.test(sha)) {
    throw new PaasError(
      "plan_no_sha",
      "no commit to plan: run inside a git checkout with a commit, or pass --sha <40 hex>",
    );
  }
  const image = values.image ?? `ghcr.io/${repo.owner}/${repo.repo}@sha256:${"0".repeat(64)}`;
  if (!values.image) io.err(`note: no --image given; planning with ${image}`);
  // The App's own settings reader: the same URLs (scheme, port) and the same resource ceilings.
  const env: Record<string, string | undefined> = { ...io.env, PAAS_RUNTIME: runtime };
  if (values["base-domain"] !== undefined) env.PAAS_BASE_DOMAIN = values["base-domain"];
  const settings = platformSettingsFromEnv(embeddedDefaults(env));

  let apps = resolveApps(loaded);
  if (values.app !== undefined) apps = apps.filter((a) => a.key === values.app);
  if (apps.length === 0)
    throw new PaasError("plan_no_app", `no app "${values.app}" under apps in ${loaded.file}`);

  const specs: DeploySpec[] = [];
  for (const app of apps) {
    const target: Target = { owner: repo.owner, repo: repo.repo, app: app.key, environment };
    const plan = await detect(diskSource(dir), app.config, { appPath: app.path });
    specs.push(
      planDeploy(
        {
          target,
          repositoryId: Number(values["repository-id"] ?? io.env.GITHUB_REPOSITORY_ID ?? 0),
          config: app.config,
          image,
          sha,
          detectedStart: plan.start,
        },
        settings,
      ),
    );
  }
  return specs;
}

/** `--cluster`: the cluster's own PAAS_K8S_* over the caller's, once the environment is known to run there. */
function clusterIO(name: string, specs: readonly DeploySpec[], io: CliIO): CliIO {
  const read = readClusters({ ...io.env, PAAS_RUNTIME: "kubernetes" });
  if (!read)
    throw new UsageError(
      "--cluster needs PAAS_CLUSTERS, the file registering the clusters (docs/clusters.md)",
    );
  if ("problems" in read) throw new PaasError("clusters_invalid", read.problems.join("; "));
  const entry = read.clusters.find((c) => c.name === name);
  if (!entry)
    throw new UsageError(
      `--cluster ${name.slice(0, 63)} is not registered in ${read.file}; registered: ${read.clusters.map((c) => c.name).join(", ")}`,
    );
  for (const spec of specs) {
    const waves = spec.placement?.waves ?? [];
    const wave = waves.findIndex((w) => w.includes(name));
    if (wave < 0)
      throw new PaasError(
        "plan_cluster",
        `${envSlug(spec.target.environment)} does not run on ${name}; it runs on ${waves.flat().join(", ")}`,
      );
    io.err(`note: cluster ${name}, wave ${wave + 1} of ${waves.length}`);
  }
  return { ...io, env: { ...io.env, ...entry.env } };
}

/** The cluster settings `paas plan --runtime kubernetes` plans with: the flags, PAAS_K8S_*, then defaults. */
export function kubernetesPlanSettings(values: PlanValues, io: CliIO): KubernetesSettings {
  const k8sEnv: Record<string, string | undefined> = {
    ...io.env,
    ...(values.gateway ? { PAAS_K8S_GATEWAY: values.gateway } : {}),
    ...(values["ingress-namespace"] ? { PAAS_K8S_INGRESS_NAMESPACE: values["ingress-namespace"] } : {}),
  };
  if (!k8sEnv.PAAS_K8S_GATEWAY && (k8sEnv.PAAS_K8S_ROUTING ?? "httproute") === "httproute") {
    k8sEnv.PAAS_K8S_GATEWAY = DEFAULT_GATEWAY;
    io.err(`note: no --gateway given; planning with ${DEFAULT_GATEWAY} (k8s/settings.yaml)`);
  }
  return kubernetesSettingsFromEnv(k8sEnv).settings;
}
