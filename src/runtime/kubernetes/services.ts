// Add-on services in a cluster, pure: per service a StatefulSet with a
// PersistentVolumeClaim template, a headless-free ClusterIP Service, a Secret
// with its password, and the NetworkPolicies that allow exactly app → service
// on the service's port. The quota grows by what the services need
// (serviceQuota). The credentials are generated once by the runtime and kept
// in the Secret, which the prune never deletes (it deletes Secrets by fixed
// names only), and the StatefulSet retains its claims when it is deleted: a
// service dropped from .paas.yml keeps its data until `remove: confirm`.
import {
  serviceContainerEnv,
  serviceDataPath,
  serviceReadyCommand,
  serviceUrl,
  type ServiceSpec,
} from "../../core/services.ts";
import type { DeploySpec } from "../../core/spec.ts";
import type { KubeObject, ObjectMeta } from "./objects.ts";

/** Label the app's pods carry when the environment has services: the NetworkPolicies let exactly them in. */
export const SERVICES_CLIENT_LABEL = "paas.dev/services-client";
/** Secret with the connection URLs the app's pods get (envFrom). */
export const SERVICES_ENV_SECRET = "web-services";
/** Key of the password in each service's Secret. */
export const PASSWORD_KEY = "password";
/** The official images' user. */
const SERVICE_UID = 999;
const SERVICE_RESOURCES = {
  requests: { cpu: "100m", memory: "128Mi" },
  limits: { cpu: "1", memory: "512Mi" },
};

export function serviceSecretName(service: string): string {
  return `svc-${service}`;
}
/** The claim a StatefulSet's template makes for its one pod: `<template>-<set>-0`. */
export function serviceClaimName(service: string): string {
  return `data-${service}-0`;
}
const component = (service: string) => `service-${service}`;

type Meta = (name: string, extra?: Partial<ObjectMeta>) => ObjectMeta;

/**
 * The objects of the spec's services. `passwords` (by service name) are the runtime's:
 * given, the Secrets are included; omitted (a dry run), they are only referenced.
 */
export function planServiceObjects(
  spec: DeploySpec,
  meta: Meta,
  options: {
    componentLabel: string;
    passwords?: Record<string, string> | undefined;
    storageClass?: string | undefined;
    /** The environment's image pull Secret (PAAS_K8S_IMAGE_PULL_SECRET): a mirror of the service images may need it. */
    pullSecret?: string | undefined;
  },
): KubeObject[] {
  const out: KubeObject[] = [];
  const passwords = options.passwords;
  if (spec.services.length === 0) return out;
  if (passwords) {
    const urls = Object.assign(
      {},
      ...spec.services.map((s) => serviceUrl(s, s.name, passwords[s.name]!)),
    ) as Record<string, string>;
    out.push(secret(meta(SERVICES_ENV_SECRET), urls));
  }
  for (const s of spec.services) {
    if (passwords) out.push(secret(meta(serviceSecretName(s.name)), { [PASSWORD_KEY]: passwords[s.name]! }));
    const selector = { [options.componentLabel]: component(s.name) };
    out.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(s.name),
      spec: {
        type: "ClusterIP",
        selector,
        ports: [{ name: s.type, port: s.port, targetPort: s.port, protocol: "TCP" }],
      },
    });
    out.push(statefulSet(s, meta, selector, options));
  }
  out.push(...servicePolicies(spec.services, meta, options.componentLabel));
  return out;
}

function secret(metadata: ObjectMeta, values: Record<string, string>): KubeObject {
  const data = Object.fromEntries(
    Object.entries(values)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")]),
  );
  return { apiVersion: "v1", kind: "Secret", metadata, type: "Opaque", data };
}

/** The service's one container: the image as its official entry point expects, restricted like the app's. */
function serviceContainer(s: ServiceSpec): {
  container: Record<string, unknown>;
  writable: { name: string; mountPath: string }[];
} {
  const fromSecret = { secretKeyRef: { name: serviceSecretName(s.name), key: PASSWORD_KEY } };
  // The password is never in the spec: env from the Secret; the plain variables the image reads beside it.
  const plain = Object.entries(serviceContainerEnv(s, "")).filter(([k]) => k !== "POSTGRES_PASSWORD");
  const env =
    s.type === "postgres"
      ? [
          { name: "POSTGRES_PASSWORD", valueFrom: fromSecret },
          ...plain.map(([name, value]) => ({ name, value })),
        ]
      : [
          { name: "REDIS_PASSWORD", valueFrom: fromSecret },
          // redis-cli (the readiness probe) reads it from here, not from its argv.
          { name: "REDISCLI_AUTH", valueFrom: fromSecret },
        ];
  const writable =
    s.type === "postgres"
      ? [
          { name: "run", mountPath: "/var/run/postgresql" },
          { name: "tmp", mountPath: "/tmp" },
        ]
      : [{ name: "tmp", mountPath: "/tmp" }];
  const container = {
    name: s.type,
    image: s.image,
    imagePullPolicy: "IfNotPresent",
    // Kubernetes expands $(REDIS_PASSWORD) from env: the password stays out of the object.
    ...(s.type === "redis"
      ? {
          args: [
            "redis-server",
            "--requirepass",
            "$(REDIS_PASSWORD)",
            "--appendonly",
            "yes",
            "--port",
            String(s.port),
          ],
        }
      : {}),
    env,
    ports: [{ name: s.type, containerPort: s.port, protocol: "TCP" }],
    readinessProbe: { exec: { command: serviceReadyCommand(s) }, periodSeconds: 5, timeoutSeconds: 5 },
    resources: SERVICE_RESOURCES,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SERVICE_UID,
      runAsGroup: SERVICE_UID,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
    volumeMounts: [{ name: "data", mountPath: serviceDataPath(s) }, ...writable],
  };
  return { container, writable };
}

function statefulSet(
  s: ServiceSpec,
  meta: Meta,
  selector: Record<string, string>,
  o: { storageClass?: string | undefined; pullSecret?: string | undefined },
): KubeObject {
  const { container, writable } = serviceContainer(s);
  // Without the commit: a deploy of the app must not restart its database, and claim templates cannot change.
  const stable = Object.fromEntries(
    Object.entries(meta(s.name).labels ?? {}).filter(([k]) => k !== "paas.dev/sha"),
  );
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: meta(s.name),
    spec: {
      replicas: 1,
      serviceName: s.name,
      selector: { matchLabels: selector },
      // Deleting the set (the service left .paas.yml) keeps the data; `remove: confirm` deletes the claim.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
      template: {
        metadata: { labels: { ...stable, ...selector } },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: SERVICE_UID,
            runAsGroup: SERVICE_UID,
            fsGroup: SERVICE_UID,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [container],
          volumes: writable.map((w) => ({ name: w.name, emptyDir: { sizeLimit: "64Mi" } })),
          ...(o.pullSecret ? { imagePullSecrets: [{ name: o.pullSecret }] } : {}),
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data", labels: stable },
          spec: {
            accessModes: ["ReadWriteOnce"],
            ...(o.storageClass ? { storageClassName: o.storageClass } : {}),
            resources: { requests: { storage: s.storage } },
          },
        },
      ],
    },
  };
}

/** Ingress to each service from the app's pods only, on its port; egress from the app's pods to exactly those. */
function servicePolicies(services: ServiceSpec[], meta: Meta, componentLabel: string): KubeObject[] {
  const clients = { matchLabels: { [SERVICES_CLIENT_LABEL]: "true" } };
  const np = (name: string, spec: Record<string, unknown>): KubeObject => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(name),
    spec,
  });
  return [
    np("allow-app-to-services", {
      podSelector: clients,
      policyTypes: ["Egress"],
      egress: services.map((s) => ({
        to: [{ podSelector: { matchLabels: { [componentLabel]: component(s.name) } } }],
        ports: [{ protocol: "TCP", port: s.port }],
      })),
    }),
    ...services.map((s) =>
      np(`allow-app-to-${s.name}`, {
        podSelector: { matchLabels: { [componentLabel]: component(s.name) } },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: clients }], ports: [{ protocol: "TCP", port: s.port }] }],
      }),
    ),
  ];
}

/** What the services add to the environment's ResourceQuota: one pod each, their resources, their claims. */
export function serviceQuota(spec: Pick<DeploySpec, "services">) {
  const n = spec.services.length;
  const unit: Record<string, number> = { Mi: 1, Gi: 1024, Ti: 1024 * 1024 };
  return {
    pods: n,
    cpuRequestMillis: 100 * n,
    cpuLimitMillis: 1000 * n,
    memoryRequestBytes: 128n * 2n ** 20n * BigInt(n),
    memoryLimitBytes: 512n * 2n ** 20n * BigInt(n),
    claims: n,
    storageMi: spec.services.reduce((sum, s) => {
      const m = /^(\d+)(Mi|Gi|Ti)$/.exec(s.storage)!;
      return sum + Number(m[1]) * unit[m[2]!]!;
    }, 0),
  };
}
