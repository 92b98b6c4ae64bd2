/**
 * The images CI builds and pushes (deploy.yml's matrix), tagged with the commit SHA, and the
 * stack config key that names each one. The build context and Dockerfile are as a person would
 * use them by hand (README.md, "Build and push images by hand").
 */
export interface ImageBuild {
  /** Repository name under the registry: <registry>/<name>:<tag>. */
  name: string;
  configKey: "trainerImage" | "mlflowImage" | "gatewayImage" | "simulatorImage";
  context: string;
  dockerfile: string;
}

export const IMAGES: readonly ImageBuild[] = [
  {
    name: "trainer",
    configKey: "trainerImage",
    context: "trainer-image",
    dockerfile: "trainer-image/Dockerfile",
  },
  {
    name: "mlflow",
    configKey: "mlflowImage",
    context: "trainer-image",
    dockerfile: "trainer-image/mlflow-server/Dockerfile",
  },
  {
    name: "gateway",
    configKey: "gatewayImage",
    context: "model-server",
    dockerfile: "model-server/gateway/Dockerfile",
  },
  {
    name: "simulator",
    configKey: "simulatorImage",
    context: "model-server",
    dockerfile: "model-server/simulator/Dockerfile",
  },
];

export function imageRef(registry: string, name: string, tag: string): string {
  if (!/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/.test(registry))
    throw new Error(
      `registry ${JSON.stringify(registry)}: expected host[/path] in lower case, e.g. ghcr.io/my-org`,
    );
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag) || tag === "latest")
    throw new Error(`tag ${JSON.stringify(tag)}: expected a pinned tag such as a commit SHA`);
  return `${registry}/${name}:${tag}`;
}
