import { SiteProviders } from "../components/chameleon/siteProviders";
import { ClusterAccess } from "../components/platform/clusterAccess";
import { PlatformConfig } from "./config";
import { StackOutputs } from "./outputs";

/**
 * Builds the whole estate from one validated config. The order is the dependency order:
 * Chameleon (or an existing cluster) → cluster access → platform services → applications.
 */
export function buildEstate(config: PlatformConfig): StackOutputs {
  const outputs: StackOutputs = {
    environment: config.environment,
    clusterMode: config.cluster.mode,
    buckets: config.buckets,
    s3Endpoint: config.objectStore.endpoint,
  };

  let kubeconfig;
  if (config.cluster.mode === "chameleon") {
    const sites = new SiteProviders("ssept", { credentials: config.cluster.credentials });
    void sites;
    // The Chameleon estate (leases, network, k3s cluster, object storage) lands with issue 3;
    // until then chameleon mode declares only the site providers.
    kubeconfig = undefined;
  } else {
    kubeconfig = config.cluster.kubeconfig;
    outputs.kubeconfig = kubeconfig;
    outputs.s3AccessKey = config.objectStore.credentials?.accessKey;
    outputs.s3SecretKey = config.objectStore.credentials?.secretKey;
  }

  if (kubeconfig) {
    const cluster = new ClusterAccess("ssept", { kubeconfig });
    void cluster;
  }
  return outputs;
}
