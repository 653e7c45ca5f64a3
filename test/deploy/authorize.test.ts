// The pure authorization gate: each refusal names its check; authority keys
// always come from the default branch's config.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ActionsClaims } from "../../src/app/handoff.ts";
import type { HandoffBody } from "../../src/contract/handoff.ts";
import { parseConfig, resolveApps, type ResolvedApp } from "../../src/config/load.ts";
import {
  authorize,
  checkImage,
  effectiveConfig,
  imagePrefixes,
  pendingAuthority,
  type Authorization,
  type Refusal,
} from "../../src/deploy/authorize.ts";

const SHA = "a".repeat(40);

function app(yaml: string, key = ""): ResolvedApp {
  return resolveApps(parseConfig(yaml)).find((a) => a.key === key)!;
}

function claims(over: Partial<ActionsClaims> = {}): ActionsClaims {
  return {
    repository: "o/r",
    repository_id: "1",
    repository_owner_id: "2",
    sha: SHA,
    ref: "refs/heads/main",
    event_name: "push",
    jti: "j",
    iat: 0,
    exp: 300,
    ...over,
  };
}

function body(over: Partial<HandoffBody> = {}): HandoffBody {
  return {
    repository: "o/r",
    sha: SHA,
    image: `ghcr.io/o/r@sha256:${"d".repeat(64)}`,
    digest: `sha256:${"d".repeat(64)}`,
    app: "",
    ...over,
  };
}

const TRUSTED = app(`environments:
  production:
    branch: main
    domains: [www.example.org]
    secrets: [PROD]
  staging: {}
  qa:
    branch: qa
    protected: true
  open:
    branch: main
previews:
  secrets: [PREV]
`);

function refused(r: Authorization | Refusal): Refusal {
  assert.equal(r.ok, false, JSON.stringify(r));
  return r as Refusal;
}

function allowed(r: Authorization | Refusal): Authorization {
  assert.equal(r.ok, true, JSON.stringify(r));
  return r as Authorization;
}

describe("authorize", () => {
  it("refuses production from a branch the deployed commit maps it to (check branch)", () => {
    const evil = app("environments:\n  production:\n    branch: evil\n");
    const r = refused(
      authorize({
        claims: claims({ ref: "refs/heads/evil", environment: "production" }),
        body: body({ environment: "production" }),
        defaultBranch: "main",
        trusted: TRUSTED,
        deployed: evil,
      }),
    );
    assert.equal(r.check, "branch");
  });

  it("deploys an environment without branch: only from the default branch", () => {
    const base = { defaultBranch: "trunk", trusted: TRUSTED, deployed: TRUSTED };
    const r = refused(
      authorize({
        ...base,
        claims: claims({ ref: "refs/heads/main" }),
        body: body({ environment: "staging" }),
      }),
    );
    assert.equal(r.check, "branch");
    const ok = allowed(
      authorize({
        ...base,
        claims: claims({ ref: "refs/heads/trunk" }),
        body: body({ environment: "staging" }),
      }),
    );
    assert.deepEqual(ok.env, { kind: "named", name: "staging" });
  });

  it("requires the token's environment claim for production and for protected: true environments", () => {
    const base = { defaultBranch: "main", trusted: TRUSTED, deployed: TRUSTED };
    for (const environment of [undefined, "staging", "production-x"])
      assert.equal(
        refused(
          authorize({ ...base, claims: claims({ environment }), body: body({ environment: "production" }) }),
        ).check,
        "protected_environment",
      );
    allowed(authorize({ ...base, claims: claims({ environment: "production" }), body: body() }));
    assert.equal(
      refused(
        authorize({ ...base, claims: claims({ ref: "refs/heads/qa" }), body: body({ environment: "qa" }) }),
      ).check,
      "protected_environment",
    );
    allowed(
      authorize({
        ...base,
        claims: claims({ ref: "refs/heads/qa", environment: "qa" }),
        body: body({ environment: "qa" }),
      }),
    );
    // Not protected: no environment claim needed.
    allowed(authorize({ ...base, claims: claims(), body: body({ environment: "open" }) }));
    // production with protected: false on the default branch.
    const unprotected = app("environments:\n  production:\n    branch: main\n    protected: false\n");
    allowed(
      authorize({ ...base, trusted: unprotected, deployed: unprotected, claims: claims(), body: body() }),
    );
  });

  it("a monorepo app's production accepts the job environment production/<app>", () => {
    const mono = app(
      "apps:\n  api:\n    path: api\n    environments:\n      production:\n        branch: main\n",
      "api",
    );
    const base = { defaultBranch: "main", trusted: mono, deployed: mono, body: body({ app: "api" }) };
    allowed(authorize({ ...base, claims: claims({ environment: "production/api" }) }));
    allowed(authorize({ ...base, claims: claims({ environment: "production" }) }));
    assert.equal(
      refused(authorize({ ...base, claims: claims({ environment: "production/web" }) })).check,
      "protected_environment",
    );
  });

  it("an app the default branch does not define has no environments and no secrets", () => {
    const deployed = app("environments:\n  production:\n    branch: main\nsecrets: [PROD]\n");
    const r = refused(
      authorize({
        claims: claims({ environment: "production" }),
        body: body({ environment: "production" }),
        defaultBranch: "main",
        trusted: undefined,
        deployed,
      }),
    );
    assert.equal(r.check, "environment");
    const preview = allowed(
      authorize({
        claims: claims({ event_name: "pull_request", ref: "refs/pull/4/merge" }),
        body: body(),
        defaultBranch: "main",
        trusted: undefined,
        deployed,
      }),
    );
    assert.deepEqual(preview.config.secrets, []);
    assert.deepEqual(Object.keys(preview.config.environments), []);
  });

  it("prototype names are never environments, even where a lookup forgets Object.hasOwn", () => {
    const cfg = effectiveConfig(TRUSTED.config, TRUSTED.config, "main");
    assert.equal(Object.getPrototypeOf(cfg.environments), null);
    for (const name of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      assert.equal((cfg.environments as Record<string, unknown>)[name], undefined, name);
      const r = refused(
        authorize({
          claims: claims({ environment: name }),
          body: body({ environment: name }),
          defaultBranch: "main",
          trusted: TRUSTED,
          deployed: TRUSTED,
        }),
      );
      assert.equal(r.check, "environment", name);
    }
  });
});

describe("effective config and pending authority", () => {
  it("takes environments, secrets, preview secrets and the fork policy from the default branch", () => {
    const deployed = app(`run:
  port: 9000
secrets: [STOLEN]
environments:
  production:
    branch: evil
    domains: [evil.example.org]
previews:
  secrets: [PROD]
  forks: approve
`);
    const trusted = app("previews:\n  forks: never\n");
    const cfg = effectiveConfig(deployed.config, trusted.config, "main");
    assert.equal(cfg.run.port, 9000, "build and run settings are the deployed commit's");
    assert.deepEqual(cfg.secrets, []);
    assert.equal(cfg.previews.secrets, undefined);
    assert.equal(cfg.previews.forks, "never");
    assert.deepEqual(cfg.environments.production, { branch: "main" });
    assert.deepEqual(pendingAuthority(deployed.config, trusted.config, "main").sort(), [
      "environments.production.branch",
      "environments.production.domains",
      "previews.forks",
      "previews.secrets",
      "secrets",
    ]);
    assert.deepEqual(pendingAuthority(trusted.config, trusted.config, "main"), []);
  });

  it("outbound internet is the default branch's to grant; a branch's release, workers and jobs are its own", () => {
    const deployed = app(`
run: { release: python manage.py migrate }
processes: { worker: python worker.py }
cron: [{ schedule: "*/5 * * * *", command: python tick.py }]
network: { egress: internet }
`);
    const closed = effectiveConfig(deployed.config, app("").config, "main");
    assert.equal(closed.network.egress, "none");
    assert.equal(closed.run.release, "python manage.py migrate");
    assert.equal(closed.processes.worker?.command, "python worker.py");
    assert.equal(closed.cron.length, 1);
    assert.deepEqual(pendingAuthority(deployed.config, app("").config, "main"), ["network.egress"]);
    const open = effectiveConfig(deployed.config, app("network: { egress: internet }").config, "main");
    assert.equal(open.network.egress, "internet");
  });
});

describe("image registry prefixes", () => {
  it("defaults to the owner's GHCR namespace, lowercase, and never matches a longer owner", () => {
    assert.deepEqual(imagePrefixes(["ghcr.io/{owner}/"], "Octo-Org/Repo"), ["ghcr.io/octo-org/"]);
    const templates = ["ghcr.io/{owner}/"];
    assert.equal(
      checkImage(`ghcr.io/octo-org/app@sha256:${"d".repeat(64)}`, "Octo-Org/app", templates),
      undefined,
    );
    for (const image of ["ghcr.io/octo-org-evil/app", "evil.example/octo-org/app", "ghcr.io/octo-orgapp"])
      assert.equal(checkImage(image, "octo-org/app", templates)?.check, "image", image);
    assert.equal(
      checkImage("registry.example.com/team/app/web", "o/app", ["registry.example.com/team/{repo}/"]),
      undefined,
    );
  });
});
