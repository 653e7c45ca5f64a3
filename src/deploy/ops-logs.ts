// `/paas logs`: an environment's recent lines (already masked by the runtime)
// as a check run's output, bounded to what GitHub accepts.
import type { CheckRunOutput } from "../github/port.ts";
import type { LogStream } from "../runtime/types.ts";

/** Lines per container or pod. */
export const LOG_TAIL = 200;
/** GitHub's limit on a check run's text is 65535 characters: keep the newest lines within it. */
const MAX_TEXT = 60_000;

export function logsOutput(environment: string, streams: readonly LogStream[]): CheckRunOutput {
  const count = streams.reduce((n, s) => n + s.lines.length, 0);
  const blocks = streams.map((s) => {
    const body = s.lines
      .map((l) => `${l.time ? `${l.time} ` : ""}${l.text}`)
      .join("\n")
      // A line cannot close the fence.
      .replace(/`{3,}/g, (m) => m.replace(/`/g, "ˋ"));
    return `#### ${s.source.replace(/[#\n`]/g, "")}\n\n\`\`\`text\n${body || "(no output yet)"}\n\`\`\``;
  });
  let text = blocks.join("\n\n");
  if (text.length > MAX_TEXT) text = `… (older lines cut)\n${text.slice(-MAX_TEXT)}`;
  return {
    title: `Recent logs of ${environment}`,
    summary:
      streams.length === 0
        ? `No container or pod of ${environment} is running.`
        : `The last ${count} line(s) of ${streams.length} container(s) or pod(s) of ${environment}, secret values masked. Run \`/paas logs\` again for newer lines, or \`paas logs --env ${environment} --follow\` on the host.`,
    text,
  };
}
