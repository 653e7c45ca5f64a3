// Benchmark: size of each generated image vs its runtime base image plus the
// built artifact alone (Go/Rust: the binary; Python: the virtualenv and the
// app folder). A ratio near 1 means the image carries nothing else (no
// toolchain, no build cache). Run: node bench/build-size.ts [python go rust]
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { buildPrepared, prepareBuild } from "../src/image/index.ts";

const docker = new Docker();
const languages = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["python", "go", "rust"];

/** Bytes of the files under `p` inside the image, from the engine's tar export. */
async function bytesIn(image: string, p: string): Promise<number> {
  const container = await docker.createContainer({ Image: image, Cmd: ["true"] });
  try {
    const stream = (await container.getArchive({ path: p })) as unknown as NodeJS.ReadableStream;
    let n = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) n += chunk.length;
    return n;
  } finally {
    await container.remove({ force: true });
  }
}

for (const lang of languages) {
  const dir = await mkdtemp(path.join(tmpdir(), `paas-bench-size-${lang}-`));
  const tag = `paas-bench-size/${lang}:latest`;
  try {
    await cp(path.join(import.meta.dirname, "..", "examples", lang), dir, { recursive: true });
    const runtime = lang === "python" ? "paas-base/python:bookworm" : "paas-base/runtime:bookworm";
    const prepared = await prepareBuild({
      root: dir,
      baseImages: { builder: `paas-base/${lang}:bookworm`, runtime },
    });
    const built = await buildPrepared(docker, prepared, { tags: [tag], sha: "c".repeat(40) });
    const baseSize = (await docker.getImage(runtime).inspect()).Size;
    const artifact =
      lang === "python"
        ? (await bytesIn(tag, "/venv")) + (await bytesIn(tag, "/app"))
        : await bytesIn(tag, "/app");
    const builderSize = (await docker.getImage(`paas-base/${lang}:bookworm`).inspect()).Size;
    console.log(
      `${lang.padEnd(7)} image ${(built.size / 1e6).toFixed(1)} MB = base ${(baseSize / 1e6).toFixed(1)} MB + artifact ${(artifact / 1e6).toFixed(2)} MB ` +
        `→ ratio ${(built.size / (baseSize + artifact)).toFixed(3)} (builder image ${(builderSize / 1e6).toFixed(0)} MB, not shipped)`,
    );
  } finally {
    await docker
      .getImage(tag)
      .remove({ noprune: true })
      .catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
