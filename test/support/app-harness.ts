// Starts the App for end-to-end tests: the fake GitHub (reached through
// GHE_HOST/GHE_PROTOCOL), a local OIDC issuer, a serving runtime double, and
// the App's own server from startServer. Webhooks are real example payloads
// from @octokit/webhooks-examples, adjusted to the scenario and signed.
import { createHmac, generateKeyPairSync, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parse as parseYaml } from "yaml";
import { startServer, type RunningServer } from "../../src/server/server.ts";
import type { z } from "zod";
import { HANDOFF_PATH, handoffAnswerSchema } from "../../src/contract/handoff.ts";
import { isRefusalCode, refusalSchema, refusalStatus } from "../../src/contract/refusal.ts";
import { BUILD_FAILURE_PATH, buildFailureAnswerSchema } from "../../src/contract/build-failure.ts";
import type { Clock } from "../../src/app/deployer.ts";
import type { DnsProvider } from "../../src/dns/types.ts";
import type { Prober } from "../../src/app/probe.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { loadSettings, type Settings } from "../../src/settings/app.ts";
import { FakeGitHub, webhookErrors } from "../fakes/github/server.ts";
import { OidcIssuer, type ActionsTokenClaims } from "../fakes/oidc-issuer.ts";
import { RecordingDns, ServingRuntime } from "./app-runtime-double.ts";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples") as {
  name: string;
  examples: Record<string, unknown>[];
}[];

export const APP_ID = 4242;
export const OWNER = "octo-org";
export const OWNER_ID = 9001;
export const REPO = "hello-world";
export const REPO_ID = 123456;
export const FULL = `${OWNER}/${REPO}`;
export const INSTALLATION_ID = 777;
export const AUDIENCE = "https://paas.example.test";
export const DIGEST = `sha256:${"d".repeat(64)}`;
export const IMAGE = `ghcr.io/${OWNER}/${REPO}`;

/** The permissions the App's manifest (app.yml) asks for: what the fake's installation tokens may do. */
export const APP_PERMISSIONS = (
  parseYaml(readFileSync(new URL("../../app.yml", import.meta.url), "utf8")) as {
    default_permissions: Record<string, string>;
  }
).default_permissions;

export const VALID_CONFIG = `name: hello
run:
  port: 8080
environments:
  production:
    branch: main
`;

export function sha(n: number): string {
  return n.toString(16).padStart(40, "a");
}

export interface Harness {
  github: FakeGitHub;
  issuer: OidcIssuer;
  runtime: ServingRuntime;
  dns: RecordingDns;
  app: RunningServer;
  settings: Settings;
  webhook(event: string, payload: Record<string, unknown>): Promise<number>;
  pullRequestPayload(
    action: "opened" | "synchronize" | "closed" | "reopened",
    pr: number,
    headSha: string,
    extra?: { merged?: boolean },
  ): Record<string, unknown>;
  pushPayload(ref: string, after: string): Record<string, unknown>;
  /**
   * installation.created (every repository listed) or installation_repositories.added, for the
   * harness installation; sent through `webhook`, which validates it against GitHub's schema.
   */
  installationPayload(
    event: "installation" | "installation_repositories",
    repos: { id: number; name: string }[],
  ): Record<string, unknown>;
  claims(over?: Partial<ActionsTokenClaims>): ActionsTokenClaims;
  handoff(
    body: unknown,
    token: string | undefined,
    opts?: { raw?: string; contentType?: string },
  ): Promise<{ status: number; json: Record<string, unknown> }>;
  /** POSTs a build-failure report (src/contract/build-failure.ts); answers are checked against its contract. */
  buildFailure(
    body: unknown,
    token: string | undefined,
  ): Promise<{ status: number; json: Record<string, unknown> }>;
  tokenFor(claims: ActionsTokenClaims, o?: Partial<Parameters<OidcIssuer["token"]>[1]>): Promise<string>;
  /** Stops the App and starts a new process-equivalent (empty caches) on the same GitHub. */
  restartApp(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `env` adds or overrides App settings; `platform` replaces the serving runtime
 * double and the recording DNS in what the App uses (e.g. the real Docker runtime),
 * or the App's prober (benchmarks time it).
 */
export async function startHarness(
  env: Record<string, string> = {},
  platform: { runtime?: Runtime; dns?: DnsProvider; clock?: Clock; prober?: Prober } = {},
): Promise<Harness> {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const github = new FakeGitHub({
    appId: APP_ID,
    appPublicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
    // Installation tokens may do exactly what the App's manifest asks for.
    permissions: APP_PERMISSIONS,
  });
  await github.start();
  github.addInstallation(INSTALLATION_ID, OWNER, OWNER_ID);
  github.addRepository({
    id: REPO_ID,
    owner: OWNER,
    ownerId: OWNER_ID,
    name: REPO,
    installationId: INSTALLATION_ID,
  });
  const issuer = new OidcIssuer();
  await issuer.start();
  const runtime = new ServingRuntime();
  await runtime.start();
  const dns = new RecordingDns();
  const secret = "webhook-secret-" + randomUUID();
  const settings = loadSettings({
    APP_ID: String(APP_ID),
    PRIVATE_KEY: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    WEBHOOK_SECRET: secret,
    GHE_HOST: github.host,
    GHE_PROTOCOL: "http",
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: "fatal",
    PAAS_PUBLIC_URL: AUDIENCE,
    PAAS_OIDC_ISSUER: issuer.url,
    PAAS_BASE_DOMAIN: "localhost",
    PAAS_URL_SCHEME: "http",
    PAAS_URL_PORT: String(runtime.port),
    PAAS_PROBE_ADDRESS: `http://127.0.0.1:${runtime.port}`,
    // The fake has no secondary rate limits: don't space writes by a second.
    PAAS_GITHUB_WRITE_INTERVAL_MS: "0",
    ...env,
  });
  const deps = {
    runtime: platform.runtime ?? runtime,
    dns: platform.dns ?? dns,
    ...(platform.clock ? { clock: platform.clock } : {}),
    ...(platform.prober ? { prober: platform.prober } : {}),
  };
  // One time for the App and GitHub: deployment dates are what the App measures ages by.
  if (platform.clock) github.now = () => platform.clock!.now();
  const app = await startServer(settings, deps);

  const baseRepo = () => ({
    id: REPO_ID,
    name: REPO,
    full_name: FULL,
    owner: { login: OWNER, id: OWNER_ID, type: "Organization" },
    default_branch: "main",
  });
  const example = (name: string, pick: (e: Record<string, unknown>) => boolean) => {
    const found = examples.find((e) => e.name === name)?.examples.find(pick);
    if (!found) throw new Error(`no ${name} example`);
    return structuredClone(found);
  };

  const h: Harness = {
    github,
    issuer,
    runtime,
    dns,
    app,
    settings,
    async webhook(event, payload) {
      const errors = webhookErrors(event, payload.action as string | undefined, payload);
      if (errors?.length)
        github.violations.push(
          `${event}.${String(payload.action)} payload: ${errors.slice(0, 5).join("; ")}`,
        );
      const body = JSON.stringify(payload);
      const signature = "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
      const res = await fetch(`${h.app.url}${settings.webhookPath}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": event,
          "x-github-delivery": randomUUID(),
          "x-hub-signature-256": signature,
        },
        body,
      });
      await res.text();
      return res.status;
    },
    pullRequestPayload(action, pr, headSha, extra = {}) {
      const exampleAction = action === "reopened" ? "opened" : action;
      const p = example("pull_request", (e) => e.action === exampleAction && "installation" in e);
      const pull = p.pull_request as Record<string, unknown>;
      p.action = action;
      p.number = pr;
      pull.number = pr;
      pull.state = action === "closed" ? "closed" : "open";
      pull.merged = extra.merged ?? false;
      pull.head = { ...(pull.head as object), sha: headSha, ref: `feature-${pr}`, repo: baseRepo() };
      pull.base = { ...(pull.base as object), ref: "main", repo: baseRepo() };
      p.repository = { ...(p.repository as object), ...baseRepo() };
      p.installation = { id: INSTALLATION_ID, node_id: "x" };
      if (action === "synchronize") p.after = headSha;
      return p;
    },
    pushPayload(ref, after) {
      const p = example("push", (e) => "installation" in e && String(e.ref).startsWith("refs/heads/"));
      p.ref = ref;
      p.after = after;
      p.deleted = false;
      p.repository = {
        ...(p.repository as object),
        ...baseRepo(),
        owner: {
          ...((p.repository as Record<string, object>).owner ?? {}),
          login: OWNER,
          name: OWNER,
          id: OWNER_ID,
        },
      };
      p.installation = { id: INSTALLATION_ID, node_id: "x" };
      return p;
    },
    installationPayload(event, repos) {
      const action = event === "installation" ? "created" : "added";
      const p = example(event, (e) => e.action === action);
      const inst = p.installation as Record<string, unknown>;
      inst.id = INSTALLATION_ID;
      inst.account = { ...(inst.account as object), login: OWNER, id: OWNER_ID, type: "Organization" };
      inst.target_id = OWNER_ID;
      inst.target_type = "Organization";
      inst.app_id = APP_ID;
      // Fields GitHub's schema requires that the recorded examples predate.
      inst.app_slug = "paas";
      inst.created_at = inst.updated_at = "2026-01-01T00:00:00Z";
      inst.suspended_by = null;
      inst.suspended_at = null;
      if (event === "installation_repositories") p.requester = null;
      const list = repos.map((r) => ({
        id: r.id,
        node_id: `R_${r.id}`,
        name: r.name,
        full_name: `${OWNER}/${r.name}`,
        private: false,
      }));
      if (event === "installation") p.repositories = list;
      else {
        p.repositories_added = list;
        p.repositories_removed = [];
      }
      return p;
    },
    claims(over = {}) {
      return {
        repository: FULL,
        repository_id: String(REPO_ID),
        repository_owner: OWNER,
        repository_owner_id: String(OWNER_ID),
        sha: sha(1),
        ref: "refs/heads/main",
        event_name: "push",
        job_workflow_ref: `${FULL}/.github/workflows/paas.yml@refs/heads/main`,
        workflow_ref: `${FULL}/.github/workflows/paas.yml@refs/heads/main`,
        run_id: "555",
        // The workflows deploy production from a job in the GitHub environment "production".
        environment: "production",
        ...over,
      };
    },
    tokenFor(claims, o = {}) {
      return issuer.token(claims, { audience: AUDIENCE, ...o } as Parameters<OidcIssuer["token"]>[1]);
    },
    async handoff(body, token, opts = {}) {
      const headers: Record<string, string> = { "content-type": opts.contentType ?? "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${h.app.url}${HANDOFF_PATH}`, {
        method: "POST",
        headers,
        body: opts.raw ?? JSON.stringify(body),
      });
      const text = await res.text();
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(text) as Record<string, unknown>;
      } catch {
        json = { text };
      }
      // Every answer of the real App follows the hand-off contract the Action reads.
      checkAnswer("hand-off", { status: res.status, json, text }, 202, handoffAnswerSchema);
      return { status: res.status, json };
    },
    async buildFailure(body, token) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${h.app.url}${BUILD_FAILURE_PATH}`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
      });
      const text = await res.text();
      const json = JSON.parse(text) as Record<string, unknown>;
      checkAnswer("build-failure", { status: res.status, json, text }, 200, buildFailureAnswerSchema);
      return { status: res.status, json };
    },
    async restartApp() {
      await h.app.close();
      h.app = await startServer(settings, deps);
    },
    async close() {
      await h.app.close();
      await runtime.stop();
      await issuer.stop();
      await github.stop();
    },
  };
  return h;
}

/** The body the Action sends (action/src/handoff.ts). */
export function handoffBody(commit: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    repository: FULL,
    sha: commit,
    ref: "refs/heads/main",
    environment: "production",
    image: IMAGE,
    digest: DIGEST,
    app: "",
    runId: 555,
    ...over,
  };
}

/** A build-failure report as the Action sends it (action/src/build-failure.ts). */
export function buildFailureBody(
  commit: string,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    repository: FULL,
    sha: commit,
    ref: "refs/heads/main",
    environment: "production",
    app: "",
    runId: 555,
    step: "build",
    error: {
      title: "SyntaxError: invalid syntax",
      message: "app.py line 3: print('hello'",
      file: "app.py",
      line: 3,
      column: 7,
    },
    logTail: 'Step 5/7 : RUN python -m compileall .\n  File "app.py", line 3\nSyntaxError: invalid syntax',
    ...over,
  };
}

/**
 * An answer of the real App follows the contract the Action reads: the accepted answer's schema,
 * or a refusal whose code is one of the contract's and whose status is that code's in its table.
 */
function checkAnswer(
  what: string,
  res: { status: number; json: unknown; text: string },
  okStatus: number,
  answer: z.ZodType,
): void {
  const outside = (why: string) =>
    new Error(`HTTP ${res.status} ${what} answer ${why}: ${res.text.slice(0, 300)}`);
  if (res.status === okStatus) {
    if (!answer.safeParse(res.json).success) throw outside("outside the contract");
    return;
  }
  const refusal = refusalSchema.safeParse(res.json);
  if (!refusal.success) throw outside("outside the refusal contract");
  if (!isRefusalCode(refusal.data.check)) throw outside("with a code the contract does not name");
  if (refusalStatus(refusal.data.check) !== res.status)
    throw outside(`whose status is not its code's (${refusalStatus(refusal.data.check)})`);
}
