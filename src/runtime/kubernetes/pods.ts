// The app's pods: the pod spec every process shares (web, workers, the release
// step, scheduled jobs) and the web Deployment. Its own module because jobs.ts
// builds its workloads from the same pod spec.
import { durationMs } from "../../config/schema.ts";
import type { Resources } from "../../config/schema.ts";
import { startArgv } from "../start-command.ts";
import type { DeploySpec } from "../types.ts";
import {
  A,
  CONFIGMAP_NAME,
  hash,
  PULL_SECRET_NAME,
  SECRET_NAME,
  sortedRecord,
  TEMPLATE_LABEL,
  WORKLOAD,
  type KubeObject,
  type Meta,
} from "./objects.ts";
import { SERVICES_CLIENT_LABEL, SERVICES_ENV_SECRET } from "./services.ts";
import type { KubernetesSettings } from "./settings.ts";

export const HTTP_PORT_NAME = "http";
// Drain: endpoints are removed while the pod sleeps, then SIGTERM, then this much time to finish.
const PRESTOP_SLEEP_SECONDS = 5;
const TERMINATION_GRACE_SECONDS = 30;
const RUN_AS = 10001;

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

/** The web Deployment: rolling updates that never go below the serving count. */
export function deployment(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  o: {
    selector: Record<string, string>;
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
        labelSelector: { matchLabels: o.selector },
      }),
    );
  }
  const templateAnnotations = podAnnotations(spec, o.secretHash);
  // A hash of the pod template tells this revision's pods from the previous ones (diagnosis).
  const templateHash = hash(JSON.stringify({ podSpec, templateAnnotations }));
  const templateLabels = {
    ...o.labels,
    ...o.selector,
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
      selector: { matchLabels: o.selector },
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
