// k8s/ installed on the real cluster (test/support/cluster.ts) the way an
// operator does it: `kubectl apply -k` (server-side) of an overlay that sets the
// image, built here from the repository's Dockerfile and pushed to a local
// registry, and the cluster's Gateway. Then, as the App's own ServiceAccount
// (impersonation), the real API server evaluates the RBAC and the admission
// policy (ValidatingAdmissionPolicy, CEL): allowed and refused cases.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import Docker from "dockerode";
import { parse, stringify } from "yaml";
import { namespaceName, type Target } from "../../src/names.ts";
import { KubernetesApiError } from "../../src/runtime/kubernetes/client.ts";
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import { buildAppImage, buildNodeImage, ROOT } from "../support/app-image.ts";
import {
  dockerConfigJson,
  pushLocalImage,
  pushTestImage,
  testCluster,
  type TestCluster,
} from "../support/cluster.ts";
import { startRegistry, type TestRegistry } from "../support/registry.ts";
import { specFor } from "../runtime/kubernetes/specs.ts";

const run = randomBytes(3).toString("hex");
const APP_SA = "system:serviceaccount:paas-system:paas";
const FIELD_MANAGER = "paas-e2e";

describe(
  "k8s/ on a real cluster: the App from its own image, RBAC and admission as its ServiceAccount",
  { timeout: 900_000 },
  () => {
    let cluster: TestCluster;
    let registry: TestRegistry;
    let dir: string;
    let runtime: KubernetesRuntime | undefined;
    const docker = new Docker();
    const appTag = `paas-e2e/app-${run}:build`;
    const namespaces: string[] = [];
    const targets: Target[] = [];

    const kubectl = async (args: string[], o: { as?: string; input?: string } = {}) => {
      const argv = ["--kubeconfig", cluster.kubeconfigPath, ...(o.as ? [`--as=${o.as}`] : []), ...args];
      return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(
          cluster.kubectl,
          argv,
          { maxBuffer: 16 << 20, timeout: 300_000 },
          (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
        child.stdin?.end(o.input ?? "");
      });
    };
    const ok = async (args: string[], o: { as?: string; input?: string } = {}) => {
      const r = await kubectl(args, o);
      assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    /** Server-side apply of one object as `as` (the App's ServiceAccount by default). */
    const applyAs = (obj: object, as = APP_SA) =>
      kubectl(["apply", "--server-side", `--field-manager=${FIELD_MANAGER}`, "-f", "-"], {
        as,
        input: JSON.stringify(obj),
      });
    const ns = (name: string, labels: Record<string, string>) => ({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name, labels },
    });
    const managed = { "app.kubernetes.io/managed-by": "paas" };
    const restricted = { ...managed, "pod-security.kubernetes.io/enforce": "restricted" };

    before(async () => {
      cluster = await testCluster();
      registry = await startRegistry();
      await buildNodeImage();
      await buildAppImage(appTag);
      const appImage = await pushLocalImage(
        docker,
        registry,
        (await docker.getImage(appTag).inspect()).Id,
        `paas-e2e/app-${run}`,
        "e2e",
      );
      // The overlay an operator would write: k8s/ as its base, image, cluster settings, credentials.
      dir = await mkdtemp(join(tmpdir(), "paas-k8s-overlay-"));
      await cp(join(ROOT, "k8s"), join(dir, "base"), { recursive: true });
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
      const sealingPem = generateKeyPairSync("x25519")
        .privateKey.export({ type: "pkcs8", format: "pem" })
        .toString();
      const [imageName, digest] = appImage.split("@");
      const base = parse(await readFile(join(dir, "base", "kustomization.yaml"), "utf8")) as {
        images: { name: string; newName: string }[];
      };
      const baseImage = base.images.find((i) => i.name === "paas")!.newName;
      await writeFile(
        join(dir, "secrets.yaml"),
        [
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "paas", namespace: "paas-system" },
            stringData: {
              "app-id": "12345",
              "webhook-secret": `whs-${run}`,
              "private-key.pem": pem,
              // The install requires it (k8s/deployment.yaml): one sealing key for every replica.
              "sealing-key.pem": sealingPem,
            },
          },
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "registry", namespace: "paas-system" },
            type: "kubernetes.io/dockerconfigjson",
            stringData: { ".dockerconfigjson": dockerConfigJson(registry) },
          },
          {
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: "registry", namespace: "paas-secrets" },
            type: "kubernetes.io/dockerconfigjson",
            stringData: { ".dockerconfigjson": dockerConfigJson(registry) },
          },
        ]
          .map((o) => stringify(o))
          .join("---\n"),
      );
      await writeFile(
        join(dir, "kustomization.yaml"),
        stringify({
          apiVersion: "kustomize.config.k8s.io/v1beta1",
          kind: "Kustomization",
          resources: ["base", "secrets.yaml"],
          // The base already maps "paas" to the published image: an overlay renames that one.
          images: [{ name: baseImage, newName: imageName, digest }],
          patches: [
            {
              target: { kind: "Deployment", name: "paas" },
              patch: stringify([
                { op: "replace", path: "/spec/replicas", value: 1 },
                { op: "add", path: "/spec/template/spec/imagePullSecrets", value: [{ name: "registry" }] },
              ]),
            },
            {
              target: { kind: "ConfigMap", name: "paas-settings" },
              patch: stringify([
                { op: "replace", path: "/data/PAAS_DNS_PROVIDER", value: "none" },
                {
                  op: "replace",
                  path: "/data/PAAS_K8S_GATEWAY",
                  value: `${cluster.gateway.namespace}/${cluster.gateway.name}`,
                },
                { op: "replace", path: "/data/PAAS_K8S_INGRESS_NAMESPACE", value: cluster.ingressNamespace },
                { op: "add", path: "/data/PAAS_K8S_IMAGE_PULL_SECRET", value: "registry" },
              ]),
            },
          ],
        }),
      );
    });

    after(async () => {
      if (runtime) {
        await Promise.all(targets.map((t) => runtime!.destroy(t).catch(() => undefined)));
        await runtime.close();
      }
      for (const n of namespaces)
        await kubectl(["delete", "namespace", n, "--wait=false", "--ignore-not-found"]);
      // The install itself stays (a second run applies over it: server-side apply is idempotent),
      // but the App stops: it must not reconcile the environments other tests create.
      if (cluster) await kubectl(["-n", "paas-system", "scale", "deployment/paas", "--replicas=0"]);
      await registry?.stop();
      await docker
        .getImage(appTag)
        .remove({ force: true })
        .catch(() => undefined);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test("kubectl apply -k installs the App; it runs from its own image and reads its key", async () => {
      const out = await ok([
        "apply",
        "-k",
        dir,
        "--server-side",
        "--force-conflicts",
        `--field-manager=${FIELD_MANAGER}`,
      ]);
      assert.match(
        out,
        /validatingadmissionpolicy\.admissionregistration\.k8s\.io\/paas-managed-namespaces-only serverside-applied/,
      );
      assert.match(out, /clusterrole\.rbac\.authorization\.k8s\.io\/paas-tenant-reader serverside-applied/);
      // The App exits at start when PRIVATE_KEY_PATH cannot be read (EACCES without fsGroup): ready means read.
      const status = await kubectl([
        "-n",
        "paas-system",
        "rollout",
        "status",
        "deployment/paas",
        "--timeout=240s",
      ]);
      const logs = await kubectl(["-n", "paas-system", "logs", "deployment/paas", "--tail=40"]);
      assert.equal(status.code, 0, `${status.stdout}${status.stderr}\n${logs.stdout}${logs.stderr}`);
      assert.doesNotMatch(logs.stdout, /PRIVATE_KEY_PATH cannot be read/);
      const mode = await ok([
        "-n",
        "paas-system",
        "exec",
        "deployment/paas",
        "--",
        "node",
        "-e",
        "const s=require('fs').statSync(process.env.PRIVATE_KEY_PATH);require('fs').readFileSync(process.env.PRIVATE_KEY_PATH);console.log((s.mode&0o777).toString(8),s.gid,process.getuid())",
      ]);
      assert.equal(mode.trim(), "440 10001 10001", "group-readable by fsGroup, read by uid 10001");
    });

    test("as the App: a namespace labelled managed-by=paas and restricted is allowed", async () => {
      const name = `paas-e2e-adm-${run}`;
      namespaces.push(name);
      const r = await applyAs(ns(name, restricted));
      assert.equal(r.code, 0, r.stderr);
    });

    test("as the App: a sleeping environment's ReferenceGrant is allowed in paas-system, refused elsewhere", async () => {
      const grant = (namespace: string) => ({
        apiVersion: "gateway.networking.k8s.io/v1beta1",
        kind: "ReferenceGrant",
        metadata: { name: `paas-wake-e2e-${run}`, namespace, labels: managed },
        spec: {
          from: [{ group: "gateway.networking.k8s.io", kind: "HTTPRoute", namespace: `paas-e2e-adm-${run}` }],
          to: [{ group: "", kind: "Service", name: "paas" }],
        },
      });
      const allowed = await applyAs(grant("paas-system"));
      assert.equal(allowed.code, 0, allowed.stderr);
      const removed = await kubectl(
        ["-n", "paas-system", "delete", "referencegrant", `paas-wake-e2e-${run}`],
        {
          as: APP_SA,
        },
      );
      assert.equal(removed.code, 0, removed.stderr);
      const refused = await applyAs(grant("kube-system"));
      assert.notEqual(refused.code, 0, "wrote a ReferenceGrant in kube-system");
    });

    test("as the App: a privileged namespace, a relabel to privileged, or dropping the label are refused", async () => {
      const priv = `paas-e2e-priv-${run}`;
      namespaces.push(priv);
      const created = await applyAs(
        ns(priv, { ...managed, "pod-security.kubernetes.io/enforce": "privileged" }),
      );
      assert.notEqual(created.code, 0, "a privileged namespace was created");
      assert.match(
        created.stderr,
        /paas-managed-namespaces-only.*pod-security\.kubernetes\.io\/enforce=restricted/s,
      );
      assert.match((await kubectl(["get", "namespace", priv])).stderr, /NotFound/);

      const name = `paas-e2e-relabel-${run}`;
      namespaces.push(name);
      assert.equal((await applyAs(ns(name, restricted))).code, 0);
      const relabel = await kubectl(
        ["label", "namespace", name, "pod-security.kubernetes.io/enforce=privileged", "--overwrite"],
        { as: APP_SA },
      );
      assert.notEqual(relabel.code, 0, "relabelled to privileged");
      assert.match(relabel.stderr, /pod-security\.kubernetes\.io\/enforce=restricted/);
      const dropped = await kubectl(["label", "namespace", name, "pod-security.kubernetes.io/enforce-"], {
        as: APP_SA,
      });
      assert.notEqual(dropped.code, 0, "dropped the enforce label");
      const old = await kubectl(
        ["label", "namespace", name, "pod-security.kubernetes.io/enforce-version=v1.20", "--overwrite"],
        { as: APP_SA },
      );
      assert.notEqual(old.code, 0, "pinned an old, weaker restricted version");
      const labels = JSON.parse(
        await ok(["get", "namespace", name, "-o", "jsonpath={.metadata.labels}"]),
      ) as Record<string, string>;
      assert.equal(labels["pod-security.kubernetes.io/enforce"], "restricted");
      assert.equal(labels["pod-security.kubernetes.io/enforce-version"], undefined);
      // The same relabel by a cluster admin is not the App's business: the policy only binds the App.
      assert.equal((await kubectl(["label", "namespace", name, "paas.dev/note=admin"])).code, 0);
    });

    test("as the App: namespaces it does not manage, kube-system's objects and other role bindings are refused", async () => {
      const unmanaged = await applyAs(
        ns(`paas-e2e-other-${run}`, { "pod-security.kubernetes.io/enforce": "restricted" }),
      );
      assert.notEqual(unmanaged.code, 0);
      assert.match(unmanaged.stderr, /only manage namespaces labelled app\.kubernetes\.io\/managed-by=paas/);
      const cm = await applyAs({
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: `paas-e2e-${run}`, namespace: "kube-system" },
      });
      assert.notEqual(cm.code, 0);
      assert.match(cm.stderr, /only write inside namespaces labelled/);
      const name = `paas-e2e-adm-${run}`;
      const adminBinding = await applyAs({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "admin", namespace: name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
        subjects: [{ kind: "ServiceAccount", namespace: "paas-system", name: "paas" }],
      });
      assert.notEqual(adminBinding.code, 0, "bound cluster-admin");
      const otherSubject = await applyAs({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "reader", namespace: name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "paas-tenant-reader" },
        subjects: [{ kind: "ServiceAccount", namespace: name, name: "default" }],
      });
      assert.notEqual(otherSubject.code, 0, "bound the reader role to another account");
      assert.match(otherSubject.stderr, /only bind the ClusterRole paas-tenant-reader, to itself/);
    });

    test("as the App: kube-system's pods and logs are forbidden; a tenant's are readable where it bound the reader role", async () => {
      for (const args of [
        ["-n", "kube-system", "get", "pods"],
        ["-n", "kube-system", "get", "events"],
        ["get", "pods", "--all-namespaces"],
      ]) {
        const r = await kubectl(args, { as: APP_SA });
        assert.notEqual(r.code, 0, `allowed: kubectl ${args.join(" ")}`);
        assert.match(r.stderr, /forbidden/i);
      }
      // The runtime as the App: deploys (binding the reader role in the environment's namespace) and diagnoses.
      const kc = new KubeConfig();
      kc.loadFromFile(cluster.kubeconfigPath);
      const user = kc.getCurrentUser()!;
      const impersonating = new KubeConfig();
      impersonating.loadFromOptions({
        clusters: kc.clusters,
        users: [{ ...user, impersonateUser: APP_SA }],
        contexts: [{ name: "app", cluster: kc.getCurrentCluster()!.name, user: user.name }],
        currentContext: "app",
      });
      runtime = new KubernetesRuntime({
        kubeConfig: impersonating,
        settings: {
          routing: "httproute",
          gateway: cluster.gateway,
          ingressNamespace: cluster.ingressNamespace,
          imagePullSecret: "registry",
          appServiceAccount: { namespace: "paas-system", name: "paas" },
        },
        secretsNamespace: "paas-secrets",
        pollIntervalMs: 1000,
        crashRestarts: 1,
      });
      await assert.rejects(runtime.client.list("v1", "Pod", "kube-system", undefined), (e: unknown) => {
        assert.ok(e instanceof KubernetesApiError && e.status === 403, String(e));
        return true;
      });
      const image = await pushTestImage(docker, registry, `paas-e2e/crash-${run}`, "crash");
      const spec = specFor("run: { port: 8080, healthcheck: { startupTimeout: 60s } }", "preview/pr-7", {
        image,
        repo: `paas-e2e-app-${run}`,
      });
      targets.push(spec.target);
      const result = await runtime.apply(spec);
      assert.equal(result.ok, false);
      if (result.ok) return;
      // Logs and events of the tenant's pod, read through the RoleBinding the plan made.
      assert.ok(
        result.diagnosis.logs.some((l) => l.includes("cannot connect to the database")),
        result.diagnosis.logs.join("\n"),
      );
      assert.ok(result.diagnosis.events.length > 0);
      const binding = await ok([
        "-n",
        namespaceName(spec.target),
        "get",
        "rolebinding",
        "paas-diagnosis",
        "-o",
        "jsonpath={.roleRef.name}",
      ]);
      assert.equal(binding, "paas-tenant-reader");
    });
  },
);
