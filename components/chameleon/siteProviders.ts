import * as openstack from "@pulumi/openstack";
import * as pulumi from "@pulumi/pulumi";
import { SiteCredential } from "./clusterSpec";
import { SiteId } from "./sites";

export interface SiteProvidersArgs {
  /** One application credential per site in use. */
  credentials: Readonly<Partial<Record<SiteId, SiteCredential>>>;
}

/**
 * One explicit OpenStack provider per Chameleon site in use. Each site has its own Keystone, so
 * each provider carries that site's application credential; nothing falls back to OS_* variables.
 */
export class SiteProviders extends pulumi.ComponentResource {
  public readonly providers: Readonly<Partial<Record<SiteId, openstack.Provider>>>;

  constructor(name: string, args: SiteProvidersArgs, opts?: pulumi.ComponentResourceOptions) {
    super("ssept:chameleon:SiteProviders", name, {}, opts);
    const providers: Partial<Record<SiteId, openstack.Provider>> = {};
    for (const [id, credential] of Object.entries(args.credentials) as [SiteId, SiteCredential][]) {
      providers[id] = new openstack.Provider(
        `${name}-${id}`,
        {
          authUrl: credential.site.authUrl,
          region: credential.site.region,
          applicationCredentialId: credential.id,
          applicationCredentialSecret: credential.secret,
        },
        { parent: this },
      );
    }
    this.providers = providers;
    this.registerOutputs({});
  }

  /** The provider of a site; a missing one is a wiring bug, named here rather than deep in a provider. */
  of(site: SiteId): openstack.Provider {
    const provider = this.providers[site];
    if (!provider)
      throw new Error(`no OpenStack provider for site ${site}: its credential is not configured`);
    return provider;
  }
}
