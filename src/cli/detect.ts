// `paas detect [dir] [--json]`: the build plan detection chose, with its reasons.
import { resolveApps } from "../config/load.ts";
import { detect, diskSource, formatPlan } from "../detect/index.ts";
import { appDir, args, loadConfigAt, type Command } from "./io.ts";

export const detectCommand: Command = async (argv, io) => {
  const { values, positionals } = args(argv, {
    json: { type: "boolean", default: false },
    app: { type: "string" },
  });
  const dir = await appDir(positionals[0], io.cwd);
  const loaded = await loadConfigAt(dir, io.cwd);
  let apps = resolveApps(loaded);
  if (values.app !== undefined) {
    apps = apps.filter((a) => a.key === values.app);
    if (apps.length === 0) {
      io.err(`paas detect: error: no app "${values.app}" under apps in ${loaded.file}`);
      return 1;
    }
  }
  const plans = [];
  for (const app of apps) {
    const plan = await detect(diskSource(dir), app.config, { appPath: app.path });
    plans.push({ app: app.key, ...plan });
  }
  if (values.json) {
    io.out(JSON.stringify(plans.length === 1 && !plans[0]!.app ? plans[0] : plans, null, 2));
  } else {
    io.out(plans.map((p) => (p.app ? `app ${p.app} (${p.appPath})\n` : "") + formatPlan(p)).join("\n\n"));
  }
  return 0;
};
