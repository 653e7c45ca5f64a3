// Who serves a hostname on the cluster: the namespaces the runtime planned, read
// back, decided by the core's one ownership rule (the Docker runtime's too).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { conflictingClaim, hostnameOwner, HostnameTakenError } from "../../../src/core/ownership.ts";
import { hostnameConflict, namespaceClaims } from "../../../src/runtime/kubernetes/hostnames.ts";
import { planKubernetes } from "../../../src/runtime/kubernetes/manifests.ts";
import type { KubernetesObject } from "@kubernetes/client-node";
import { HTTPROUTE_SETTINGS, specFor } from "./specs.ts";

const yaml = (domain: string) =>
  `run: { port: 8080 }\nenvironments: { production: { branch: main, domains: [${domain}] }, staging: { branch: develop, domains: [${domain}] } }`;

/** The namespace the runtime applies for a spec, as the API server would list it. */
function namespaceOf(spec: ReturnType<typeof specFor>): KubernetesObject {
  return planKubernetes(spec, HTTPROUTE_SETTINGS)[0] as KubernetesObject;
}

describe("Kubernetes hostname ownership", () => {
  const production = specFor(yaml("shop.acme.org"), "production");

  it("reads each namespace's claims with the owner the core names", () => {
    const claims = namespaceClaims([namespaceOf(production)]);
    assert.ok(claims.some((c) => c.hostname === "shop.acme.org"));
    for (const c of claims)
      assert.deepEqual(c.owner, hostnameOwner(production.target, production.repositoryId));
  });

  it("a redeploy of the same environment is free; another repository is refused, naming the owner", () => {
    assert.equal(hostnameConflict(production, [namespaceOf(production)]), undefined);
    const other = specFor(yaml("shop.acme.org"), "production", {
      owner: "evil",
      repo: "copycat",
      repositoryId: 666,
    });
    // Hostnames compare as the core compares them: case and the root's dot aside.
    const written = structuredClone(namespaceOf(production));
    written.metadata!.annotations!["paas.dev/hostnames"] = "SHOP.Acme.org.";
    assert.ok(hostnameConflict(other, [written]) instanceof HostnameTakenError);
    const e = hostnameConflict(other, [namespaceOf(production)]);
    assert.ok(e instanceof HostnameTakenError);
    assert.equal(e.hostname, "shop.acme.org");
    assert.equal(e.ownerDisplay, "acme/shop production");
    assert.match(e.message, /choose another app `name` or domain/);
  });

  it("another environment of the same repository is refused too (routes would shadow each other)", () => {
    const staging = specFor(yaml("shop.acme.org"), "staging");
    const e = hostnameConflict(staging, [namespaceOf(production)]);
    assert.ok(e instanceof HostnameTakenError);
    assert.equal(e.ownerKey, hostnameOwner(production.target, production.repositoryId).key);
  });

  it("decides as the Docker runtime does: the same claims, the same answer from conflictingClaim", () => {
    const namespaces = [namespaceOf(production)];
    for (const spec of [
      production,
      specFor(yaml("shop.acme.org"), "staging"),
      specFor(yaml("shop.acme.org"), "production", { owner: "evil", repo: "copycat", repositoryId: 666 }),
      specFor(yaml("www.acme.org"), "staging"),
    ]) {
      const self = hostnameOwner(spec.target, spec.repositoryId);
      const core = spec.hostnames.some((h) =>
        conflictingClaim(h, self, namespaceClaims(namespaces), "environment"),
      );
      assert.equal(hostnameConflict(spec, namespaces) !== undefined, core, spec.hostnames.join(","));
    }
  });

  it("a namespace being deleted claims nothing; one without its environment's annotations still owns", () => {
    const deleting = structuredClone(namespaceOf(production));
    deleting.metadata!.deletionTimestamp = new Date(0);
    const other = specFor(yaml("shop.acme.org"), "production", {
      owner: "evil",
      repo: "copycat",
      repositoryId: 666,
    });
    assert.equal(hostnameConflict(other, [deleting]), undefined);
    const bare = structuredClone(namespaceOf(production));
    delete bare.metadata!.annotations!["paas.dev/environment"];
    const e = hostnameConflict(production, [bare]);
    assert.ok(e instanceof HostnameTakenError, "an unnamed owner is never this deploy");
    assert.match(e.ownerDisplay, /^namespace /);
  });
});
