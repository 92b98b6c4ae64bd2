import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/**
 * A directory that lives for one jest run (jest.config.js globalSetup/globalTeardown). Workers
 * start after the setup and inherit the variable; `buildStack` stores every build there, so a
 * stack (with a given config and clock) is built once per run, whichever test files read it.
 */
export const BUILD_CACHE_ENV = "SSEPT_BUILD_CACHE";

export function setupBuildCache(): void {
  if (process.env[BUILD_CACHE_ENV]) return;
  process.env[BUILD_CACHE_ENV] = fs.mkdtempSync(path.join(os.tmpdir(), "ssept-builds-"));
}

export function teardownBuildCache(): void {
  const dir = process.env[BUILD_CACHE_ENV];
  if (dir && path.basename(dir).startsWith("ssept-builds-")) fs.rmSync(dir, { recursive: true, force: true });
  delete process.env[BUILD_CACHE_ENV];
}
