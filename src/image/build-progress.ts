// The engine's build progress turned into a readable log, the failing step and
// the step counts: the classic builder's text lines and BuildKit's vertex
// updates. Its own module because it only parses, apart from talking to the engine.
import { decodeTrace, STEP_VERTEX, type TraceVertex } from "./buildkit-trace.ts";

const STEP_RE = /^Step (\d+)\/\d+ : (.*)$/;

/** The classic builder's text output: "Step N/M : …", " ---> Using cache", "Successfully built …". */
export class LegacyProgress {
  step: { index: number; instruction: string } | undefined;
  steps = 0;
  cacheHits = 0;
  imageId: string | undefined;
  private readonly emit: (line: string) => void;
  constructor(emit: (line: string) => void) {
    this.emit = emit;
  }
  line(line: string): void {
    this.emit(line);
    const m = STEP_RE.exec(line);
    if (m) {
      this.steps++;
      this.step = { index: Number(m[1]), instruction: m[2]! };
    } else if (/^ ---> Using cache$/.test(line)) this.cacheHits++;
    else {
      const built = /^Successfully built ([0-9a-f]{12,64})$/.exec(line);
      if (built && !this.imageId) this.imageId = built[1];
    }
  }
}

/**
 * BuildKit's vertex updates, turned into a plain log like `--progress=plain`
 * ("#3 [builder 2/7] RUN …", its output, "#3 CACHED", "#3 ERROR: …"), with the
 * counts of Dockerfile steps and of those answered from the cache.
 */
export class BuildKitProgress {
  private readonly vertexes = new Map<
    string,
    TraceVertex & { n: number; output: string[]; partial: string }
  >();
  private readonly emit: (line: string) => void;
  private readonly instructions: string[];
  private failed: string | undefined;
  constructor(emit: (line: string) => void, dockerfileText: string | undefined) {
    this.emit = emit;
    this.instructions = dockerfileText ? dockerfileInstructions(dockerfileText) : [];
  }

  update(aux: string): void {
    let decoded;
    try {
      decoded = decodeTrace(aux);
    } catch (err) {
      this.emit(`(unreadable BuildKit progress: ${(err as Error).message})`);
      return;
    }
    for (const v of decoded.vertexes) {
      let known = this.vertexes.get(v.digest);
      if (!known) {
        known = { ...v, cached: false, completed: false, n: this.vertexes.size + 1, output: [], partial: "" };
        this.vertexes.set(v.digest, known);
        if (v.name) this.emit(`#${known.n} ${v.name}`);
      }
      if (v.cached && !known.cached) {
        known.cached = true;
        this.emit(`#${known.n} CACHED`);
      }
      if (v.error && !known.error) {
        known.error = v.error;
        this.failed ??= v.digest;
        this.emit(`#${known.n} ERROR: ${v.error}`);
      } else if (v.completed && !known.completed && !v.cached) {
        known.completed = true;
        this.emit(`#${known.n} DONE`);
      }
    }
    for (const l of decoded.logs) {
      const v = this.vertexes.get(l.vertex);
      const text = (v?.partial ?? "") + l.text;
      const parts = text.replace(/\r(?!\n)/g, "\n").split(/\r?\n/);
      const rest = parts.pop() ?? "";
      if (v) v.partial = rest;
      for (const p of parts) {
        v?.output.push(p);
        this.emit(p);
      }
    }
  }

  counts(): { steps: number; cacheHits: number } {
    let steps = 0;
    let cacheHits = 0;
    for (const v of this.vertexes.values()) {
      // FROM only resolves the base image (BuildKit reports it CACHED once it is local): not a build step.
      const m = STEP_VERTEX.exec(v.name);
      if (!m || /^FROM\s/i.test(m[4]!)) continue;
      steps++;
      if (v.cached) cacheHits++;
    }
    return { steps, cacheHits };
  }

  failedStep(): { index: number; instruction: string } | undefined {
    return this.failed ? this.stepOf(this.vertexes.get(this.failed)!) : undefined;
  }

  /** The last step that started and has not finished (what a timeout interrupted). */
  runningStep(): { index: number; instruction: string } | undefined {
    const running = [...this.vertexes.values()].filter(
      (v) => !v.completed && !v.cached && STEP_VERTEX.test(v.name),
    );
    return running.length > 0 ? this.stepOf(running[running.length - 1]!) : undefined;
  }

  /** Repeats the failing step's own output last, so the failure is read from it alone. */
  appendFailure(): void {
    const v = this.failed ? this.vertexes.get(this.failed) : undefined;
    if (!v) return;
    if (v.partial) v.output.push(v.partial);
    this.emit(`#${v.n} ${v.name} (failed)`);
    for (const line of v.output) this.emit(line);
  }

  private stepOf(v: TraceVertex): { index: number; instruction: string } | undefined {
    const m = STEP_VERTEX.exec(v.name);
    if (!m) return undefined;
    const instruction = normalizeInstruction(m[4]!);
    const want = instruction;
    const i = this.instructions.findIndex((t) => t === want);
    // Without the Dockerfile the number is BuildKit's within its stage.
    return { index: i >= 0 ? i + 1 : Number(m[2]), instruction };
  }
}

/** The Dockerfile's instructions, numbered as the classic builder numbers its steps (continuations joined). */
function dockerfileInstructions(text: string): string[] {
  const out: string[] = [];
  let current: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const t = raw.trim();
    if (current === undefined) {
      if (t === "" || t.startsWith("#")) continue;
      current = "";
    } else if (t.startsWith("#")) continue;
    const continued = /\\$/.test(t);
    current += `${continued ? t.slice(0, -1) : t} `;
    if (!continued) {
      out.push(normalizeInstruction(current));
      current = undefined;
    }
  }
  if (current !== undefined) out.push(normalizeInstruction(current));
  return out;
}

function normalizeInstruction(s: string): string {
  // BuildKit upper-cases the keyword and collapses whitespace in vertex names.
  const t = s.trim().replace(/\s+/g, " ");
  const sp = t.indexOf(" ");
  return sp < 0 ? t.toUpperCase() : `${t.slice(0, sp).toUpperCase()}${t.slice(sp)}`;
}
