// PAAS_CLUSTERS: the operator's registry of clusters, read from a YAML file;
// every mistake named with the file, the key and the fix, all at once.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { readClusters } from "../../src/settings/clusters.ts";
import { readPlatformSettings } from "../../src/settings/platform.ts";

const dir = mkdtempSync(join(tmpdir(), "paas-clusters-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const GOOD = `clusters:
  - name: aceh
    kubeconfig: aceh.yaml
    labels: { region: sumatra }
    detailsUrl: https://console.example.com/aceh
  - name: bali
    kubeconfig: /etc/paas/bali.yaml
    context: paas
    env: { PAAS_K8S_GATEWAY: envoy-gateway-system/public }
  - name: home
    inCluster: true
groups:
  west: [aceh]
default: bali
unreachable: { retries: 2, delay: 1s }
`;

describe("PAAS_CLUSTERS", () => {
  it("reads clusters, groups, the default and the retry policy; relative kubeconfigs are the file's neighbours", () => {
    const r = readClusters({ PAAS_CLUSTERS: file("good.yaml", GOOD) });
    assert.ok(r && "registry" in r);
    assert.deepEqual(r.registry, {
      clusters: [
        { name: "aceh", labels: { region: "sumatra" } },
        { name: "bali", labels: {} },
        { name: "home", labels: {} },
      ],
      groups: { west: ["aceh"] },
      defaultCluster: "bali",
    });
    assert.equal(r.clusters[0]!.kubeconfig, join(dir, "aceh.yaml"));
    assert.equal(r.clusters[1]!.kubeconfig, "/etc/paas/bali.yaml");
    assert.deepEqual(r.clusters[1]!.env, { PAAS_K8S_GATEWAY: "envoy-gateway-system/public" });
    assert.deepEqual(r.unreachable, { retries: 2, delayMs: 1000 });
  });

  it("is optional: unset means one runtime", () => {
    assert.equal(readClusters({}), undefined);
    assert.equal(readClusters({ PAAS_CLUSTERS: "  " }), undefined);
  });

  it("names every problem with its key", () => {
    const shape = readClusters({
      PAAS_CLUSTERS: file(
        "bad.yaml",
        `clusters:
  - { name: aceh, kubeconfig: a.yaml }
  - { name: Bali, kubeconfig: b.yaml, inCluster: true }
  - { name: riau, kubeconfig: r.yaml, env: { KUBECONFIG: /x } }
`,
      ),
    });
    assert.ok(shape && "problems" in shape);
    const text = shape.problems.join("\n");
    for (const want of [
      /clusters\.1\.name must be a lowercase DNS label/,
      /clusters\.1 needs exactly one of kubeconfig \(a file path\) or inCluster: true/,
      /clusters\.2\.env only PAAS_K8S_\* variables may differ per cluster/,
    ])
      assert.match(text, want);
    assert.ok(shape.problems.every((p) => p.startsWith(`PAAS_CLUSTERS ${join(dir, "bad.yaml")}: `)));
    // Names that refer to each other are checked once every entry is well-formed.
    const refs = readClusters({
      PAAS_CLUSTERS: file(
        "refs.yaml",
        `clusters:
  - { name: aceh, kubeconfig: a.yaml }
  - { name: aceh, inCluster: true }
groups:
  aceh: [aceh]
  java: [jakarta]
default: papua
`,
      ),
    });
    assert.ok(refs && "problems" in refs);
    const refText = refs.problems.join("\n");
    for (const want of [
      /clusters\.1\.name "aceh" is listed twice/,
      /groups\.aceh is also a cluster's name/,
      /groups\.java names "jakarta", which is not a listed cluster/,
      /default "papua" is not a listed cluster/,
    ])
      assert.match(refText, want);
  });

  it("a missing file or invalid YAML is refused with the fix", () => {
    const missing = readClusters({ PAAS_CLUSTERS: join(dir, "nope.yaml") });
    assert.ok(missing && "problems" in missing);
    assert.match(missing.problems[0]!, /cannot read .*nope\.yaml \(ENOENT\): point it at the YAML file/);
    const broken = readClusters({ PAAS_CLUSTERS: file("broken.yaml", "clusters: [") });
    assert.ok(broken && "problems" in broken);
    assert.match(broken.problems[0]!, /is not valid YAML/);
  });

  it("the platform settings carry the registry, and refuse it on the Docker runtime", () => {
    const path = file("good2.yaml", GOOD);
    const k8s = readPlatformSettings({ PAAS_CLUSTERS: path, PAAS_RUNTIME: "kubernetes" });
    assert.ok("settings" in k8s);
    assert.equal(k8s.settings.clusters?.defaultCluster, "bali");
    const docker = readPlatformSettings({ PAAS_CLUSTERS: path });
    assert.ok("problems" in docker);
    assert.match(docker.problems.join(), /PAAS_CLUSTERS needs PAAS_RUNTIME=kubernetes/);
  });
});
