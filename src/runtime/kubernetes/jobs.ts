// The Kubernetes plan of what runs besides the routed web Deployment: one
// Deployment per worker (no Service, no route), one CronJob per scheduled job,
// the release step's Job (planned per deploy, run by the runtime before the
// web Deployment changes: release.ts), their share of the quota, and the
// NetworkPolicies for egress (the app's own services; internet when asked).
// Pure, like manifests.ts; they share the web process's pod spec (pods.ts).
import { createHash } from "node:crypto";
import { cpuMillis, memoryBytes } from "../../core/plan.ts";
import {
  CRON_HISTORY,
  CRON_STARTING_DEADLINE_SECONDS,
  RELEASE_TIMEOUT_SECONDS,
  type DeploySpec,
} from "../../core/spec.ts";
import type { Resources } from "../../config/schema.ts";
import { COMPONENT_LABEL, TEMPLATE_LABEL, type KubeObject, type ObjectMeta } from "./objects.ts";
import { appPodSpec, podAnnotations } from "./pods.ts";
import type { KubernetesSettings } from "./settings.ts";
import { SERVICES_CLIENT_LABEL } from "./services.ts";

/** "worker", "cron" or "release" on the pods of each; the web pods have none. */
export const ROLE_LABEL = "paas.dev/role";
/** How long a worker pod must run before it counts as available (a worker has no health check). */
export const WORKER_MIN_READY_SECONDS = 10;
/** Name prefix of the release step's Jobs, one per deploy. */
export const RELEASE_PREFIX = "release-";

type Meta = (name: string, extra?: Partial<ObjectMeta>) => ObjectMeta;

export interface ExtraObjects {
  labels: Record<string, string>;
  secretHash: string | undefined;
}

/** A worker's Deployment: its own replicas and resources, the app's pod otherwise. */
export function workerDeployments(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  o: ExtraObjects,
): KubeObject[] {
  return (spec.processes ?? []).map((p) => {
    const selector = { [COMPONENT_LABEL]: p.name };
    const podSpec = appPodSpec(spec, settings, {
      name: p.name,
      command: p.command,
      resources: p.resources,
      serving: false,
    });
    const annotations = podAnnotations(spec, o.secretHash);
    // Tells this revision's pods from the previous ones (the rollout's crash check: release.ts).
    const template = createHash("sha256")
      .update(JSON.stringify({ podSpec, annotations }))
      .digest("hex")
      .slice(0, 16);
    return {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(p.name, { labels: { [ROLE_LABEL]: "worker" } }),
      spec: {
        replicas: p.replicas,
        // No readiness probe: a pod counts as started once it kept running this long, so a
        // command that exits at once fails the rollout instead of passing for a moment.
        minReadySeconds: WORKER_MIN_READY_SECONDS,
        selector: { matchLabels: selector },
        revisionHistoryLimit: 3,
        // A worker has no readiness to wait for: one new pod at a time, none stopped before it runs.
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: {
            labels: {
              ...o.labels,
              ...selector,
              [ROLE_LABEL]: "worker",
              [TEMPLATE_LABEL]: template,
              ...servicesClient(spec),
            },
            annotations,
          },
          spec: podSpec,
        },
      },
    };
  });
}

/** A scheduled job's CronJob: UTC, never two runs at once, a short history. */
export function cronJobs(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  o: ExtraObjects,
): KubeObject[] {
  return (spec.cron ?? []).map((job) => {
    const component = `cron-${job.name}`;
    return {
      apiVersion: "batch/v1",
      kind: "CronJob",
      metadata: meta(component, { labels: { [ROLE_LABEL]: "cron" } }),
      spec: {
        schedule: job.schedule,
        timeZone: "Etc/UTC",
        concurrencyPolicy: "Forbid",
        startingDeadlineSeconds: CRON_STARTING_DEADLINE_SECONDS,
        successfulJobsHistoryLimit: CRON_HISTORY,
        failedJobsHistoryLimit: CRON_HISTORY,
        jobTemplate: {
          metadata: { labels: { ...o.labels, [COMPONENT_LABEL]: component, [ROLE_LABEL]: "cron" } },
          spec: oneOffJobSpec(spec, settings, o, { component, name: "job", command: job.command }),
        },
      },
    };
  });
}

/** The release step's Job of one deploy (`id` tells deploys apart: a redeploy of one commit releases again). */
export function releaseJob(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  o: ExtraObjects & { id: string },
): KubeObject | undefined {
  if (!spec.release) return undefined;
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: meta(`${RELEASE_PREFIX}${o.id}`, { labels: { [ROLE_LABEL]: "release" } }),
    spec: {
      ...oneOffJobSpec(spec, settings, o, { component: "release", name: "release", command: spec.release }),
      activeDeadlineSeconds: RELEASE_TIMEOUT_SECONDS,
    },
  };
}

function oneOffJobSpec(
  spec: DeploySpec,
  settings: KubernetesSettings,
  o: ExtraObjects,
  job: { component: string; name: string; command: string },
): Record<string, unknown> {
  return {
    // One attempt: a migration that failed is reported, not retried behind the user's back.
    backoffLimit: 0,
    template: {
      metadata: {
        labels: { ...o.labels, [COMPONENT_LABEL]: job.component, ...servicesClient(spec) },
        annotations: podAnnotations(spec, o.secretHash),
      },
      spec: {
        ...appPodSpec(spec, settings, {
          name: job.name,
          command: job.command,
          resources: spec.resources,
          serving: false,
        }),
        restartPolicy: "Never",
      },
    },
  };
}

/** Workers and jobs reach the add-on services as the web pods do (the services' NetworkPolicies). */
function servicesClient(spec: DeploySpec): Record<string, string> {
  return spec.services.length > 0 ? { [SERVICES_CLIENT_LABEL]: "true" } : {};
}

/** Pods and amounts the quota must allow on top of the web process's. */
export interface QuotaShare {
  pods: number;
  requestsCpuMillis: number;
  limitsCpuMillis: number;
  requestsMemory: bigint;
  limitsMemory: bigint;
}

/** Workers during a rolling update (old and new), one release pod, one pod per scheduled job. */
export function extraQuota(spec: DeploySpec): QuotaShare {
  const share: QuotaShare = {
    pods: 0,
    requestsCpuMillis: 0,
    limitsCpuMillis: 0,
    requestsMemory: 0n,
    limitsMemory: 0n,
  };
  const add = (pods: number, r: Resources) => {
    share.pods += pods;
    share.requestsCpuMillis += pods * cpuMillis(r.requests.cpu);
    share.limitsCpuMillis += pods * cpuMillis(r.limits.cpu);
    share.requestsMemory += BigInt(pods) * BigInt(memoryBytes(r.requests.memory));
    share.limitsMemory += BigInt(pods) * BigInt(memoryBytes(r.limits.memory));
  };
  for (const p of spec.processes ?? []) if (p.replicas > 0) add(2 * p.replicas + 1, p.resources);
  if (spec.release) add(1, spec.resources);
  add((spec.cron ?? []).length, spec.resources);
  return share;
}

/** Addresses that are not the internet: private, shared (CGNAT, often pod networks), link-local (cloud metadata), loopback. */
const NOT_INTERNET_V4 = [
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.168.0.0/16",
];
const NOT_INTERNET_V6 = ["::1/128", "fc00::/7", "fe80::/10"];

/**
 * Egress beyond DNS and the app's own services (services.ts): the public internet when
 * network.egress is internet, for every pod of the environment.
 */
export function egressPolicies(spec: DeploySpec, meta: Meta): KubeObject[] {
  const np = (name: string, body: Record<string, unknown>): KubeObject => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(name),
    spec: body,
  });
  const out: KubeObject[] = [];
  if (spec.egress === "internet") {
    out.push(
      np("allow-internet", {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          {
            to: [
              { ipBlock: { cidr: "0.0.0.0/0", except: NOT_INTERNET_V4 } },
              { ipBlock: { cidr: "::/0", except: NOT_INTERNET_V6 } },
            ],
          },
        ],
      }),
    );
  }
  return out;
}
