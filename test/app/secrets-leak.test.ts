// Secrets never leave through the App's outputs, and previews never receive
// production secrets or production domains. Known values are planted (the
// App's private key, the webhook secret, a Cloudflare API token, a registry
// password, app secrets served by the Docker runtime's secret source, one of
// them a PEM private key); a preview and production are deployed on the real
// Docker engine and Caddy, an app that prints its secrets (whole, line by line,
// base64, inside a base64 blob, URL-, form-, JSON- and shell-encoded) crashes,
// Cloudflare fails; then every output is searched for each secret in each of
// those forms, and every base64 run in it is decoded and searched too: the
// App's logs, every request body GitHub received (through a recording proxy),
// every HTTP answer of the App, and settings errors.
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { loadSettings } from "../../src/settings/app.ts";
import { SettingsError } from "../../src/settings/errors.ts";
import { claimsFromRuntime, createDnsProvider, dnsSettingsFromEnv } from "../../src/dns/index.ts";
import type { DockerRuntimeParts } from "../../src/runtime/docker/index.ts";
import { FULL, handoffBody, OWNER, REPO, sha, type Harness } from "../support/app-harness.ts";
import type { TestCaddy } from "../support/caddy.ts";
import { startDockerApp, stopDockerApp, type DockerApp } from "../support/docker-app.ts";
import { captureLogs, type Capture } from "../support/capture-output.ts";
import { buildTestImage } from "../support/docker-images.ts";
import { GitHubFaultProxy } from "../support/github-fault-proxy.ts";
import { FakeCloudflare } from "../fakes/cloudflare-api.ts";
import { fetchSealingKey, tokenBinding } from "../../action/src/secrets.ts";
import { sealSecrets } from "../../src/contract/sealing.ts";
import { browse } from "../support/browse.ts";

const docker = new Docker();
const run = randomBytes(3).toString("hex");
const APP = `leak-${run}`;
const PROD_DOMAIN = `www-${APP}.localhost`;
const PR = 4000 + Math.floor(Math.random() * 1000);

const secret = (what: string) => `${what}-${randomBytes(12).toString("hex")}`;
const CLOUDFLARE_TOKEN = secret("cf-token");
const REGISTRY_PASSWORD = secret("registry-password");
const PROD_DB = `postgres://app:${secret("prod-db-password")}@db.internal/prod`;
const PROD_TOKEN = secret("prod-app-token");
const TLS_KEY = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;
const PREVIEW_DB = "postgres://preview@db.internal/preview";
// Values kept in the repository's GitHub Environments, sealed by the Action to the App's key.
const GH_PREVIEW_DB = `postgres://preview:${secret("gh-preview-password")}@db.internal/preview`;
const GH_PROD_DB = `postgres://app:${secret("gh-prod-password")}@db.internal/prod`;
const GH_TOKEN_1 = secret("gh-app-token-one");
const GH_TOKEN_2 = secret("gh-app-token-two");
const GH_TLS_KEY = generateKeyPairSync("ec", {
  namedCurve: "P-256",
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;

const CONFIG = `name: ${APP}
run:
  port: 8080
  healthcheck:
    path: /healthz
    startupTimeout: 20s
    interval: 1s
secrets: [DATABASE_URL, APP_TOKEN, TLS_KEY]
environments:
  production:
    branch: main
    domains: [${PROD_DOMAIN}]
previews:
  secrets: [DATABASE_URL]
`;

describe("secrets never reach an output; previews get neither production secrets nor domains", () => {
  let app: DockerApp | undefined;
  const instance = `leak-${process.pid}`;
  let caddy: TestCaddy;
  let parts: DockerRuntimeParts;
  let h: Harness;
  let secretsDir: string;
  let server: { ref: string; id: string };
  let leak: { ref: string; id: string };
  let logs: Capture;
  const cloudflare = new FakeCloudflare({
    token: CLOUDFLARE_TOKEN,
    zones: [{ id: "f".repeat(32), name: "localhost" }],
  });
  const proxy = new GitHubFaultProxy();
  /** Every HTTP answer of the App in this test. */
  const answers: string[] = [];

  before(async () => {
    logs = captureLogs();
    secretsDir = await mkdtemp(join(tmpdir(), "paas-secrets-"));
    const dir = join(secretsDir, OWNER, REPO);
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, "production.env"),
      `DATABASE_URL=${PROD_DB}\nAPP_TOKEN=${PROD_TOKEN}\nTLS_KEY="${TLS_KEY.replace(/\n/g, "\\n")}"\n`,
    );
    await writeFile(join(dir, "preview.env"), `DATABASE_URL=${PREVIEW_DB}\n`);
    await chmod(join(dir, "production.env"), 0o600);
    await chmod(join(dir, "preview.env"), 0o600);
    await cloudflare.start();
    await proxy.start();
    const dnsEnv = {
      PAAS_DNS_PROVIDER: "cloudflare",
      CLOUDFLARE_API_TOKEN: CLOUDFLARE_TOKEN,
      CLOUDFLARE_ZONE_ID: cloudflare.zoneId,
      CLOUDFLARE_API_URL: cloudflare.baseURL,
      PAAS_DNS_TARGET: "127.0.0.1",
      PAAS_DNS_PROXIED: "false",
    };
    app = await startDockerApp({
      // Its own containers: other suites deploy the same repository's previews on this engine.
      instance,
      secretsDir,
      env: {
        ...dnsEnv,
        GHE_HOST: proxy.host,
        LOG_LEVEL: "trace",
        PAAS_REGISTRY_HOST: "registry.example.test",
        PAAS_REGISTRY_USERNAME: "paas",
        PAAS_REGISTRY_PASSWORD: REGISTRY_PASSWORD,
      },
      dns: (runtime) => createDnsProvider(dnsSettingsFromEnv(dnsEnv), { claims: claimsFromRuntime(runtime) }),
    });
    ({ caddy, parts, h } = app);
    server = await buildTestImage(docker, `paas-test/${APP}`, "server");
    leak = await buildTestImage(docker, `paas-test/${APP}`, "leak", "leak");
    proxy.target = h.github.host;
    // Secret scopes and domains are the default branch's word: main carries the same config.
    h.github.setFile(FULL, "main", ".paas.yml", CONFIG);
  });

  after(async () => {
    logs?.restore();
    await stopDockerApp(docker, app ?? {}, { instance, appName: APP, images: [server?.id, leak?.id] });
    await cloudflare.stop();
    await proxy.stop();
    await rm(secretsDir, { recursive: true, force: true });
  });

  async function webhook(event: string, payload: Record<string, unknown>): Promise<number> {
    const body = JSON.stringify(payload);
    const res = await fetch(`${h.app.url}${h.settings.webhookPath}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": event,
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256":
          "sha256=" + createHmac("sha256", h.settings.webhookSecret).update(body).digest("hex"),
      },
      body,
    });
    answers.push(await res.text());
    return res.status;
  }

  /**
   * A hand-off as the Action makes it; `github` carries the job's GitHub Environment secrets
   * (sealed with the Action's own code) and the environment the job ran in.
   */
  async function handoff(
    commit: string,
    image: string,
    pr: number | undefined,
    github?: { environment: string; secrets: Record<string, string>; sealedWith?: string },
  ) {
    const [name, digest] = image.split("@") as [string, string];
    const claims =
      pr === undefined
        ? h.claims({ sha: commit })
        : h.claims({ event_name: "pull_request", ref: `refs/pull/${pr}/merge`, sha: commit });
    if (github) claims.environment = github.environment;
    const body =
      pr === undefined
        ? handoffBody(commit, { image: name, digest })
        : handoffBody(commit, {
            ref: `refs/pull/${pr}/merge`,
            environment: `preview/pr-${pr}`,
            image: name,
            digest,
          });
    const token = await h.tokenFor(claims);
    if (github) {
      // The Action fetches the App's key over the hand-off's own URL and binds the seal to the token.
      const key = await fetchSealingKey(h.app.url);
      const { job: _job, ...binding } = tokenBinding(github.sealedWith ?? token);
      body.secrets = sealSecrets(github.secrets, key, {
        ...binding,
        environment: String(body.environment),
        app: "",
        sha: commit,
      });
    }
    const res = await h.handoff(body, token);
    answers.push(JSON.stringify(res.json));
    await h.app.deployer.idle();
    return res;
  }

  async function appEnv(url: string): Promise<Record<string, string>> {
    return (JSON.parse((await browse(url, "/info")).body) as { env: Record<string, string> }).env;
  }

  function openPull(number: number, commit: string): void {
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    h.github.setPull(FULL, {
      number,
      state: "open",
      headSha: commit,
      mergeSha: null,
      headRef: `b${number}`,
      baseRef: "main",
    });
  }

  it("a preview gets the preview secret only, and only its own hostname", async () => {
    const commit = sha(0x901);
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    h.github.setPull(FULL, {
      number: PR,
      state: "open",
      headSha: commit,
      mergeSha: null,
      headRef: "f",
      baseRef: "main",
    });
    assert.equal(await webhook("pull_request", h.pullRequestPayload("opened", PR, commit)), 200);
    const res = await handoff(commit, server.ref, PR);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const dep = h.github.deploymentsOf(FULL, `preview/pr-${PR}`)[0]!;
    assert.equal(dep.statuses.at(-1)!.state, "success", JSON.stringify(dep.statuses));
    const url = dep.statuses.at(-1)!.environment_url!;
    assert.equal(url, `http://pr-${PR}-${APP}.localhost:${caddy.httpPort}/`);
    const info = JSON.parse((await browse(url, "/info")).body) as { env: Record<string, string> };
    assert.equal(info.env.DATABASE_URL, PREVIEW_DB, "the preview reads preview.env");
    assert.equal(info.env.APP_TOKEN, undefined, "a production-only secret never reaches a preview");
    const preview = (await parts.runtime.list()).find(
      (e) => e.appName === APP && e.target.environment.kind === "preview",
    )!;
    assert.deepEqual(preview.hostnames, [`pr-${PR}-${APP}.localhost`], "no production domain on a preview");
    assert.notEqual((await browse(`http://${PROD_DOMAIN}:${caddy.httpPort}/`)).body, commit);
    assert.deepEqual(
      cloudflare.records.map((r) => r.name),
      [`pr-${PR}-${APP}.localhost`],
    );
  });

  it("production gets production secrets and its domain", async () => {
    const commit = sha(0x902);
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    const res = await handoff(commit, server.ref, undefined);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const dep = h.github.deploymentsOf(FULL, "production").at(-1)!;
    assert.equal(dep.statuses.at(-1)!.state, "success", JSON.stringify(dep.statuses));
    const info = JSON.parse((await browse(dep.statuses.at(-1)!.environment_url!, "/info")).body) as {
      env: Record<string, string>;
    };
    assert.equal(info.env.DATABASE_URL, PROD_DB, "the secret source served the value to the app");
    assert.equal(info.env.APP_TOKEN, PROD_TOKEN);
    assert.equal((await browse(`http://${PROD_DOMAIN}:${caddy.httpPort}/`)).body, commit);
  });

  it("an app that prints its secrets in many encodings and crashes: the failure shows its logs, masked", async () => {
    const commit = sha(0x903);
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    const res = await handoff(commit, leak.ref, undefined);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const dep = h.github.deploymentsOf(FULL, "production").at(-1)!;
    assert.equal(dep.statuses.at(-1)!.state, "failure");
    const check = h.github.checkRunsOf(FULL, commit)[0]!;
    assert.equal(check.conclusion, "failure");
    const shown = `${check.output.summary}\n${check.output.text}`;
    assert.match(shown, /cannot connect to the database/, "the log lines are shown");
    assert.match(shown, /secret is \*\*\*/);
    assert.match(shown, /TLS_KEY b64=\*\*\* b64url=\*\*\* /);
    assert.match(shown, /tls \| \*\*\*\n/, "the key's lines printed with a prefix are masked one by one");
  });

  it("a Cloudflare failure is reported without the token", async () => {
    const commit = sha(0x904);
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    h.github.setPull(FULL, {
      number: PR + 1,
      state: "open",
      headSha: commit,
      mergeSha: null,
      headRef: "g",
      baseRef: "main",
    });
    cloudflare.inject({ status: 500 }, 50);
    const res = await handoff(commit, server.ref, PR + 1);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    cloudflare.faults.length = 0;
    const dep = h.github.deploymentsOf(FULL, `preview/pr-${PR + 1}`).at(-1)!;
    assert.equal(dep.statuses.at(-1)!.state, "failure", JSON.stringify(dep.statuses));
  });

  it("a Cloudflare refusal that quotes the token is reported with the token masked", async () => {
    const commit = sha(0x907);
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    h.github.setPull(FULL, {
      number: PR + 2,
      state: "open",
      headSha: commit,
      mergeSha: null,
      headRef: "h",
      baseRef: "main",
    });
    const basic = Buffer.from(`paas:${CLOUDFLARE_TOKEN}`).toString("base64");
    cloudflare.inject(
      { status: 403, message: `token ${CLOUDFLARE_TOKEN} (${basic}) may not edit this zone` },
      50,
    );
    const res = await handoff(commit, server.ref, PR + 2);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    cloudflare.faults.length = 0;
    const dep = h.github.deploymentsOf(FULL, `preview/pr-${PR + 2}`).at(-1)!;
    assert.equal(dep.statuses.at(-1)!.state, "failure", JSON.stringify(dep.statuses));
    const check = h.github.checkRunsOf(FULL, commit)[0]!;
    const shown = `${check.output.summary}\n${check.output.text ?? ""}`;
    assert.match(shown, /may not edit this zone/, "the refusal is shown");
    assert.ok(!shown.includes(CLOUDFLARE_TOKEN) && !shown.includes(basic), shown);
  });

  it("a preview gets the GitHub preview environment's secrets, sealed; names not listed for previews are dropped", async () => {
    const commit = sha(0x911);
    openPull(PR + 3, commit);
    const res = await handoff(commit, server.ref, PR + 3, {
      environment: "preview",
      secrets: { DATABASE_URL: GH_PREVIEW_DB, APP_TOKEN: GH_TOKEN_1, UNRELATED: GH_TOKEN_2 },
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const dep = h.github.deploymentsOf(FULL, `preview/pr-${PR + 3}`).at(-1)!;
    assert.equal(dep.statuses.at(-1)!.state, "success", JSON.stringify(dep.statuses));
    const env = await appEnv(dep.statuses.at(-1)!.environment_url!);
    assert.equal(env.DATABASE_URL, GH_PREVIEW_DB, "the GitHub environment's value wins over preview.env");
    assert.equal(env.APP_TOKEN, undefined, "a name the default branch gives only production is dropped");
    assert.equal(env.UNRELATED, undefined, "a name .paas.yml does not list never reaches the app");
    const check = h.github.checkRunsOf(FULL, commit).at(-1)!;
    assert.match(check.output.summary ?? "", /Secrets not passed to the app:.*APP_TOKEN.*UNRELATED/s);
  });

  it("secrets from another GitHub environment never reach a preview: refused, nothing deployed", async () => {
    const commit = sha(0x912);
    openPull(PR + 4, commit);
    const res = await handoff(commit, server.ref, PR + 4, {
      environment: "production",
      secrets: { DATABASE_URL: GH_PROD_DB },
    });
    assert.equal(res.status, 403, JSON.stringify(res.json));
    assert.equal(res.json.check, "secrets_environment");
    assert.match(String(res.json.message), /environment: preview/);
    assert.deepEqual(h.github.deploymentsOf(FULL, `preview/pr-${PR + 4}`), []);
    const check = h.github.checkRunsOf(FULL, commit).at(-1)!;
    assert.equal(check.conclusion, "failure");
    assert.match(check.output.summary ?? "", /from the GitHub environment &quot;preview&quot;/);
  });

  it("a sealed blob moved to another hand-off (another token) does not open", async () => {
    const commit = sha(0x913);
    openPull(PR + 5, commit);
    const other = await h.tokenFor(
      h.claims({
        event_name: "pull_request",
        ref: `refs/pull/${PR + 5}/merge`,
        sha: commit,
        environment: "preview",
      }),
    );
    const res = await handoff(commit, server.ref, PR + 5, {
      environment: "preview",
      secrets: { DATABASE_URL: GH_PREVIEW_DB },
      sealedWith: other,
    });
    assert.equal(res.status, 422, JSON.stringify(res.json));
    assert.equal(res.json.check, "secrets");
    assert.deepEqual(h.github.deploymentsOf(FULL, `preview/pr-${PR + 5}`), []);
  });

  it("production: delivered secrets win, the operator's file fills the rest, the next deploy rotates them", async () => {
    const first = sha(0x914);
    h.github.setFile(FULL, first, ".paas.yml", CONFIG);
    let res = await handoff(first, server.ref, undefined, {
      environment: "production",
      secrets: { APP_TOKEN: GH_TOKEN_1 },
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    let dep = h.github.deploymentsOf(FULL, "production").at(-1)!;
    assert.equal(dep.statuses.at(-1)!.state, "success", JSON.stringify(dep.statuses));
    let env = await appEnv(dep.statuses.at(-1)!.environment_url!);
    assert.equal(env.APP_TOKEN, GH_TOKEN_1, "the GitHub environment's value");
    assert.equal(env.DATABASE_URL, PROD_DB, "not delivered: the operator's production.env");
    const second = sha(0x915);
    h.github.setFile(FULL, second, ".paas.yml", CONFIG);
    res = await handoff(second, server.ref, undefined, {
      environment: "production",
      secrets: { APP_TOKEN: GH_TOKEN_2, DATABASE_URL: GH_PROD_DB },
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    dep = h.github.deploymentsOf(FULL, "production").at(-1)!;
    assert.equal(dep.statuses.at(-1)!.state, "success", JSON.stringify(dep.statuses));
    env = await appEnv(dep.statuses.at(-1)!.environment_url!);
    assert.equal(env.APP_TOKEN, GH_TOKEN_2, "rotated by the next deploy");
    assert.equal(env.DATABASE_URL, GH_PROD_DB);
  });

  it("an app printing its delivered secrets crashes: the failure shows its logs, masked", async () => {
    const commit = sha(0x916);
    h.github.setFile(FULL, commit, ".paas.yml", CONFIG);
    const res = await handoff(commit, leak.ref, undefined, {
      environment: "production",
      secrets: { DATABASE_URL: GH_PROD_DB, APP_TOKEN: GH_TOKEN_1, TLS_KEY: GH_TLS_KEY },
    });
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const check = h.github.checkRunsOf(FULL, commit)[0]!;
    assert.equal(check.conclusion, "failure");
    const shown = `${check.output.summary}\n${check.output.text}`;
    assert.match(shown, /secret is \*\*\*/);
    assert.match(shown, /APP_TOKEN b64=\*\*\* b64url=\*\*\* /);
    assert.match(shown, /tls \| \*\*\*\n/, "the delivered key's lines are masked one by one");
  });

  it("refused hand-offs and webhooks answer without secrets", async () => {
    const forged = await h.handoff(handoffBody(sha(0x905)), `${CLOUDFLARE_TOKEN}.${REGISTRY_PASSWORD}.x`);
    answers.push(JSON.stringify(forged.json));
    assert.equal(forged.status, 401);
    const bad = await fetch(`${h.app.url}${h.settings.webhookPath}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-github-event": "push",
        "x-github-delivery": randomUUID(),
        "x-hub-signature-256": "sha256=" + "0".repeat(64),
      },
      body: JSON.stringify(h.pushPayload("refs/heads/main", sha(0x906))),
    });
    answers.push(await bad.text());
    assert.notEqual(bad.status, 200);
    for (const path of ["/healthz", "/readyz", "/metrics"])
      answers.push(await (await fetch(`${h.app.url}${path}`)).text());
  });

  it("settings errors name the variable, never the value", () => {
    const problems: string[] = [];
    for (const env of [
      {
        PRIVATE_KEY: `not-a-key-${REGISTRY_PASSWORD}`,
        PAAS_DNS_PROVIDER: "cloudflare",
        CLOUDFLARE_API_TOKEN: CLOUDFLARE_TOKEN,
      },
      { PAAS_REGISTRY_PASSWORD: REGISTRY_PASSWORD, PAAS_REGISTRY_HOST: "r.example" },
      { WEBHOOK_SECRET: h.settings.webhookSecret, PAAS_MAX_PREVIEWS: h.settings.webhookSecret },
    ]) {
      try {
        loadSettings({ APP_ID: "1", WEBHOOK_SECRET: "w", PAAS_PUBLIC_URL: "https://p.example", ...env });
        assert.fail("expected a settings error");
      } catch (e) {
        assert.ok(e instanceof SettingsError, String(e));
        problems.push(e.message);
      }
    }
    answers.push(...problems);
  });

  it("no planted secret appears in any output, in any encoding", async () => {
    await h.app.deployer.idle();
    const secrets: Record<string, string> = {
      "private key": h.settings.privateKey,
      "webhook secret": h.settings.webhookSecret,
      "Cloudflare token": CLOUDFLARE_TOKEN,
      "registry password": REGISTRY_PASSWORD,
      "production database URL": PROD_DB,
      "production app token": PROD_TOKEN,
      "production TLS key": TLS_KEY,
      "GitHub preview database URL": GH_PREVIEW_DB,
      "GitHub production database URL": GH_PROD_DB,
      "GitHub app token (first)": GH_TOKEN_1,
      "GitHub app token (rotated)": GH_TOKEN_2,
      "GitHub TLS key": GH_TLS_KEY,
      "App sealing key": h.settings.sealing.privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    };
    // Each value and each line of a multi-line one (PEM armour lines are public), and its encodings.
    const raw: Record<string, string> = {};
    for (const [what, value] of Object.entries(secrets)) {
      raw[what] = value;
      value
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l.length >= 8 && !l.startsWith("-----") && l !== value)
        .forEach((l, i) => (raw[`${what} line ${i + 1}`] = l));
    }
    const planted: Record<string, string> = {};
    for (const [what, value] of Object.entries(raw)) {
      planted[what] = value;
      planted[`${what} (JSON-escaped)`] = JSON.stringify(value).slice(1, -1);
      planted[`${what} (base64)`] = Buffer.from(value).toString("base64");
      planted[`${what} (base64url)`] = Buffer.from(value).toString("base64url");
      planted[`${what} (URL-encoded)`] = encodeURIComponent(value);
      planted[`${what} (form-encoded)`] = new URLSearchParams({ v: value }).toString().slice(2);
    }
    const outputs: Record<string, string> = {
      "App logs": logs.text(),
      "requests to GitHub": proxy.exchanges.map((e) => `${e.method} ${e.url}\n${e.requestBody}`).join("\n"),
      "App HTTP answers": answers.join("\n"),
      "GitHub state (comments, check runs, statuses)": JSON.stringify({
        comments: h.github.comments,
        checks: h.github.checkRuns,
        deployments: h.github.deployments,
      }),
    };
    // The outputs are real: logs at trace level, GitHub received the check runs and comments.
    assert.ok(outputs["App logs"]!.length > 1000, "logs were captured");
    assert.match(outputs["requests to GitHub"]!, /check-runs/);
    assert.match(outputs["GitHub state (comments, check runs, statuses)"]!, /cannot connect to the database/);
    // Check run summaries are Markdown-escaped (\- \: \.) and then JSON-escaped: search them unescaped too.
    for (const [where, text] of Object.entries(outputs))
      outputs[`${where}, backslash escapes removed`] = text.replace(/\\+(?=[!-/:-@[-`{-~])/g, "");
    const leaks = new Set<string>();
    for (const [what, value] of Object.entries(planted))
      for (const [where, text] of Object.entries(outputs))
        if (text.includes(value)) leaks.add(`${what} in ${where}`);
    // A value inside a longer base64 text (a JSON blob, a Basic auth header) at any byte alignment.
    for (const [where, text] of Object.entries(outputs))
      for (const run of new Set(text.match(/[A-Za-z0-9+/_-]{16,}/g)))
        for (let offset = 0; offset < 4; offset++)
          for (const alphabet of ["base64", "base64url"] as const) {
            const decoded = Buffer.from(run.slice(offset), alphabet).toString("latin1");
            for (const [what, value] of Object.entries(raw))
              if (decoded.includes(value)) leaks.add(`${what} (base64 inside a longer text) in ${where}`);
          }
    assert.deepEqual([...leaks], []);
    assert.deepEqual(h.github.violations, []);
  });
});
