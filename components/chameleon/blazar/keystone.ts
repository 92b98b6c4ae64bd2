import { describeFailure, httpRequest } from "./http";

/** Where and as whom: one Chameleon site and one application credential of that site. */
export interface SiteCredential {
  authUrl: string;
  region: string;
  credentialId: string;
  credentialSecret: string;
}

export interface CatalogEndpoint {
  interface: string;
  region?: string;
  region_id?: string;
  url: string;
}

export interface CatalogService {
  type: string;
  name?: string;
  endpoints: CatalogEndpoint[];
}

export interface Session {
  token: string;
  catalog: CatalogService[];
  authUrl: string;
  region: string;
  timeoutMs: number;
}

/** `https://host:5000/v3` whether the site gives `…/v3`, `…/v3/` or the bare host. */
export function identityBase(authUrl: string): string {
  const trimmed = authUrl.replace(/\/+$/, "");
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

/**
 * Keystone v3 password-less login with an application credential: POST /v3/auth/tokens with method
 * `application_credential`. The token arrives in the `X-Subject-Token` header, the service catalog
 * in the body.
 */
export async function authenticate(site: SiteCredential, timeoutMs: number): Promise<Session> {
  const url = `${identityBase(site.authUrl)}/auth/tokens`;
  const res = await httpRequest({
    method: "POST",
    url,
    timeoutMs,
    body: {
      auth: {
        identity: {
          methods: ["application_credential"],
          application_credential: { id: site.credentialId, secret: site.credentialSecret },
        },
      },
    },
  });
  if (res.status !== 201 && res.status !== 200) {
    const hint =
      res.status === 401 || res.status === 404
        ? "check the application credential id and secret configured for this site, and that the credential has not expired or been deleted"
        : "Keystone did not issue a token";
    throw new Error(
      `Keystone at ${site.authUrl} refused application credential ${site.credentialId} (${describeFailure(res)}): ${hint}`,
    );
  }
  const token = res.headers.get("x-subject-token");
  const catalog = (res.json as { token?: { catalog?: CatalogService[] } } | undefined)?.token?.catalog;
  if (!token || !Array.isArray(catalog)) {
    throw new Error(
      `Keystone at ${site.authUrl} answered ${res.status} without ${token ? "a service catalog" : "an X-Subject-Token header"}`,
    );
  }
  return { token, catalog, authUrl: site.authUrl, region: site.region, timeoutMs };
}

/** The public URL of a service type in the session's region, e.g. `reservation` or `compute`. */
export function endpointOf(session: Session, type: string): string {
  const services = session.catalog.filter((s) => s.type === type);
  const endpoints = services.flatMap((s) => s.endpoints ?? []);
  const match = endpoints.find(
    (e) => e.interface === "public" && (e.region_id === session.region || e.region === session.region),
  );
  if (!match) {
    const seen = endpoints.map((e) => `${e.interface}@${e.region_id ?? e.region ?? "?"}`);
    throw new Error(
      `the Keystone catalog of ${session.authUrl} has no public "${type}" endpoint in region ${session.region}` +
        (seen.length > 0
          ? ` (it lists ${seen.join(", ")})`
          : services.length > 0
            ? ""
            : ` (no "${type}" service at all)`),
    );
  }
  return match.url.replace(/\/+$/, "");
}
