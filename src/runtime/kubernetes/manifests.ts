// The pure Kubernetes plan: DeploySpec + operator settings → typed objects.
// No I/O and no clock: the same input always gives the same objects, so the
// plan is tested with golden files and printed by `paas plan` as is.
// This module puts the objects in apply order; each kind of object is planned
// by its own module (objects, settings, quota, traffic, pods, jobs, services).
import { namespaceName } from "../../names.ts";
import { formatDeliveredNames } from "../secret-values.ts";
import type { DeploySpec } from "../types.ts";
import { cronJobs, egressPolicies, releaseJob, workerDeployments } from "./jobs.ts";
import {
  A,
  L,
  COMPONENT_LABEL,
  CONFIGMAP_NAME,
  groupKind,
  hash,
  hostLabel,
  PULL_SECRET_NAME,
  SECRET_NAME,
  sortedRecord,
  targetAnnotations,
  targetLabels,
  TENANT_READER_BINDING,
  TENANT_READER_ROLE,
  WORKLOAD,
  type KubeObject,
  type Meta,
  type ObjectMeta,
} from "./objects.ts";
import { deployment } from "./pods.ts";
import { quotaObjects } from "./quota.ts";
import { planServiceObjects } from "./services.ts";
import { KubernetesPlanError, validateSettings, type KubernetesSettings } from "./settings.ts";
import { networkPolicies, route, webService } from "./traffic.ts";

// What callers (the runtime's index, `paas plan`, tests) import with the plan.
export { KubernetesPlanError, type KubernetesSettings } from "./settings.ts";
export type { KubeObject } from "./objects.ts";

export interface PlanOptions {
  /**
   * Secret values for spec.secrets. Given: the plan includes the Secret and a
   * checksum of its values in the pod template (a change rolls the pods).
   * Omitted (dry run): the Secret is left out and only referenced.
   */
  secretValues?: Record<string, string> | undefined;
  /**
   * Names among secretValues that a hand-off delivered (now or earlier): recorded on the Secret
   * and the namespace, so the next deploy without a hand-off keeps their values.
   */
  deliveredSecrets?: readonly string[] | undefined;
  /** Base64 `.dockerconfigjson` of settings.imagePullSecret; omitted in a dry run (then only referenced). */
  pullSecret?: string | undefined;
  /** Add-on services' passwords by name (generated once by the runtime); omitted in a dry run. */
  servicePasswords?: Record<string, string> | undefined;
  /** Names this deploy's release Job (run.release); default from the commit and image (a dry run). */
  releaseId?: string | undefined;
}

/** The objects one deploy applies, in apply order. */
export function planKubernetes(
  spec: DeploySpec,
  settings: KubernetesSettings,
  options: PlanOptions = {},
): KubeObject[] {
  validateSettings(settings);
  const ns = namespaceName(spec.target);
  const labels = targetLabels(spec);
  const meta: Meta = (name: string, extra: Partial<ObjectMeta> = {}): ObjectMeta => ({
    name,
    namespace: ns,
    labels: { ...labels, ...extra.labels },
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
  });
  const selector = { [COMPONENT_LABEL]: WORKLOAD };
  const autoscale = spec.scale.autoscale;
  const fixedReplicas = spec.scale.replicas ?? 1;
  const most = autoscale ? autoscale.max : fixedReplicas;
  const surge = Math.max(1, Math.ceil(most * 0.25));

  const namespace = namespaceObject(spec, settings, ns, labels);
  const objects: KubeObject[] = [namespace];
  objects.push(...quotaObjects(spec, settings, meta, { most, surge }));
  objects.push(...accessObjects(spec, settings, meta, selector));
  const config = configObjects(spec, settings, meta, options);
  objects.push(...config.objects, webService(meta, selector));

  const secretHash = config.secretHash;
  const extraObjects = { labels, secretHash };
  // The release Job runs before the web Deployment changes (the runtime takes it out of the apply).
  const release = releaseJob(spec, settings, meta, {
    ...extraObjects,
    id: options.releaseId ?? hash(`${spec.sha}/${spec.digest}`).slice(0, 10),
  });
  if (release) objects.push(release);
  objects.push(
    ...planServiceObjects(spec, meta, {
      componentLabel: COMPONENT_LABEL,
      passwords: options.servicePasswords,
      storageClass: settings.storageClass,
      pullSecret: settings.imagePullSecret ? PULL_SECRET_NAME : undefined,
    }),
  );
  objects.push(
    deployment(spec, settings, meta, {
      selector,
      labels,
      autoscaled: !!autoscale,
      replicas: fixedReplicas,
      surge,
      secretHash,
    }),
  );

  objects.push(...workerDeployments(spec, settings, meta, extraObjects));
  objects.push(...cronJobs(spec, settings, meta, extraObjects));
  objects.push(...scalingObjects(spec, meta, selector));
  if (spec.hostnames.length > 0) objects.push(route(spec, settings, meta));

  const delivered = deliveredRecord(spec, options);
  if (delivered) namespace.metadata.annotations![A.deliveredSecrets] = delivered;
  // What this plan contains, for the next apply's prune.
  // (Not the release Job: it is run once, and its runtime removes the old ones: release.ts.)
  namespace.metadata.annotations![A.kinds] = [...new Set(objects.filter((o) => o !== release).map(groupKind))]
    .sort()
    .join(",");
  return objects;
}

/** The environment's namespace: the target's labels, one label per hostname served, Pod Security "restricted". */
function namespaceObject(
  spec: DeploySpec,
  settings: KubernetesSettings,
  ns: string,
  labels: Record<string, string>,
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: ns,
      labels: {
        ...labels,
        ...Object.fromEntries(spec.hostnames.map((h) => [hostLabel(h), "true"])),
        ...(settings.instance ? { [L.instance]: settings.instance } : {}),
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
      },
      annotations: targetAnnotations(spec),
    },
  };
}

/** The pods' identity (no token), the NetworkPolicies, and the App's read access for diagnosis. */
function accessObjects(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  selector: Record<string, string>,
): KubeObject[] {
  const objects: KubeObject[] = [
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: meta(WORKLOAD),
      automountServiceAccountToken: false,
    },
    ...networkPolicies(spec, settings, meta, selector),
    ...egressPolicies(spec, meta),
  ];
  if (settings.appServiceAccount) {
    objects.push({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta(TENANT_READER_BINDING),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: TENANT_READER_ROLE },
      subjects: [{ kind: "ServiceAccount", ...settings.appServiceAccount }],
    });
  }
  return objects;
}

/**
 * The env ConfigMap, the Secret of the app's secrets and the image pull Secret;
 * with the checksum of the secret values that rolls the pods when they change.
 */
function configObjects(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  options: PlanOptions,
): { objects: KubeObject[]; secretHash: string | undefined } {
  const objects: KubeObject[] = [
    { apiVersion: "v1", kind: "ConfigMap", metadata: meta(CONFIGMAP_NAME), data: sortedRecord(spec.env) },
  ];
  let secretHash: string | undefined;
  if (spec.secrets.length > 0 && options.secretValues) {
    const values = options.secretValues;
    // Own keys only, and data built by fromEntries: a secret named __proto__ or toString is kept as is.
    const missing = spec.secrets.filter((n) => !Object.hasOwn(values, n));
    if (missing.length > 0) throw new KubernetesPlanError(`no value for secret ${missing.join(", ")}`);
    const data: Record<string, string> = Object.fromEntries(
      [...new Set(spec.secrets)].sort().map((n) => [n, Buffer.from(values[n]!, "utf8").toString("base64")]),
    );
    secretHash = hash(JSON.stringify(data));
    const delivered = deliveredRecord(spec, options);
    const metadata = meta(SECRET_NAME, delivered ? { annotations: { [A.deliveredSecrets]: delivered } } : {});
    objects.push({ apiVersion: "v1", kind: "Secret", metadata, type: "Opaque", data });
  }
  if (settings.imagePullSecret && options.pullSecret) {
    objects.push({
      apiVersion: "v1",
      kind: "Secret",
      metadata: meta(PULL_SECRET_NAME),
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": options.pullSecret },
    });
  }
  return { objects, secretHash };
}

/** The delivered names the Secret holds, as recorded; undefined when none (then no annotation). */
function deliveredRecord(spec: DeploySpec, options: PlanOptions): string | undefined {
  if (!options.secretValues) return undefined;
  const named = new Set(spec.secrets);
  const names = (options.deliveredSecrets ?? []).filter((n) => named.has(n));
  return names.length > 0 ? formatDeliveredNames(names) : undefined;
}

/** The autoscaler, and in production a disruption budget when more than one pod serves. */
function scalingObjects(spec: DeploySpec, meta: Meta, selector: Record<string, string>): KubeObject[] {
  const objects: KubeObject[] = [];
  const autoscale = spec.scale.autoscale;
  if (autoscale) {
    objects.push({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: meta(WORKLOAD),
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: WORKLOAD },
        minReplicas: autoscale.min,
        maxReplicas: autoscale.max,
        metrics: [
          {
            type: "Resource",
            resource: {
              name: "cpu",
              target: { type: "Utilization", averageUtilization: autoscale.targetCPU },
            },
          },
        ],
      },
    });
  }
  const fewest = autoscale ? autoscale.min : (spec.scale.replicas ?? 1);
  if (spec.production && fewest > 1) {
    objects.push({
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: meta(WORKLOAD),
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    });
  }
  return objects;
}
