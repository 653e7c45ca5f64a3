// Request activity on Kubernetes: there is no portable source (an HTTPRoute has
// no request count), so the operator names the Gateway implementation's
// Prometheus counter of requests per backend (PAAS_K8S_ACTIVITY_*). Each scrape
// is compared with the previous one: a counter that grew means requests reached
// that environment's Service. The text format is parsed here rather than with a
// library: package.json has none (prom-client writes the format, it does not
// read it), and the one sample family needed is a few lines of grammar.
import { PaasError, messageOf } from "../../errors.ts";
import type { SleepSettings } from "./settings.ts";

/** One sample of the text exposition format: `name{label="value",…} value [timestamp]`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Samples of Prometheus text format 0.0.4 (and OpenMetrics text, whose samples share the
 * grammar): comments and HELP/TYPE lines are skipped, label values unescaped (\\ \" \n),
 * timestamps and exemplars ignored. A line that does not parse is skipped and counted:
 * exporters add families of their own, and one odd line must not hide the rest.
 */
export function parseMetrics(text: string): { samples: Sample[]; malformed: number } {
  const samples: Sample[] = [];
  let malformed = 0;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const s = parseSample(line);
    if (s) samples.push(s);
    else malformed++;
  }
  return { samples, malformed };
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseSample(line: string): Sample | undefined {
  const name = NAME.exec(line)?.[0];
  if (!name) return undefined;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === "{") {
    i++;
    for (;;) {
      while (line[i] === " ") i++;
      if (line[i] === "}") {
        i++;
        break;
      }
      const key = LABEL_NAME.exec(line.slice(i))?.[0];
      if (!key) return undefined;
      i += key.length;
      while (line[i] === " ") i++;
      if (line[i] !== "=") return undefined;
      i++;
      while (line[i] === " ") i++;
      if (line[i] !== '"') return undefined;
      i++;
      let value = "";
      for (;;) {
        const c = line[i];
        if (c === undefined) return undefined;
        i++;
        if (c === '"') break;
        if (c === "\\") {
          const e = line[i++];
          if (e === "n") value += "\n";
          else if (e === "\\" || e === '"') value += e;
          else return undefined;
        } else value += c;
      }
      labels[key] = value;
      while (line[i] === " ") i++;
      if (line[i] === ",") i++;
      else if (line[i] !== "}") return undefined;
    }
  }
  if (line[i] !== " " && line[i] !== "\t") return undefined;
  // Value, then an optional timestamp and (OpenMetrics) an optional " # exemplar".
  const [valueText] = line.slice(i).trim().split(/\s+/);
  const value = parseValue(valueText ?? "");
  return value === undefined ? undefined : { name, labels, value };
}

function parseValue(v: string): number | undefined {
  if (v === "+Inf" || v === "Inf") return Infinity;
  if (v === "-Inf") return -Infinity;
  if (v === "NaN") return NaN;
  if (!/^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/.test(v)) return undefined;
  return Number(v);
}

/** The label value `pattern` gives for `namespace`, as a whole-value match. */
export function backendMatcher(pattern: string, namespace: string): RegExp {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const [before, after] = pattern.split("{namespace}") as [string, string];
  const part = (s: string) => s.split("*").map(escape).join(".*");
  return new RegExp(`^${part(before)}${escape(namespace)}${part(after)}$`);
}

/**
 * Namespaces whose counter grew since the previous scrape. The first scrape only sets the
 * baseline (the Sleeper counts every environment active from its start). A series that is new
 * since then counts when above zero; one that went down was reset (the Gateway restarted) and
 * counts when above zero too.
 */
export class ActivityScraper {
  readonly #s: SleepSettings;
  readonly #fetch: typeof fetch;
  #previous: Map<string, number> | undefined;

  constructor(settings: SleepSettings, fetchImpl: typeof fetch = fetch) {
    this.#s = settings;
    this.#fetch = fetchImpl;
  }

  async active(namespaces: readonly string[]): Promise<Set<string>> {
    const text = await this.#scrape();
    const { samples } = parseMetrics(text);
    const current = new Map<string, number>();
    for (const s of samples) {
      if (s.name !== this.#s.counter) continue;
      const backend = s.labels[this.#s.label];
      if (backend === undefined || !Number.isFinite(s.value)) continue;
      // One backend may have several series (per method, code, entry point): summed.
      current.set(backend, (current.get(backend) ?? 0) + s.value);
    }
    const previous = this.#previous;
    this.#previous = current;
    const out = new Set<string>();
    if (!previous) return out;
    const grown = [...current].filter(([b, v]) => {
      const before = previous.get(b);
      return before === undefined || v < before ? v > 0 : v > before;
    });
    for (const ns of namespaces) {
      const m = backendMatcher(this.#s.pattern, ns);
      if (grown.some(([b]) => m.test(b))) out.add(ns);
    }
    return out;
  }

  async #scrape(): Promise<string> {
    const url = new URL(this.#s.metricsUrl);
    // Credentials in the URL never reach a message.
    const shown = `${url.origin}${url.pathname}`;
    const headers: Record<string, string> = { accept: "text/plain;version=0.0.4" };
    // fetch refuses a URL with credentials: they go as basic authentication instead.
    if (url.username || url.password) {
      const user = decodeURIComponent(url.username);
      const password = decodeURIComponent(url.password);
      headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
      url.username = "";
      url.password = "";
    }
    let res: Response;
    try {
      res = await this.#fetch(url, {
        headers,
        signal: AbortSignal.timeout(10_000),
      });
    } catch (e) {
      throw new PaasError(
        "activity_unavailable",
        `cannot read request activity from ${shown} (PAAS_K8S_ACTIVITY_METRICS_URL): ${messageOf(e)}; check that the Gateway's metrics are enabled and reachable from the App`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new PaasError(
        "activity_unavailable",
        `request activity from ${shown} (PAAS_K8S_ACTIVITY_METRICS_URL) answered HTTP ${res.status}; check the URL and that the Gateway's Prometheus metrics are enabled`,
      );
    }
    return res.text();
  }
}
