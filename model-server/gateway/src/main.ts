import { EnvConfigError } from "../../common/env";
import { loadGatewayConfig } from "./config";
import { createGateway } from "./gateway";

export async function main(): Promise<void> {
  const c = loadGatewayConfig();
  const { app, eventLog, backends, close } = await createGateway(c);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: draining requests, flushing ${eventLog?.pending ?? 0} buffered events`);
    try {
      const clean = await close();
      console.log(
        clean ? `${signal}: stopped cleanly` : `${signal}: stopped, ${eventLog?.pending} events NOT written`,
      );
      process.exit(clean ? 0 : 1);
    } catch (err) {
      console.error(`${signal}: shutdown failed: ${(err as Error).message}`);
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  const address = await app.listen({ port: c.PORT, host: c.HOST });
  const tracks = Object.entries(backends)
    .map(([t, b]) => `${t}=${b?.kind}:${b?.modelName}/v${b?.version}`)
    .join(" ");
  console.log(`gateway listening on ${address} (${tracks}, canary weight ${c.CANARY_WEIGHT})`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(
      err instanceof EnvConfigError ? err.message : `gateway failed to start: ${err.stack ?? err.message}`,
    );
    process.exit(1);
  });
}
