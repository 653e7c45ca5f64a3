// Bundles the Action into action/dist/index.js (committed: runners execute it
// without installing anything). Output is deterministic for the same sources
// and lockfile, so a test can rebuild into a temp dir and compare bytes.
//   node action/build.ts [outdir]
import { copyFile, mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.resolve(process.argv[2] ?? path.join(root, "action", "dist"));

await build({
  absWorkingDir: root,
  entryPoints: ["action/src/index.ts"],
  outfile: path.join(outdir, "index.js"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node24",
  // CommonJS dependencies (dockerode, ssh2) use require(), __dirname and __filename.
  banner: {
    js: [
      'import { createRequire as __paasCreateRequire } from "node:module";',
      'import { fileURLToPath as __paasFileURLToPath } from "node:url";',
      "const require = __paasCreateRequire(import.meta.url);",
      "const __filename = __paasFileURLToPath(import.meta.url);",
      'const __dirname = __paasFileURLToPath(new URL(".", import.meta.url));',
    ].join("\n"),
  },
  // ssh2's optional native pieces: required inside try/catch, with pure-JS fallbacks.
  external: ["cpu-features", "*.node"],
  legalComments: "none",
  sourcemap: false,
  minify: false,
  logLevel: "warning",
});

// dockerode opens a BuildKit session for `version=2` builds and loads its gRPC
// service definition from "proto/" beside the code at run time: ship it.
const protoSource = path.join(root, "node_modules", "dockerode", "lib", "proto");
await mkdir(path.join(outdir, "proto"), { recursive: true });
for (const f of (await readdir(protoSource)).filter((n) => n.endsWith(".proto")).sort()) {
  await copyFile(path.join(protoSource, f), path.join(outdir, "proto", f));
}
