// Generates schema/paas.schema.json and docs/configuration.md from the zod
// schema. `--check` fails when the committed files are stale.
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { jsonSchema, configurationDoc } from "../src/config/docs.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const outputs: [string, string][] = [
  ["schema/paas.schema.json", JSON.stringify(jsonSchema(), null, 2) + "\n"],
  ["docs/configuration.md", configurationDoc()],
];
const check = process.argv.includes("--check");
let stale = 0;
for (const [path, text] of outputs) {
  const current = await readFile(root + path, "utf8").catch(() => "");
  if (current === text) continue;
  if (check) {
    console.error(`${path} is stale: run npm run gen`);
    stale++;
  } else {
    await writeFile(root + path, text);
    console.log(`wrote ${path}`);
  }
}
process.exitCode = stale ? 1 : 0;
