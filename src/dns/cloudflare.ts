// Cloudflare DNS through the official SDK: one proxied record per environment
// hostname (TLS at Cloudflare's edge). Ownership lives in the record comment
// (`paas:<owner key> <owner>`), so the platform never touches a record it did
// not create and refuses a hostname another repository holds.
import { isIPv4, isIPv6 } from "node:net";
import Cloudflare, { APIError } from "cloudflare";
import type { RecordListParams } from "cloudflare/resources/dns/records";
import { z } from "zod";
import { redactError } from "../redact.ts";
import { conflictingClaim, HostnameTakenError, normalizeHostname } from "../core/ownership.ts";
import { DnsApiError, DnsRecordConflictError, DnsSettingsError } from "./errors.ts";
import { ownerComment, parseOwnerComment } from "./owner.ts";
import { CLOUDFLARE_RATE_LIMIT, RateLimiter, limitedFetch } from "./rate-limit.ts";
import type { DnsOwner, DnsProvider } from "./types.ts";

export const cloudflareOptionsSchema = z.object({
  apiToken: z
    .string()
    .min(1, "CLOUDFLARE_API_TOKEN is empty: create an API token with Zone.DNS edit permission"),
  zoneId: z
    .string()
    .regex(/^[a-f0-9]{32}$/, "CLOUDFLARE_ZONE_ID must be the 32-character zone id from the dashboard"),
  /** What every hostname points to: a hostname (CNAME) or the Docker host's IPv4/IPv6 address (A/AAAA). */
  target: z
    .string()
    .min(1)
    .refine(
      (t) =>
        isIPv4(t) ||
        isIPv6(t) ||
        /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\.?$/i.test(t),
      "PAAS_DNS_TARGET must be a hostname (CNAME) or an IP address (A/AAAA)",
    ),
  proxied: z.boolean().default(true),
  /** API base URL; default https://api.cloudflare.com/client/v4. */
  baseURL: z.string().url().optional(),
  /** Retries of 429, 5xx and timeouts, with exponential backoff (Retry-After honoured). */
  maxRetries: z.number().int().min(0).max(10).default(4),
  timeoutMs: z.number().int().min(1).default(30_000),
});
export type CloudflareOptions = z.input<typeof cloudflareOptionsSchema> & {
  /** Shared budget; one per API token. Default: 1,200 requests per 5 minutes. */
  limiter?: RateLimiter;
  /** Underlying fetch (proxies, instrumentation). */
  fetch?: typeof fetch;
};

// The SDK types result_info without total_pages, which the API returns.
const resultInfo = z.object({ total_pages: z.number().int().min(0) });

type RecordType = "A" | "AAAA" | "CNAME";
interface CfRecord {
  id: string;
  name: string;
  type: string;
  content?: string | undefined;
  proxied?: boolean | undefined;
  comment?: string | null | undefined;
}

export class CloudflareDns implements DnsProvider {
  readonly kind = "cloudflare" as const;
  readonly #client: Cloudflare;
  readonly #zoneId: string;
  readonly #target: string;
  readonly #type: RecordType;
  readonly #proxied: boolean;
  readonly #token: string;

  constructor(options: CloudflareOptions) {
    const parsed = cloudflareOptionsSchema.safeParse(options);
    if (!parsed.success) throw new DnsSettingsError(parsed.error.issues.map((i) => i.message).join("; "));
    const o = parsed.data;
    const limiter = options.limiter ?? new RateLimiter(CLOUDFLARE_RATE_LIMIT);
    this.#client = new Cloudflare({
      apiToken: o.apiToken,
      baseURL: o.baseURL,
      maxRetries: o.maxRetries,
      timeout: o.timeoutMs,
      // Every HTTP request, the SDK's own retries included, spends the budget.
      fetch: limitedFetch(limiter, options.fetch ?? fetch),
    });
    this.#zoneId = o.zoneId;
    this.#token = o.apiToken;
    this.#target = o.target.replace(/\.$/, "").toLowerCase();
    this.#type = isIPv4(this.#target) ? "A" : isIPv6(this.#target) ? "AAAA" : "CNAME";
    this.#proxied = o.proxied;
  }

  async upsert(hostname: string, owner: DnsOwner): Promise<void> {
    const name = normalizeHostname(hostname);
    const records = await this.#byName(name);
    const { ours, taken, foreign } = classify(records, owner);
    if (taken) throw new HostnameTakenError(name, taken);
    // A CNAME cannot share its name with any record; A/AAAA only clash with address records.
    const clashing = foreign.filter((r) => this.#type === "CNAME" || ["A", "AAAA", "CNAME"].includes(r.type));
    if (clashing.length > 0)
      throw new DnsRecordConflictError(name, [...new Set(clashing.map((r) => r.type))]);

    const comment = ownerComment(owner);
    const [keep, ...duplicates] = ours.filter((r) => r.type === this.#type);
    // Records of another type (the target changed from a hostname to an IP) and duplicates left by an interrupted run go.
    for (const r of [...ours.filter((r) => r.type !== this.#type), ...duplicates]) await this.#delete(r.id);
    const body = { type: this.#type, name, content: this.#target, proxied: this.#proxied, ttl: 1, comment };
    if (!keep) {
      await this.#call(`create the DNS record for ${name}`, () =>
        this.#client.dns.records.create({ zone_id: this.#zoneId, ...body }),
      );
      return;
    }
    if (
      normalizeHostname(keep.content ?? "") === this.#target &&
      keep.proxied === this.#proxied &&
      keep.comment === comment
    ) {
      return;
    }
    await this.#call(`update the DNS record for ${name}`, () =>
      this.#client.dns.records.edit(keep.id, { zone_id: this.#zoneId, ...body }),
    );
  }

  async claim(hostname: string, owner: DnsOwner): Promise<void> {
    const name = normalizeHostname(hostname);
    const { taken, foreign } = classify(await this.#byName(name), owner);
    if (taken) throw new HostnameTakenError(name, taken);
    const clashing = foreign.filter((r) => this.#type === "CNAME" || ["A", "AAAA", "CNAME"].includes(r.type));
    if (clashing.length > 0)
      throw new DnsRecordConflictError(name, [...new Set(clashing.map((r) => r.type))]);
  }

  async remove(hostname: string, owner: DnsOwner): Promise<void> {
    const name = normalizeHostname(hostname);
    const records = await this.#byName(name);
    for (const r of records) {
      if (parseOwnerComment(r.comment)?.key === owner.key) await this.#delete(r.id);
    }
  }

  async list(): Promise<{ hostname: string; ownerKey: string }[]> {
    const records = await this.#pages("list DNS records", { comment: { startswith: "paas:" } }, 500);
    return records.flatMap((r) => {
      const o = parseOwnerComment(r.comment);
      return o ? [{ hostname: r.name, ownerKey: o.key }] : [];
    });
  }

  #byName(name: string): Promise<CfRecord[]> {
    return this.#pages(`look up DNS records of ${name}`, { name: { exact: name } }, 100);
  }

  /**
   * All pages of a listing. Stops at result_info.total_pages: the SDK's
   * auto-pagination asks for one more (empty) page, which would spend a
   * request of the budget on every lookup.
   */
  async #pages(
    what: string,
    filter: Omit<RecordListParams, "zone_id">,
    perPage: number,
  ): Promise<CfRecord[]> {
    const out: CfRecord[] = [];
    for (let page = 1; ; page++) {
      const res = await this.#call(what, () =>
        this.#client.dns.records.list({ zone_id: this.#zoneId, ...filter, page, per_page: perPage }),
      );
      out.push(...res.result);
      const total = resultInfo.safeParse(res.result_info).data?.total_pages ?? 1;
      if (page >= total || res.result.length < perPage) return out;
    }
  }

  async #delete(id: string): Promise<void> {
    try {
      await this.#client.dns.records.delete(id, { zone_id: this.#zoneId });
    } catch (err) {
      // Already gone is what we wanted.
      if (err instanceof APIError && err.status === 404) return;
      throw redactError(toDnsError(`delete DNS record ${id}`, err), [this.#token]);
    }
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      // An answer (or a proxy in between) may quote the token: errors reach check runs and logs.
      throw redactError(toDnsError(what, err), [this.#token]);
    }
  }
}

function toDnsError(what: string, err: unknown): DnsApiError {
  if (!(err instanceof APIError))
    return new DnsApiError(`could not ${what} in Cloudflare: ${String(err)}`, undefined, { cause: err });
  const status = err.status;
  const detail = err.errors.map((e) => `${e.code}: ${e.message}`).join("; ") || err.message;
  const fix =
    status === 401 || status === 403
      ? "; check CLOUDFLARE_API_TOKEN (it needs Zone.DNS edit on this zone) and CLOUDFLARE_ZONE_ID"
      : status === 429
        ? "; the API token's budget (1,200 requests per 5 minutes) is spent: wait 5 minutes"
        : "";
  return new DnsApiError(
    `could not ${what} in Cloudflare (${status ?? "no response"}: ${detail})${fix}`,
    status,
    {
      cause: err,
    },
  );
}

/** Splits the records of one name into ours, another repository's, and records paas did not create. */
export function classify(
  records: CfRecord[],
  owner: DnsOwner,
): { ours: CfRecord[]; taken: DnsOwner | undefined; foreign: CfRecord[] } {
  const ours: CfRecord[] = [];
  const foreign: CfRecord[] = [];
  let taken: DnsOwner | undefined;
  for (const r of records) {
    const o = parseOwnerComment(r.comment);
    if (!o) foreign.push(r);
    // The same repository may move a hostname between its environments (a custom domain from staging to production).
    else if (conflictingClaim(r.name, owner, [{ hostname: r.name, owner: o }], "repository")) taken ??= o;
    else ours.push(r);
  }
  return { ours, taken, foreign };
}
