import { describeFailure, httpRequest } from "./http";
import { endpointOf, Session } from "./keystone";

interface NovaFlavor {
  id: string;
  name: string;
}

interface FlavorPage {
  flavors?: NovaFlavor[];
  flavors_links?: { rel: string; href: string }[];
}

/** Nova pages the flavor list; a site has a few dozen flavors, so a generous bound on pages suffices. */
const MAX_PAGES = 20;

/**
 * The id of the flavor named `name`, as this project sees it at the session's site. Blazar's
 * `flavor:instance` reservation takes a flavor id while the stack config speaks in names (m1.medium,
 * g1.h100.pci.1), so the lease resolves names here, at create time.
 */
export async function flavorIdByName(session: Session, name: string): Promise<string> {
  let url: string | undefined = `${endpointOf(session, "compute")}/flavors`;
  const seen: string[] = [];
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const res = await httpRequest({ method: "GET", url, token: session.token, timeoutMs: session.timeoutMs });
    if (res.status !== 200) {
      throw new Error(`listing flavors at ${session.region} failed (${describeFailure(res)})`);
    }
    const body = (res.json ?? {}) as FlavorPage;
    const flavors = body.flavors ?? [];
    const matches = flavors.filter((f) => f.name === name);
    if (matches.length > 1) {
      throw new Error(
        `flavor name ${name} is ambiguous at ${session.region} (ids ${matches.map((f) => f.id).join(", ")})`,
      );
    }
    if (matches.length === 1) return matches[0].id;
    seen.push(...flavors.map((f) => f.name));
    url = body.flavors_links?.find((l) => l.rel === "next")?.href;
  }
  const visible = seen.filter((n) => !n.startsWith("reservation:"));
  throw new Error(
    `flavor ${name} does not exist at ${session.region} or is not visible to this project` +
      (visible.length > 0 ? ` (flavors here: ${visible.join(", ")})` : ""),
  );
}
