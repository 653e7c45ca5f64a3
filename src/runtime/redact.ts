// Secret values never reach a Check Run, even when the app prints them: the
// runtimes know the values they injected and mask them in the diagnosis.
import type { Diagnosis } from "./types.ts";

/** Replaces every occurrence of each value (4+ characters; longest first) by ***. */
export function redactLines(lines: readonly string[], values: readonly string[]): string[] {
  const secrets = [...new Set(values)].filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  if (secrets.length === 0) return [...lines];
  return lines.map((l) => secrets.reduce((acc, v) => acc.split(v).join("***"), l));
}

/** The diagnosis with secret values masked in its summary, events and logs. */
export function redactDiagnosis(d: Diagnosis, values: readonly string[]): Diagnosis {
  const [summary] = redactLines([d.summary], values);
  return {
    ...d,
    summary: summary!,
    events: redactLines(d.events, values),
    logs: redactLines(d.logs, values),
    state: d.state === undefined ? undefined : redactLines([d.state], values)[0],
  };
}
