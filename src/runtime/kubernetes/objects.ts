// The names, labels and annotations every planned object carries: its own
// module because the runtime, the hostname claims, the lease and the logs find
// objects by them, apart from how any one object is planned.
import { createHash } from "node:crypto";
import { envSlug, githubEnvironment, labelValue, shortHash, type Target } from "../../names.ts";
import type { DeploySpec } from "../types.ts";
import { specConfigDigest } from "../../core/operations.ts";

/** ClusterRole (k8s/rbac.yaml) with the reads diagnosis needs, bound in each environment's namespace. */
export const TENANT_READER_ROLE = "paas-tenant-reader";
/** Name of that RoleBinding in each environment's namespace. */
export const TENANT_READER_BINDING = "paas-diagnosis";

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** A Kubernetes object as sent to the API server (plain JSON). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Metadata of an object in the environment's namespace, with the target's labels. */
export type Meta = (name: string, extra?: Partial<ObjectMeta>) => ObjectMeta;

export const MANAGED_BY = "app.kubernetes.io/managed-by";
/** Name of the workload objects inside an environment's namespace (one app per namespace). */
export const WORKLOAD = "web";
export const COMPONENT_LABEL = "app.kubernetes.io/component";
export const TEMPLATE_LABEL = "paas.dev/template";

/** Labels (selectable, label-safe values) and annotations (exact values) of the platform. */
export const L = {
  repositoryId: "paas.dev/repository-id",
  app: "paas.dev/app",
  environment: "paas.dev/environment",
  pr: "paas.dev/pr",
  sha: "paas.dev/sha",
  /** The App instance that deployed the environment (PAAS_K8S_INSTANCE). */
  instance: "paas.dev/instance",
} as const;
export const A = {
  owner: "paas.dev/owner",
  repo: "paas.dev/repo",
  appKey: "paas.dev/app-key",
  appName: "paas.dev/app-name",
  environment: "paas.dev/environment",
  sha: "paas.dev/sha",
  digest: "paas.dev/digest",
  image: "paas.dev/image",
  hostnames: "paas.dev/hostnames",
  url: "paas.dev/url",
  /** Group-kinds applied last time, so a later apply knows what to prune (like kubectl ApplySets). */
  kinds: "paas.dev/kinds",
  /** Set by the runtime at apply time (the plan has no clock). */
  deployedAt: "paas.dev/deployed-at",
  configHash: "paas.dev/config-hash",
  /** What the serving version runs with besides image and commit (specConfigDigest): a fleet's resume skips a cluster only when all three match. */
  configDigest: "paas.dev/config-digest",
  /** Names (never values) of the secrets the environment's pods get: diagnose() masks their values. */
  secrets: "paas.dev/secrets",
  /**
   * Names (never values) of the secrets whose value in the Secret a hand-off delivered, on the
   * Secret (the record, written with the values) and on the namespace (whether there is one to
   * read): a deploy without a hand-off keeps these values (src/runtime/secret-values.ts).
   */
  deliveredSecrets: "paas.dev/delivered-secrets",
  /** On the namespace: "true" while the environment sleeps (sleep-wake.ts). */
  asleep: "paas.dev/asleep",
  /** On each Deployment of a sleeping environment: its replicas before it slept. */
  replicasBeforeSleep: "paas.dev/replicas-before-sleep",
  /** On a sleeping environment's HTTPRoute: its rules (JSON) before it slept. */
  routeBeforeSleep: "paas.dev/route-before-sleep",
} as const;

export const CONFIGMAP_NAME = `${WORKLOAD}-env`;
export const SECRET_NAME = `${WORKLOAD}-secrets`;
export const PULL_SECRET_NAME = `${WORKLOAD}-registry`;

/** Labels on every object of a target; values are label-safe (exact values go to annotations). */
export function targetLabels(
  spec: Pick<DeploySpec, "target" | "repositoryId" | "appName" | "sha">,
): Record<string, string> {
  const t = spec.target;
  const labels: Record<string, string> = {
    [MANAGED_BY]: "paas",
    "app.kubernetes.io/name": labelValue(spec.appName),
    [L.repositoryId]: String(spec.repositoryId),
    [L.app]: labelValue(spec.appName),
    [L.environment]: labelValue(envSlug(t.environment)),
    [L.sha]: labelValue(spec.sha),
  };
  if (t.environment.kind === "preview") labels[L.pr] = String(t.environment.pr);
  return labels;
}

/**
 * Label marking a namespace as serving a hostname (hostnames are not label-safe,
 * so the key carries a hash): finding who serves a hostname is one labelled list.
 */
export function hostLabel(hostname: string): string {
  return `host.paas.dev/${shortHash(hostname.toLowerCase(), 16)}`;
}

/** Label selector of every environment of one target (stable across deploys: no sha). */
export function targetSelector(t: Target, repositoryId: number, appName: string): string {
  const parts = [
    `${MANAGED_BY}=paas`,
    `${L.repositoryId}=${repositoryId}`,
    `${L.app}=${labelValue(appName)}`,
  ];
  parts.push(`${L.environment}=${labelValue(envSlug(t.environment))}`);
  return parts.join(",");
}

export function targetAnnotations(spec: DeploySpec): Record<string, string> {
  const t = spec.target;
  return {
    [A.owner]: t.owner,
    [A.repo]: t.repo,
    [A.appKey]: t.app,
    [A.appName]: spec.appName,
    [A.environment]: githubEnvironment(t.environment),
    [A.sha]: spec.sha,
    [A.digest]: spec.digest,
    [A.configDigest]: specConfigDigest(spec),
    [A.image]: spec.image,
    [A.hostnames]: spec.hostnames.join(","),
    [A.url]: spec.url,
    [A.secrets]: [...new Set(spec.secrets)].sort().join(","),
  };
}

/** Group/Kind as used in the kinds annotation: "apps/Deployment", "Service" for the core group. */
export function groupKind(o: Pick<KubeObject, "apiVersion" | "kind">): string {
  const slash = o.apiVersion.lastIndexOf("/");
  return slash < 0 ? o.kind : `${o.apiVersion.slice(0, slash)}/${o.kind}`;
}

export function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function hash(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 16);
}
