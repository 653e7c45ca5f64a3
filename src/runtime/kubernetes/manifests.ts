// The pure Kubernetes plan: DeploySpec + operator settings → typed objects.
// No I/O and no clock: the same input always gives the same objects, so the
// plan is tested with golden files and printed by `paas plan` as is.
import { createHash } from "node:crypto";
import { durationMs } from "../../config/schema.ts";
import { cpuMillis } from "../../core/plan.ts";
import { PaasError } from "../../errors.ts";
import {
  envSlug,
  githubEnvironment,
  labelValue,
  namespaceName,
  shortHash,
  type Target,
} from "../../names.ts";
import { startArgv } from "../start-command.ts";
import { cronJobs, egressPolicies, extraQuota, releaseJob, workerDeployments } from "./jobs.ts";
import type { Resources } from "../../config/schema.ts";
import type { DeploySpec } from "../types.ts";
import { planServiceObjects, serviceQuota, SERVICES_CLIENT_LABEL, SERVICES_ENV_SECRET } from "./services.ts";

/** Operator settings of the Kubernetes runtime (from PAAS_K8S_* variables). */
export interface KubernetesSettings {
  /** Gateway API HTTPRoute (default) or networking.k8s.io Ingress. */
  routing: "httproute" | "ingress";
  /** Parent Gateway of every HTTPRoute; required when routing is "httproute". */
  gateway?: { name: string; namespace: string; sectionName?: string } | undefined;
  /** IngressClass of every Ingress; the cluster default class when unset. */
  ingressClassName?: string | undefined;
  /** Namespace of the ingress controller or Gateway pods: allowed in by the NetworkPolicy. */
  ingressNamespace: string;
  /**
   * More namespaces whose pods may reach app pods, e.g. envoy-gateway-system,
   * where Envoy Gateway runs its proxies apart from the Gateway. Default: none.
   */
  extraIngressNamespaces?: string[] | undefined;
  /**
   * Source CIDRs allowed in besides those namespaces: load balancers that send
   * straight to pod IPs (AWS NLB in IP mode, GKE container-native). Default: none.
   */
  ingressCIDRs?: string[] | undefined;
  /**
   * Addresses of a node-local DNS cache (NodeLocal DNSCache listens on a
   * link-local IP on every node, outside any namespace). Default 169.254.20.10/32.
   */
  dnsCIDRs?: string[] | undefined;
  /** Server-side apply field manager. Default "paas". */
  fieldManager?: string | undefined;
  /** Extra egress destinations (CIDRs) beyond DNS, e.g. a database subnet. Default: none. */
  egressCIDRs?: string[] | undefined;
  /** Per-container ceiling written into each namespace's LimitRange. */
  maxContainer?: { cpu: string; memory: string } | undefined;
  /** Size of the writable emptyDir at /tmp. Default "256Mi". */
  tmpSize?: string | undefined;
  /** StorageClass of add-on services' volumes. Default: the cluster's default class. */
  storageClass?: string | undefined;
  /**
   * Name of a kubernetes.io/dockerconfigjson Secret (in the secrets namespace)
   * with credentials for private images: copied into every environment and
   * referenced by its pods. Default: none (public images or node credentials).
   */
  imagePullSecret?: string | undefined;
  /**
   * The App's own ServiceAccount. Set (in a cluster): every environment gets a
   * RoleBinding of the ClusterRole paas-tenant-reader to it, so the App reads
   * pods, events and logs only in the namespaces it manages, never cluster-wide.
   */
  appServiceAccount?: { namespace: string; name: string } | undefined;
}

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

export const FIELD_MANAGER = "paas";
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
  /** Names (never values) of the secrets the environment's pods get: diagnose() masks their values. */
  secrets: "paas.dev/secrets",
} as const;

export const CONFIGMAP_NAME = `${WORKLOAD}-env`;
export const SECRET_NAME = `${WORKLOAD}-secrets`;
export const PULL_SECRET_NAME = `${WORKLOAD}-registry`;
const HTTP_PORT_NAME = "http";
const SERVICE_PORT = 80;
// Drain: endpoints are removed while the pod sleeps, then SIGTERM, then this much time to finish.
const PRESTOP_SLEEP_SECONDS = 5;
const TERMINATION_GRACE_SECONDS = 30;
const RUN_AS = 10001;
/** NodeLocal DNSCache's default listen address. */
const NODE_LOCAL_DNS = "169.254.20.10/32";

/** Time an image pull may take on top of a rollout's stall limit before Kubernetes gives up. */
export const PULL_ALLOWANCE_SECONDS = 300;

/**
 * How long a rollout may go without progress (no replica count changing, no
 * pod being created) before it is judged stuck: a new pod's startup time plus
 * a margin for scheduling and probes.
 */
export function stallSeconds(spec: Pick<DeploySpec, "healthcheck">): number {
  const startupSeconds = Math.max(1, Math.round(durationMs(spec.healthcheck.startupTimeout) / 1000));
  return Math.max(startupSeconds, 30) + 30;
}

export class KubernetesPlanError extends PaasError {
  constructor(message: string) {
    super("kubernetes_plan_invalid", message);
  }
}

export function fieldManager(settings: KubernetesSettings): string {
  return settings.fieldManager ?? FIELD_MANAGER;
}

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

function targetAnnotations(spec: DeploySpec): Record<string, string> {
  const t = spec.target;
  return {
    [A.owner]: t.owner,
    [A.repo]: t.repo,
    [A.appKey]: t.app,
    [A.appName]: spec.appName,
    [A.environment]: githubEnvironment(t.environment),
    [A.sha]: spec.sha,
    [A.digest]: spec.digest,
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

export interface PlanOptions {
  /**
   * Secret values for spec.secrets. Given: the plan includes the Secret and a
   * checksum of its values in the pod template (a change rolls the pods).
   * Omitted (dry run): the Secret is left out and only referenced.
   */
  secretValues?: Record<string, string> | undefined;
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
  const meta = (name: string, extra: Partial<ObjectMeta> = {}): ObjectMeta => ({
    name,
    namespace: ns,
    labels: { ...labels, ...extra.labels },
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
  });
  const selector = { [COMPONENT_LABEL]: WORKLOAD };
  const autoscale = spec.scale.autoscale;
  const fixedReplicas = spec.scale.replicas ?? 1;
  const most = autoscale ? autoscale.max : fixedReplicas;
  const fewest = autoscale ? autoscale.min : fixedReplicas;
  const surge = Math.max(1, Math.ceil(most * 0.25));

  const objects: KubeObject[] = [];
  const namespace: KubeObject = {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name: ns,
      labels: {
        ...labels,
        ...Object.fromEntries(spec.hostnames.map((h) => [hostLabel(h), "true"])),
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
      },
      annotations: targetAnnotations(spec),
    },
  };
  objects.push(namespace);

  const perPod = spec.resources;
  // Terminating pods (preStop drain) still count against the quota: leave room for a
  // whole rolling update, so a quick redeploy is never refused for lack of quota.
  const web = 2 * most + surge;
  // Workers, the release step and scheduled runs have their own share (jobs.ts).
  const extra = extraQuota(spec);
  const pods = web + extra.pods;
  // Add-on services: one pod and one claim each, on top of the app's.
  const sq = serviceQuota(spec);
  objects.push({
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: meta("paas-quota"),
    spec: {
      hard: {
        pods: String(pods + sq.pods),
        "requests.cpu": `${cpuMillis(perPod.requests.cpu) * web + extra.requestsCpuMillis + sq.cpuRequestMillis}m`,
        "limits.cpu": `${cpuMillis(perPod.limits.cpu) * web + extra.limitsCpuMillis + sq.cpuLimitMillis}m`,
        "requests.memory": String(
          bytes(perPod.requests.memory) * BigInt(web) + extra.requestsMemory + sq.memoryRequestBytes,
        ),
        "limits.memory": String(
          bytes(perPod.limits.memory) * BigInt(web) + extra.limitsMemory + sq.memoryLimitBytes,
        ),
        // Tenants get no NodePorts, LoadBalancers or volumes of their own (only their services').
        "services.nodeports": "0",
        "services.loadbalancers": "0",
        persistentvolumeclaims: String(sq.claims),
        ...(sq.claims > 0 ? { "requests.storage": `${sq.storageMi}Mi` } : {}),
      },
    },
  });
  objects.push({
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: meta("paas-limits"),
    spec: {
      limits: [
        {
          type: "Container",
          default: { cpu: perPod.limits.cpu, memory: perPod.limits.memory },
          defaultRequest: { cpu: perPod.requests.cpu, memory: perPod.requests.memory },
          ...(settings.maxContainer ? { max: { ...settings.maxContainer } } : {}),
        },
      ],
    },
  });
  objects.push({
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: meta(WORKLOAD),
    automountServiceAccountToken: false,
  });
  objects.push(...networkPolicies(spec, settings, meta, selector), ...egressPolicies(spec, meta));
  if (settings.appServiceAccount) {
    objects.push({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta(TENANT_READER_BINDING),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: TENANT_READER_ROLE },
      subjects: [{ kind: "ServiceAccount", ...settings.appServiceAccount }],
    });
  }

  objects.push({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(CONFIGMAP_NAME),
    data: sortedRecord(spec.env),
  });
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
    objects.push({ apiVersion: "v1", kind: "Secret", metadata: meta(SECRET_NAME), type: "Opaque", data });
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

  objects.push({
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(WORKLOAD),
    spec: {
      type: "ClusterIP",
      selector,
      ports: [{ name: HTTP_PORT_NAME, port: SERVICE_PORT, targetPort: HTTP_PORT_NAME, protocol: "TCP" }],
    },
  });

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
    deployment(spec, settings, meta, selector, {
      labels,
      autoscaled: !!autoscale,
      replicas: fixedReplicas,
      surge,
      secretHash,
    }),
  );

  objects.push(...workerDeployments(spec, settings, meta, extraObjects));
  objects.push(...cronJobs(spec, settings, meta, extraObjects));
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
  if (spec.production && fewest > 1) {
    objects.push({
      apiVersion: "policy/v1",
      kind: "PodDisruptionBudget",
      metadata: meta(WORKLOAD),
      spec: { maxUnavailable: 1, selector: { matchLabels: selector } },
    });
  }
  if (spec.hostnames.length > 0) objects.push(route(spec, settings, meta));

  // What this plan contains, for the next apply's prune.
  // (Not the release Job: it is run once, and its runtime removes the old ones: release.ts.)
  namespace.metadata.annotations![A.kinds] = [...new Set(objects.filter((o) => o !== release).map(groupKind))]
    .sort()
    .join(",");
  return objects;
}

type Meta = (name: string, extra?: Partial<ObjectMeta>) => ObjectMeta;

function deployment(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  selector: Record<string, string>,
  o: {
    labels: Record<string, string>;
    autoscaled: boolean;
    replicas: number;
    surge: number;
    secretHash: string | undefined;
  },
): KubeObject {
  const podSpec = appPodSpec(spec, settings, {
    name: WORKLOAD,
    command: spec.command,
    resources: spec.resources,
    serving: true,
  });
  if (spec.production) {
    podSpec.topologySpreadConstraints = ["kubernetes.io/hostname", "topology.kubernetes.io/zone"].map(
      (key) => ({
        maxSkew: 1,
        topologyKey: key,
        whenUnsatisfiable: "ScheduleAnyway",
        labelSelector: { matchLabels: selector },
      }),
    );
  }
  const templateAnnotations = podAnnotations(spec, o.secretHash);
  // A hash of the pod template tells this revision's pods from the previous ones (diagnosis).
  const templateHash = hash(JSON.stringify({ podSpec, templateAnnotations }));
  const templateLabels = {
    ...o.labels,
    ...selector,
    [TEMPLATE_LABEL]: templateHash,
    // The NetworkPolicies of add-on services let exactly the pods with this label reach them.
    ...(spec.services.length > 0 ? { [SERVICES_CLIENT_LABEL]: "true" } : {}),
  };

  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(WORKLOAD),
    spec: {
      // No replicas field when an autoscaler owns it: every apply would reset the scale.
      ...(o.autoscaled ? {} : { replicas: o.replicas }),
      selector: { matchLabels: selector },
      revisionHistoryLimit: 3,
      // Kubernetes' own deadline is the backstop: it counts an image pull as no progress, so it
      // allows a slow pull on top of the stall the runtime itself judges (stallSeconds).
      progressDeadlineSeconds: stallSeconds(spec) + PULL_ALLOWANCE_SECONDS,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: o.surge } },
      template: {
        metadata: { labels: templateLabels, annotations: templateAnnotations },
        spec: podSpec,
      },
    },
  };
}

/** What differs between the app's pods: the web process serves (port, probes, drain); workers and jobs do not. */
export interface PodOptions {
  /** Container name: "web", the worker's name, "release" or the job's. */
  name: string;
  command: string | undefined;
  resources: Resources;
  serving: boolean;
}

/**
 * The pod spec every process of the app shares: the image, env and secrets,
 * restricted Pod Security, read-only root with a writable /tmp, no token.
 */
export function appPodSpec(
  spec: DeploySpec,
  settings: KubernetesSettings,
  o: PodOptions,
): Record<string, unknown> {
  const hc = spec.healthcheck;
  const periodSeconds = Math.max(1, Math.round(durationMs(hc.interval) / 1000));
  const timeoutSeconds = Math.max(1, Math.round(durationMs(hc.timeout) / 1000));
  const startupSeconds = Math.max(1, Math.round(durationMs(hc.startupTimeout) / 1000));
  const probe = (failureThreshold: number) => ({
    httpGet: { path: hc.path, port: HTTP_PORT_NAME, scheme: "HTTP" },
    periodSeconds,
    timeoutSeconds,
    failureThreshold,
  });
  const envFrom: unknown[] = [{ configMapRef: { name: CONFIGMAP_NAME } }];
  if (spec.secrets.length > 0) envFrom.push({ secretRef: { name: SECRET_NAME } });
  if (spec.services.length > 0) envFrom.push({ secretRef: { name: SERVICES_ENV_SECRET } });

  const r = o.resources;
  const container: Record<string, unknown> = {
    name: o.name,
    image: spec.image,
    imagePullPolicy: "IfNotPresent",
    ...(o.command ? { command: startArgv(o.command) } : {}),
    ...(o.serving ? { ports: [{ name: HTTP_PORT_NAME, containerPort: spec.port, protocol: "TCP" }] } : {}),
    envFrom,
    resources: {
      requests: { cpu: r.requests.cpu, memory: r.requests.memory },
      limits: { cpu: r.limits.cpu, memory: r.limits.memory },
    },
    // Liveness and readiness wait for the startup probe, which allows startupTimeout.
    ...(o.serving
      ? {
          startupProbe: probe(Math.max(1, Math.ceil(startupSeconds / periodSeconds))),
          readinessProbe: probe(3),
          livenessProbe: probe(6),
          lifecycle: { preStop: { sleep: { seconds: PRESTOP_SLEEP_SECONDS } } },
        }
      : {}),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUN_AS,
      runAsGroup: RUN_AS,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
  };

  const podSpec: Record<string, unknown> = {
    serviceAccountName: WORKLOAD,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS + (o.serving ? PRESTOP_SLEEP_SECONDS : 0),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUN_AS,
      runAsGroup: RUN_AS,
      fsGroup: RUN_AS,
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: [container],
    volumes: [{ name: "tmp", emptyDir: { sizeLimit: settings.tmpSize ?? "256Mi" } }],
  };
  if (settings.imagePullSecret) podSpec.imagePullSecrets = [{ name: PULL_SECRET_NAME }];
  return podSpec;
}

/** Pod template annotations: a change of env or secret values rolls the pods. */
export function podAnnotations(spec: DeploySpec, secretHash: string | undefined): Record<string, string> {
  const annotations: Record<string, string> = {
    [A.configHash]: hash(JSON.stringify(sortedRecord(spec.env))),
  };
  if (secretHash) annotations["paas.dev/secret-hash"] = secretHash;
  return annotations;
}

function networkPolicies(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  selector: Record<string, string>,
): KubeObject[] {
  const np = (name: string, body: Record<string, unknown>): KubeObject => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(name),
    spec: body,
  });
  const out = [
    np("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    np("allow-ingress-controller", {
      podSelector: { matchLabels: selector },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            {
              namespaceSelector: {
                matchExpressions: [
                  {
                    key: "kubernetes.io/metadata.name",
                    operator: "In",
                    values: [
                      ...new Set([settings.ingressNamespace, ...(settings.extraIngressNamespaces ?? [])]),
                    ],
                  },
                ],
              },
            },
            ...(settings.ingressCIDRs ?? []).map((cidr) => ({ ipBlock: { cidr } })),
          ],
          ports: [{ protocol: "TCP", port: spec.port }],
        },
      ],
    }),
    np("allow-dns", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [
        {
          // Cluster DNS in any namespace (CoreDNS in kube-system, OpenShift's in openshift-dns on
          // 5353) and a node-local cache, which runs on the host network at a link-local address.
          to: [
            { namespaceSelector: {}, podSelector: {} },
            ...(settings.dnsCIDRs ?? [NODE_LOCAL_DNS]).map((cidr) => ({ ipBlock: { cidr } })),
          ],
          ports: [53, 5353].flatMap((port) => [
            { protocol: "UDP", port },
            { protocol: "TCP", port },
          ]),
        },
      ],
    }),
  ];
  if (settings.egressCIDRs && settings.egressCIDRs.length > 0) {
    out.push(
      np("allow-egress", {
        // Every pod of the app: workers and jobs reach the same databases and APIs as the web process.
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [{ to: settings.egressCIDRs.map((cidr) => ({ ipBlock: { cidr } })) }],
      }),
    );
  }
  return out;
}

function route(spec: DeploySpec, settings: KubernetesSettings, meta: Meta): KubeObject {
  if (settings.routing === "httproute") {
    const gw = settings.gateway!;
    // Core HTTPRoute only (no filters): every Gateway implementation serves it.
    return {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: meta(WORKLOAD),
      spec: {
        parentRefs: [
          {
            group: "gateway.networking.k8s.io",
            kind: "Gateway",
            name: gw.name,
            namespace: gw.namespace,
            ...(gw.sectionName ? { sectionName: gw.sectionName } : {}),
          },
        ],
        hostnames: [...spec.hostnames],
        rules: [
          {
            matches: [{ path: { type: "PathPrefix", value: "/" } }],
            backendRefs: [{ group: "", kind: "Service", name: WORKLOAD, port: SERVICE_PORT, weight: 1 }],
          },
        ],
      },
    };
  }
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: meta(WORKLOAD),
    spec: {
      ...(settings.ingressClassName ? { ingressClassName: settings.ingressClassName } : {}),
      rules: spec.hostnames.map((host) => ({
        host,
        http: {
          paths: [
            {
              path: "/",
              pathType: "Prefix",
              backend: { service: { name: WORKLOAD, port: { number: SERVICE_PORT } } },
            },
          ],
        },
      })),
    },
  };
}

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const QUANTITY = /^\d+(?:\.\d+)?(?:m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;

/** Refuses settings the API server would reject, with the variable to fix. */
export function validateSettings(s: KubernetesSettings): void {
  const bad = (msg: string) => {
    throw new KubernetesPlanError(msg);
  };
  if (s.routing !== "httproute" && s.routing !== "ingress")
    bad(`PAAS_K8S_ROUTING must be "httproute" or "ingress"`);
  if (s.routing === "httproute") {
    if (!s.gateway)
      bad(
        "PAAS_K8S_GATEWAY must name the parent Gateway (namespace/name[/section]) when routing is httproute",
      );
    else if (
      !DNS_LABEL.test(s.gateway.namespace) ||
      !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(s.gateway.name)
    ) {
      bad("PAAS_K8S_GATEWAY must be namespace/name[/section] with lowercase Kubernetes names");
    }
  }
  if (!DNS_LABEL.test(s.ingressNamespace))
    bad("PAAS_K8S_INGRESS_NAMESPACE must be the namespace of the ingress controller");
  if (
    s.ingressClassName !== undefined &&
    !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(s.ingressClassName)
  ) {
    bad("PAAS_K8S_INGRESS_CLASS must be a lowercase IngressClass name");
  }
  for (const ns of s.extraIngressNamespaces ?? []) {
    if (!DNS_LABEL.test(ns)) bad(`PAAS_K8S_INGRESS_NAMESPACE: "${ns.slice(0, 60)}" is not a namespace name`);
  }
  const cidrs: [string, string[] | undefined][] = [
    ["PAAS_K8S_EGRESS_CIDRS", s.egressCIDRs],
    ["PAAS_K8S_INGRESS_CIDRS", s.ingressCIDRs],
    ["PAAS_K8S_DNS_CIDRS", s.dnsCIDRs],
  ];
  for (const [variable, list] of cidrs) {
    for (const c of list ?? []) {
      if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(c))
        bad(`${variable}: "${c.slice(0, 60)}" is not a CIDR such as 10.0.0.0/8`);
    }
  }
  if (s.maxContainer && (!QUANTITY.test(s.maxContainer.cpu) || !QUANTITY.test(s.maxContainer.memory))) {
    bad("PAAS_K8S_MAX_CONTAINER must be <cpu>,<memory> such as 4,8Gi");
  }
  if (s.imagePullSecret !== undefined && !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(s.imagePullSecret)) {
    bad("PAAS_K8S_IMAGE_PULL_SECRET must be the name of a Secret");
  }
  if (
    s.appServiceAccount &&
    (!DNS_LABEL.test(s.appServiceAccount.namespace) || !DNS_LABEL.test(s.appServiceAccount.name))
  ) {
    bad("PAAS_K8S_SERVICE_ACCOUNT must be namespace/name of the App's ServiceAccount");
  }
  if (s.tmpSize !== undefined && !QUANTITY.test(s.tmpSize))
    bad("PAAS_K8S_TMP_SIZE must be a quantity such as 256Mi");
  if (s.storageClass !== undefined && !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(s.storageClass))
    bad("PAAS_K8S_STORAGE_CLASS must be the name of a StorageClass");
}

const UNIT: Record<string, bigint> = {
  "": 1n,
  k: 10n ** 3n,
  M: 10n ** 6n,
  G: 10n ** 9n,
  T: 10n ** 12n,
  Ki: 2n ** 10n,
  Mi: 2n ** 20n,
  Gi: 2n ** 30n,
  Ti: 2n ** 40n,
};

/** Memory quantity in bytes, exact (a quota of many large pods exceeds 2^53). */
function bytes(q: string): bigint {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new KubernetesPlanError(`memory amount "${q.slice(0, 40)}" is not a quantity such as 512Mi`);
  return BigInt(m[1]!) * UNIT[m[2] ?? ""]!;
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function hash(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 16);
}
