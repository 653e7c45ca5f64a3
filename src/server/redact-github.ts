// The last line of defence for the App's own secrets: every request the App
// sends to GitHub (check runs, statuses, comments, deployments) has them
// masked, whatever error or text got into it. The runtimes and the DNS
// provider already mask the secrets they hold where their errors and logs are
// made; this catches what a future code path forgets.
import { Redactor } from "../redact.ts";
import type { Settings } from "../settings/app.ts";

/** The secrets the App itself holds: its private key, the webhook secret, its sealing key, the DNS API token. */
export function appSecrets(settings: Settings): string[] {
  const sealing = settings.sealing.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const values = [settings.privateKey, settings.webhookSecret, sealing];
  if (settings.dns.provider === "cloudflare") values.push(settings.dns.apiToken);
  return values;
}

interface OctokitRequestHook {
  hook: { before(name: "request", f: (options: Record<string, unknown>) => void): void };
}

// Request options that are not content: where and how to send, and the credentials.
const NOT_CONTENT = new Set(["method", "url", "baseUrl", "headers", "request", "mediaType"]);

/** An Octokit plugin masking `values` in every parameter and body of every request. */
export function redactRequestsPlugin(values: readonly string[]) {
  const redactor = new Redactor(values);
  const mask = (v: unknown): unknown => {
    if (typeof v === "string") return redactor.text(v);
    if (Array.isArray(v)) return v.map(mask);
    if (v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype)
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mask(x)]));
    return v;
  };
  return (octokit: OctokitRequestHook): void => {
    octokit.hook.before("request", (options) => {
      for (const key of Object.keys(options)) if (!NOT_CONTENT.has(key)) options[key] = mask(options[key]);
    });
  };
}
