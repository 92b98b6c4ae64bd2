import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { REPO } from "./services";

const read = (p: string) => readFileSync(path.join(REPO, p), "utf-8");
const json = (p: string) => JSON.parse(read(p));

describe("the model-server images", () => {
  const image = json("model-server/package.json");
  const imageLock = json("model-server/package-lock.json");
  const rootLock = json("package-lock.json");

  test("pin exactly the versions the tests ran with (the root lock)", () => {
    for (const [name, version] of Object.entries({ ...image.dependencies, ...image.devDependencies })) {
      expect({ name, version }).toEqual({
        name,
        version: rootLock.packages[`node_modules/${name}`]?.version,
      });
      expect({ name, locked: imageLock.packages[`node_modules/${name}`]?.version }).toEqual({
        name,
        locked: version,
      });
    }
    expect(imageLock.packages[""].dependencies).toEqual(image.dependencies);
  });

  test("onnxruntime-node's install script is allowed explicitly in both package.json files", () => {
    expect(image.allowScripts).toEqual({ "onnxruntime-node": true });
    expect(json("package.json").allowScripts).toMatchObject({ "onnxruntime-node": true });
  });

  test.each([
    ["gateway", "dist/gateway/src/main.js", "8080"],
    ["simulator", "dist/simulator/src/main.js", "9400"],
  ])(
    "%s Dockerfile: Node 22 or 24 LTS, pinned, non-root, runs a compiled entry point that exists",
    (name, entry, port) => {
      const dockerfile = read(`model-server/${name}/Dockerfile`);
      const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
      expect(bases.length).toBe(2);
      for (const base of bases) expect(base).toMatch(/^node:(22|24)\.\d+\.\d+-bookworm-slim$/);
      expect(dockerfile).toMatch(/^USER node$/m);
      expect(dockerfile).toMatch(/ENV ONNXRUNTIME_NODE_INSTALL=skip/);
      expect(dockerfile).toContain(`CMD ["node", "${entry}"]`);
      expect(dockerfile).toContain(`EXPOSE ${port}`);
      const source = entry.replace(/^dist\//, "model-server/").replace(/\.js$/, ".ts");
      expect(existsSync(path.join(REPO, source))).toBe(true);
      expect(existsSync(path.join(REPO, "model-server/gateway/src/bootstrap.ts"))).toBe(true);
    },
  );
});
