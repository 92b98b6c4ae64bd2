import * as pulumi from "@pulumi/pulumi";
import { Network } from "../components/chameleon/network";
import { ObjectStorage } from "../components/chameleon/objectStorage";
import { SiteProviders } from "../components/chameleon/siteProviders";
import { ClusterAccess } from "../components/platform/clusterAccess";
import { S3Access } from "../components/platform/context";
import { ChameleonCluster, PlatformConfig } from "./config";
import { StackOutputs } from "./outputs";

/** What the cloud layer hands the platform: a cluster to deploy onto and S3 to keep data in. */
interface ClusterLayer {
  kubeconfig?: pulumi.Output<string>;
  s3: S3Access;
  outputs: StackOutputs;
}

/**
 * Builds the whole estate from one validated config. The order is the dependency order:
 * Chameleon (or an existing cluster) → cluster access → platform services → applications.
 */
export function buildEstate(config: PlatformConfig): StackOutputs {
  const layer =
    config.cluster.mode === "chameleon" ? chameleonLayer(config, config.cluster) : existingLayer(config);
  const outputs: StackOutputs = {
    environment: config.environment,
    clusterMode: config.cluster.mode,
    buckets: config.buckets,
    s3Endpoint: layer.s3.endpoint,
    s3AccessKey: layer.s3.accessKey,
    s3SecretKey: layer.s3.secretKey,
    ...layer.outputs,
  };

  if (layer.kubeconfig) {
    const cluster = new ClusterAccess("ssept", { kubeconfig: layer.kubeconfig });
    void cluster;
  }
  return outputs;
}

function chameleonLayer(config: PlatformConfig, c: ChameleonCluster): ClusterLayer {
  const sites = new SiteProviders("ssept", { credentials: c.credentials });
  const network = new Network(`ssept-${c.sites.compute.id}`, {
    site: c.sites.compute,
    provider: sites.of(c.sites.compute.id),
    environment: config.environment,
    externalNetwork: c.network.externalNetwork,
    subnetCidr: c.network.subnetCidr,
    adminCidrs: c.adminCidrs,
    floatingIps: c.network.sporadicFloatingIp ? ["ingress", "sporadic"] : ["ingress"],
    openHttp: config.ingress.tlsMode === "acme",
  });
  const storage = new ObjectStorage("ssept-objects", {
    provider: sites.of(c.sites.objectStore.id),
    buckets: config.buckets,
    endpoint: config.objectStore.endpoint,
    protectBuckets: true,
  });
  return {
    s3: storage.s3,
    outputs: {
      ingressIp: network.floatingIps.ingress.address,
      sporadicIp: network.floatingIps.sporadic?.address,
    },
  };
}

function existingLayer(config: PlatformConfig): ClusterLayer {
  if (config.cluster.mode !== "existing" || !config.objectStore.credentials) {
    throw new Error(
      "existing mode needs existingKubeconfig and S3 credentials (validated in stacks/config.ts)",
    );
  }
  return {
    kubeconfig: config.cluster.kubeconfig,
    s3: { endpoint: config.objectStore.endpoint, ...config.objectStore.credentials },
    outputs: { kubeconfig: config.cluster.kubeconfig },
  };
}
