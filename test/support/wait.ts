// Polling for what an asynchronous system reaches eventually (a deployment's
// final status, a reply comment): the value once `f` returns one, else an
// error naming what did not happen. Counts and states are asserted by the
// caller; no duration is.
export async function until<T>(
  what: string,
  f: () => T | undefined | Promise<T | undefined>,
  o: { timeoutMs?: number; everyMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 90_000);
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, o.everyMs ?? 100));
  }
}
