#!/usr/bin/env node
// Thin launcher: Node >= 22.18 runs the TypeScript sources directly (type stripping).
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(
    `paas needs Node.js 22.19 or newer (24 LTS recommended); this is ${process.version}.\n` +
      "Install it with: bash scripts/quickstart.sh --node-only   (or use nvm / your package manager)",
  );
  process.exit(1);
}
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
