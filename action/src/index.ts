// Entry point of the bundled Action (action/dist/index.js).
import { run } from "./main.ts";

await run();
