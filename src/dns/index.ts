// Builds the configured DNS provider from operator settings (environment
// variables for the App and the CLI).
import { z } from "zod";
import { DnsSettingsError } from "./errors.ts";
import type { RuntimeEnvironment } from "../core/spec.ts";
import { CloudflareDns, cloudflareOptionsSchema } from "./cloudflare.ts";
import { NoDns } from "./none.ts";
import { hostnameOwner } from "../core/ownership.ts";
import type { ClaimSource } from "./owner.ts";
import type { RateLimiter } from "./rate-limit.ts";
import type { DnsProvider } from "./types.ts";
import { WildcardDns } from "./wildcard.ts";

export { CloudflareDns } from "./cloudflare.ts";
export { NoDns } from "./none.ts";
export { WildcardDns } from "./wildcard.ts";
export { DnsApiError, DnsRecordConflictError, DnsSettingsError } from "./errors.ts";

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"])
  .transform((v) => v === "true" || v === "1" || v === "yes");

/** The environment variables read by `dnsSettingsFromEnv`. */
export const dnsEnvSchema = z.discriminatedUnion("PAAS_DNS_PROVIDER", [
  z.object({ PAAS_DNS_PROVIDER: z.literal("none") }),
  z.object({ PAAS_DNS_PROVIDER: z.literal("wildcard") }),
  z.object({
    PAAS_DNS_PROVIDER: z.literal("cloudflare"),
    CLOUDFLARE_API_TOKEN: z
      .string({ error: "CLOUDFLARE_API_TOKEN is required for PAAS_DNS_PROVIDER=cloudflare" })
      .min(1),
    CLOUDFLARE_ZONE_ID: z.string({
      error: "CLOUDFLARE_ZONE_ID is required for PAAS_DNS_PROVIDER=cloudflare",
    }),
    PAAS_DNS_TARGET: z.string({
      error:
        "PAAS_DNS_TARGET is required for PAAS_DNS_PROVIDER=cloudflare: the host's IP address or a hostname to CNAME to",
    }),
    PAAS_DNS_PROXIED: bool.default(true),
    CLOUDFLARE_API_URL: z.string().url().optional(),
  }),
]);

export type DnsSettings =
  | { provider: "none" }
  | { provider: "wildcard" }
  | {
      provider: "cloudflare";
      apiToken: string;
      zoneId: string;
      target: string;
      proxied: boolean;
      baseURL?: string | undefined;
    };

/** Reads PAAS_DNS_PROVIDER (none | wildcard | cloudflare, default none) and the provider's variables. */
export function dnsSettingsFromEnv(env: Record<string, string | undefined>): DnsSettings {
  const parsed = dnsEnvSchema.safeParse({ ...env, PAAS_DNS_PROVIDER: env.PAAS_DNS_PROVIDER || "none" });
  if (!parsed.success) {
    // Name the variable, never echo a value (the token is one).
    throw new DnsSettingsError(
      parsed.error.issues
        .map((i) =>
          i.path[0] === "PAAS_DNS_PROVIDER"
            ? "PAAS_DNS_PROVIDER must be none, wildcard or cloudflare"
            : i.message,
        )
        .join("; "),
    );
  }
  const e = parsed.data;
  if (e.PAAS_DNS_PROVIDER !== "cloudflare") return { provider: e.PAAS_DNS_PROVIDER };
  const settings = {
    provider: "cloudflare" as const,
    apiToken: e.CLOUDFLARE_API_TOKEN,
    zoneId: e.CLOUDFLARE_ZONE_ID,
    target: e.PAAS_DNS_TARGET,
    proxied: e.PAAS_DNS_PROXIED,
    baseURL: e.CLOUDFLARE_API_URL,
  };
  // The provider's own checks (zone id shape, target), at start rather than at the first deploy.
  const checked = cloudflareOptionsSchema.safeParse(settings);
  if (!checked.success) throw new DnsSettingsError(checked.error.issues.map((i) => i.message).join("; "));
  return settings;
}

export interface DnsDeps {
  /** Hostnames environments already serve, so wildcard and none can refuse cross-repository conflicts. */
  claims?: ClaimSource;
  limiter?: RateLimiter;
  fetch?: typeof fetch;
}

export function createDnsProvider(settings: DnsSettings, deps: DnsDeps = {}): DnsProvider {
  switch (settings.provider) {
    case "none":
      return new NoDns(deps.claims ? { claims: deps.claims } : {});
    case "wildcard":
      return new WildcardDns(deps.claims ? { claims: deps.claims } : {});
    case "cloudflare":
      return new CloudflareDns({
        apiToken: settings.apiToken,
        zoneId: settings.zoneId,
        target: settings.target,
        proxied: settings.proxied,
        baseURL: settings.baseURL,
        ...(deps.limiter ? { limiter: deps.limiter } : {}),
        ...(deps.fetch ? { fetch: deps.fetch } : {}),
      });
  }
}

/** Claims read from a runtime's labels (`runtime.list()`). */
export function claimsFromRuntime(runtime: { list(): Promise<RuntimeEnvironment[]> }): ClaimSource {
  return async () =>
    (await runtime.list()).flatMap((e) =>
      e.hostnames.map((hostname) => ({ hostname, owner: hostnameOwner(e.target, e.repositoryId) })),
    );
}
