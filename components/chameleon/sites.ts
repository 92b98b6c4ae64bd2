/**
 * The Chameleon sites this project can use. Facts, not configuration: each site has its own
 * Keystone, so an application credential is valid at one site only.
 */
export const SITES = {
  "kvm-tacc": {
    region: "KVM@TACC",
    authUrl: "https://kvm.tacc.chameleoncloud.org:5000/v3",
    hasObjectStore: false,
    bareMetal: false,
  },
  "chi-tacc": {
    region: "CHI@TACC",
    authUrl: "https://chi.tacc.chameleoncloud.org:5000/v3",
    hasObjectStore: true,
    bareMetal: true,
  },
  "chi-uc": {
    region: "CHI@UC",
    authUrl: "https://chi.uc.chameleoncloud.org:5000/v3",
    hasObjectStore: true,
    bareMetal: true,
  },
} as const;

export type SiteId = keyof typeof SITES;
export const SITE_IDS = Object.keys(SITES) as SiteId[];

export interface Site {
  id: SiteId;
  region: string;
  authUrl: string;
  hasObjectStore: boolean;
  bareMetal: boolean;
}

export function site(id: SiteId): Site {
  return { id, ...SITES[id] };
}

/** Ceph RGW serves the S3 API on port 7480 at the CHI sites. */
export function s3EndpointOf(id: SiteId): string {
  const host = new URL(SITES[id].authUrl).hostname;
  return `https://${host}:7480`;
}
