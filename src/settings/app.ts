// The App's settings, read once from the environment at start and validated
// with zod: a wrong or missing value stops the start with a message naming the
// variable and the fix. Secrets (private key, webhook secret, API tokens) are
// kept out of every message and out of `describeSettings`.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { DEFAULT_IMAGE_PREFIXES } from "../deploy/authorize.ts";
import { durationMs } from "../config/schema.ts";
import type { PlatformSettings } from "../core/plan.ts";
import { dnsSettingsFromEnv, DnsSettingsError, type DnsSettings } from "../dns/index.ts";
import { DockerSettingsError, dockerSettingsFromEnv } from "../runtime/docker/index.ts";
import { KubernetesSettingsError, kubernetesSettingsFromEnv } from "../runtime/kubernetes/index.ts";

import { SettingsError } from "./errors.ts";
import { loadSealingKey, type SealingKey } from "./sealing-key.ts";
import { optionalString, positiveInt, readPlatformSettings } from "./platform.ts";

const hostPort = /^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

const envSchema = z.object({
  APP_ID: z
    .string({ error: "is required: the numeric App ID from the GitHub App's settings page" })
    .regex(/^\d+$/, "must be the numeric App ID"),
  PRIVATE_KEY: optionalString,
  PRIVATE_KEY_PATH: optionalString,
  WEBHOOK_SECRET: z
    .string({ error: "is required: the webhook secret set in the GitHub App's settings" })
    .min(1, "must not be empty: set the webhook secret of the GitHub App"),
  WEBHOOK_PATH: optionalString.pipe(z.string().startsWith("/", "must start with /").optional()),
  GHE_HOST: optionalString.pipe(
    z
      .string()
      .regex(
        hostPort,
        "must be a host name (and optional :port) such as github.example.com, without scheme or path",
      )
      .optional(),
  ),
  GHE_PROTOCOL: optionalString.pipe(z.enum(["https", "http"], { error: "must be https or http" }).optional()),
  HOST: optionalString,
  PORT: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,5}$/, "must be a port number")
      .transform(Number)
      .optional(),
  ),
  LOG_LEVEL: optionalString.pipe(z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).optional()),
  PAAS_RUNTIME: optionalString.pipe(
    z.enum(["docker", "kubernetes"], { error: "must be docker or kubernetes" }).default("docker"),
  ),
  PAAS_PUBLIC_URL: z
    .string({
      error:
        "is required: the App's own public URL (e.g. https://paas.example.com), also the OIDC audience the workflow requests",
    })
    .url("must be an absolute URL such as https://paas.example.com"),
  PAAS_OIDC_ISSUER: optionalString.pipe(
    z
      .string()
      .url("must be the issuer URL, e.g. https://token.actions.githubusercontent.com")
      .default("https://token.actions.githubusercontent.com"),
  ),
  PAAS_PROBE_ADDRESS: optionalString.pipe(
    z
      .string()
      .regex(
        /^https?:\/\/(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?\/?$/,
        "must be scheme://host:port such as http://127.0.0.1:8080 (the proxy or gateway that serves app URLs)",
      )
      .optional(),
  ),
  PAAS_GITHUB_WRITE_INTERVAL_MS: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,6}$/, "must be a number of milliseconds")
      .transform(Number)
      .default(1000),
  ),
  PAAS_BUILD_TIMEOUT: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,7}(?:ms|s|m|h)$/, 'must be a duration such as "60m" or "2h"')
      .default("60m"),
  ),
  PAAS_RECONCILE_INTERVAL: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,7}(?:ms|s|m|h)$/, 'must be a duration such as "60s" or "5m" ("0s" turns reconciling off)')
      .default("60s"),
  ),
  PAAS_ORPHAN_GRACE: optionalString.pipe(
    z
      .string()
      .regex(/^\d{1,7}(?:ms|s|m|h)$/, 'must be a duration such as "1h"')
      .default("1h"),
  ),
  PAAS_MAX_BODY_BYTES: optionalString.pipe(positiveInt("bytes").default(65536)),
  PAAS_MAX_PREVIEWS: optionalString.pipe(positiveInt("previews per repository").optional()),
  PAAS_MAX_WEBHOOK_BYTES: optionalString.pipe(positiveInt("bytes").default(26_214_400)),
  PAAS_IMAGE_PREFIXES: optionalString.pipe(
    z
      .string()
      .transform((v) => v.split(",").map((p) => p.trim().toLowerCase()))
      .pipe(
        z
          .array(
            z
              .string()
              .regex(
                /^[a-z0-9.-]+(?::\d{1,5})?\/(?:[a-z0-9._{}-]+\/)*$/,
                "must be registry prefixes ending with / such as ghcr.io/{owner}/ (comma-separated)",
              ),
          )
          .min(1),
      )
      .optional(),
  ),
  PAAS_FORK_WORKFLOW: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,100}\.ya?ml$/, "must be a workflow file name such as paas.yml")
      .default("paas.yml"),
  ),
  PAAS_RELEASE_WORKFLOW: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,100}\.ya?ml$/, "must be a workflow file name such as paas-release.yml")
      .default("paas-release.yml"),
  ),
  PAAS_WAKE_ADDRESS: optionalString.pipe(
    z
      .string()
      .regex(
        /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/,
        "must be host:port, such as 127.0.0.1:3000",
      )
      .optional(),
  ),
  PAAS_ACTION: optionalString.pipe(
    z
      .string()
      .regex(
        /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*@[A-Za-z0-9_./-]+$/,
        "must name an Action as a workflow's uses: does, such as paas-dev/paas/action@v1",
      )
      .default("paas-dev/paas/action@v1"),
  ),
});

/** The release workflow deploys protected environments: never the one approved forks' code runs in. */
function workflowProblems(fork: string, release: string): string[] {
  return release === fork
    ? [
        `PAAS_RELEASE_WORKFLOW must not be PAAS_FORK_WORKFLOW (${fork}): approved forks' code runs in that workflow, so it may not deploy named environments`,
      ]
    : [];
}

export interface Settings {
  appId: number;
  /** PEM. Never logged. */
  privateKey: string;
  /** Never logged. */
  webhookSecret: string;
  webhookPath: string;
  /** GitHub Enterprise host; undefined for github.com. Probot builds `<protocol>://<host>/api/v3` from it. */
  gheHost: string | undefined;
  gheProtocol: "https" | "http";
  host: string | undefined;
  port: number;
  logLevel: "trace" | "debug" | "info" | "warn" | "error" | "fatal";
  runtime: "docker" | "kubernetes";
  /** App's own URL: serves the hand-off, and is the OIDC audience. */
  publicUrl: string;
  oidcIssuer: string;
  /** PAAS_DNS_PROVIDER and its variables, as src/dns reads them. Holds the Cloudflare token: never logged. */
  dns: DnsSettings;
  /** Where the probe connects to reach app URLs (the proxy or gateway); undefined: the URL's own host. */
  probeAddress: string | undefined;
  maxBodyBytes: number;
  /** Webhook deliveries above this are refused (GitHub caps payloads at 25 MB). */
  maxWebhookBytes: number;
  /** Live previews per repository (PAAS_MAX_PREVIEWS); undefined: no ceiling. */
  maxPreviews: number | undefined;
  /** Workflow file dispatched to build an approved fork pull request (PAAS_FORK_WORKFLOW); the onboarding pull request adds it. */
  forkWorkflow: string;
  /**
   * Workflow file dispatched to deploy a recorded image into a protected environment (day two:
   * rollback, promote; PAAS_RELEASE_WORKFLOW). Never the fork workflow: a fork's code runs there.
   */
  releaseWorkflow: string;
  /** The Action the onboarding pull request's workflow uses (PAAS_ACTION). */
  action: string;
  /** host:port at which Caddy reaches the App's wake handler (PAAS_WAKE_ADDRESS); default 127.0.0.1:<the App's port>. */
  wakeAddress: string | undefined;
  /** Registry prefixes hand-off images must start with; `{owner}` and `{repo}` are the repository's (PAAS_IMAGE_PREFIXES). */
  imagePrefixes: string[];
  /** A queued check with no hand-off after this long fails with "build not received". */
  buildTimeoutMs: number;
  /** Minimum time between content-creating GitHub requests (secondary rate limits). */
  githubWriteIntervalMs: number;
  /** Reconciler period (0: off); it also runs once at start. */
  reconcileIntervalMs: number;
  /** Environments and DNS records without an owner are removed after this long. */
  orphanGraceMs: number;
  platform: PlatformSettings;
  /** The key hand-off secrets are sealed to (PAAS_SEALING_KEY, PAAS_SEALING_KEY_PATH, or generated). */
  sealing: SealingKey;
}

/** Reads and validates settings. Throws SettingsError listing every problem at once. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const parsed = envSchema.safeParse(env);
  const problems: string[] = [];
  // The platform part is the one `paas plan` and `paas deploy` read too (platform.ts).
  const platform = readPlatformSettings(env);
  if ("problems" in platform) problems.push(...platform.problems);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? "");
      problems.push(`${key} ${issue.message}`);
    }
  }
  // DNS and runtime variables are read by their own modules: collect their problems too.
  let dns: DnsSettings = { provider: "none" };
  try {
    dns = dnsSettingsFromEnv(env);
  } catch (err) {
    if (!(err instanceof DnsSettingsError)) throw err;
    problems.push(...err.message.split("; "));
  }
  try {
    if ((env.PAAS_RUNTIME?.trim() || "docker") === "kubernetes") kubernetesSettingsFromEnv(env);
    else dockerSettingsFromEnv(env);
  } catch (err) {
    if (!(err instanceof KubernetesSettingsError || err instanceof DockerSettingsError)) throw err;
    problems.push(...err.message.split("; "));
  }
  if (!parsed.success || "problems" in platform) throw new SettingsError(problems);
  const e = parsed.data;
  const privateKey = readPrivateKey(e, problems);
  const sealing = loadSealingKey(env, problems);
  const publicUrl = new URL(e.PAAS_PUBLIC_URL);
  if (publicUrl.protocol !== "https:" && publicUrl.protocol !== "http:")
    problems.push("PAAS_PUBLIC_URL must be an http(s) URL");
  problems.push(...workflowProblems(e.PAAS_FORK_WORKFLOW, e.PAAS_RELEASE_WORKFLOW));
  if (problems.length > 0) throw new SettingsError(problems);
  return {
    appId: Number(e.APP_ID),
    privateKey: privateKey!,
    webhookSecret: e.WEBHOOK_SECRET,
    webhookPath: e.WEBHOOK_PATH ?? "/api/github/webhooks",
    gheHost: e.GHE_HOST,
    gheProtocol: e.GHE_PROTOCOL ?? "https",
    host: e.HOST,
    port: e.PORT ?? 3000,
    logLevel: e.LOG_LEVEL ?? "info",
    runtime: e.PAAS_RUNTIME,
    // The audience is compared as a string: keep the URL exactly as configured, minus a trailing slash.
    publicUrl: e.PAAS_PUBLIC_URL.replace(/\/+$/, ""),
    oidcIssuer: e.PAAS_OIDC_ISSUER.replace(/\/+$/, ""),
    dns,
    probeAddress: e.PAAS_PROBE_ADDRESS?.replace(/\/+$/, ""),
    maxBodyBytes: e.PAAS_MAX_BODY_BYTES,
    maxWebhookBytes: e.PAAS_MAX_WEBHOOK_BYTES,
    maxPreviews: e.PAAS_MAX_PREVIEWS,
    forkWorkflow: e.PAAS_FORK_WORKFLOW,
    releaseWorkflow: e.PAAS_RELEASE_WORKFLOW,
    action: e.PAAS_ACTION,
    wakeAddress: e.PAAS_WAKE_ADDRESS,
    imagePrefixes: e.PAAS_IMAGE_PREFIXES ?? [...DEFAULT_IMAGE_PREFIXES],
    githubWriteIntervalMs: e.PAAS_GITHUB_WRITE_INTERVAL_MS,
    buildTimeoutMs: durationMs(e.PAAS_BUILD_TIMEOUT),
    reconcileIntervalMs: durationMs(e.PAAS_RECONCILE_INTERVAL),
    orphanGraceMs: durationMs(e.PAAS_ORPHAN_GRACE),
    platform: platform.settings,
    sealing: sealing!,
  };
}

/** The GitHub App's private key from PRIVATE_KEY (PEM, one-line or base64) or PRIVATE_KEY_PATH; problems are pushed. */
function readPrivateKey(
  e: { PRIVATE_KEY?: string | undefined; PRIVATE_KEY_PATH?: string | undefined },
  problems: string[],
): string | undefined {
  let privateKey: string | undefined;
  if (e.PRIVATE_KEY) {
    // Accept the PEM itself, with literal "\n" (one-line env files), or base64 of it.
    privateKey = e.PRIVATE_KEY.includes("-----BEGIN")
      ? e.PRIVATE_KEY.replace(/\\n/g, "\n")
      : Buffer.from(e.PRIVATE_KEY, "base64").toString("utf8");
    if (!privateKey.includes("-----BEGIN"))
      problems.push("PRIVATE_KEY must be the App's PEM private key (or its base64)");
  } else if (e.PRIVATE_KEY_PATH) {
    try {
      privateKey = readFileSync(e.PRIVATE_KEY_PATH, "utf8");
    } catch (err) {
      problems.push(
        `PRIVATE_KEY_PATH cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"}): point it at the App's .pem file`,
      );
    }
    if (privateKey !== undefined && !privateKey.includes("-----BEGIN"))
      problems.push("PRIVATE_KEY_PATH must point at a PEM private key file");
  } else {
    problems.push("PRIVATE_KEY or PRIVATE_KEY_PATH is required: the GitHub App's private key (PEM)");
  }
  return privateKey;
}

/** Settings safe to log: secrets replaced by whether they are set. */
export function describeSettings(s: Settings): Record<string, unknown> {
  return {
    appId: s.appId,
    privateKey: "(set)",
    webhookSecret: "(set)",
    sealingKey: `${s.sealing.kid} (${s.sealing.source})`,
    gheHost: s.gheHost ?? "github.com",
    runtime: s.runtime,
    publicUrl: s.publicUrl,
    oidcIssuer: s.oidcIssuer,
    dns: s.dns.provider,
    probeAddress: s.probeAddress,
    baseDomain: s.platform.baseDomain,
    urlScheme: s.platform.urlScheme,
    urlPort: s.platform.urlPort,
    maxBodyBytes: s.maxBodyBytes,
    maxWebhookBytes: s.maxWebhookBytes,
    maxPreviews: s.maxPreviews,
    imagePrefixes: s.imagePrefixes,
    forkWorkflow: s.forkWorkflow,
    releaseWorkflow: s.releaseWorkflow,
    action: s.action,
    githubWriteIntervalMs: s.githubWriteIntervalMs,
    buildTimeoutMs: s.buildTimeoutMs,
    limits: s.platform.limits,
  };
}

/**
 * The environment Probot's own `createProbot` reads: Probot, not this code,
 * turns GHE_HOST/GHE_PROTOCOL into the API base URL.
 */
export function probotEnv(s: Settings): Record<string, string> {
  const env: Record<string, string> = {
    APP_ID: String(s.appId),
    PRIVATE_KEY: s.privateKey,
    WEBHOOK_SECRET: s.webhookSecret,
    WEBHOOK_PATH: s.webhookPath,
    LOG_LEVEL: s.logLevel,
  };
  if (s.gheHost) {
    env.GHE_HOST = s.gheHost;
    env.GHE_PROTOCOL = s.gheProtocol;
  }
  return env;
}
