// How both runtimes run a start command. Minimal runtime images (distroless,
// scratch plus a binary) have no shell, so a command that is a plain argv is
// executed directly; only a command that needs a shell (variables, quotes,
// pipes, `;`, `&&`) goes through /bin/sh -c, which such images cannot run.

/** Words made only of these characters mean the same to a shell and to exec. */
const PLAIN_WORD = /^[\w@%+=:,./-]+$/;

/**
 * The argv for a start command: its words when every word is plain (no shell
 * syntax), else `/bin/sh -c <command>` so `$PORT`, quotes and operators work.
 */
export function startArgv(command: string): string[] {
  const words = command.trim().split(/\s+/);
  if (words.length > 0 && words.every((w) => PLAIN_WORD.test(w))) return words;
  return ["/bin/sh", "-c", command];
}
