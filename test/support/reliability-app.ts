// Child-process entry of the reliability suite: the App exactly as `paas start`
// runs it (startApp reads every setting from the environment), so the suite can
// SIGKILL it at any instant and start it again.
import { startApp } from "../../src/server/start.ts";

const server = await startApp(process.env, (line) => process.stderr.write(`${line}\n`));
process.stdout.write(`READY ${server.url}\n`);
