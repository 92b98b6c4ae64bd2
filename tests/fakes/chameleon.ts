import * as crypto from "crypto";
import * as http from "http";
import { AddressInfo } from "net";

/**
 * A local stand-in for one Chameleon site: Keystone v3 (application-credential tokens with a service
 * catalog), Blazar's lease API v1 and Nova's flavor list, answering as their API references
 * describe, on 127.0.0.1 and a random port. Leases move PENDING → STARTING → ACTIVE over a few
 * reads, as Blazar's start event does, so that clients must poll. Knobs make it refuse, stall or
 * expire a lease, so each error path can be driven.
 */

export interface FakeFlavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
}

export interface FakeCredential {
  secret: string;
  /** Blazar makes a Keystone trust per lease; only unrestricted application credentials may. */
  unrestricted: boolean;
}

export interface FakeChameleonOptions {
  region?: string;
  credentials?: Record<string, FakeCredential>;
  flavors?: FakeFlavor[];
  /** Reads of a started lease that still answer STARTING before it turns ACTIVE. */
  readsUntilActive?: number;
  /** Flavors per page of GET /flavors, so that clients must follow `flavors_links`. */
  flavorPageSize?: number;
  /** Free bare-metal hosts per node_type. */
  freeHosts?: Record<string, number>;
}

export interface FakeReservation {
  id: string;
  lease_id: string;
  status: string;
  resource_id: string;
  resource_type: string;
  [field: string]: unknown;
}

export interface FakeLease {
  id: string;
  name: string;
  start_date: string;
  end_date: string;
  status: string;
  degraded: boolean;
  project_id: string;
  user_id: string;
  trust_id: string;
  created_at: string;
  updated_at: string | null;
  reservations: FakeReservation[];
  events: unknown[];
  /** Reads answered so far, for the STARTING → ACTIVE transition. */
  reads: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export interface Refusal {
  status: number;
  message: string;
}

export interface FakeChameleon {
  /** The Keystone URL a site would give: `http://127.0.0.1:<port>/identity/v3`. */
  authUrl: string;
  region: string;
  leases: Map<string, FakeLease>;
  requests: RecordedRequest[];
  /** Makes the next POST /v1/leases answer with this status and Blazar error message. */
  refuseNextCreate(refusal: Refusal): void;
  /** Makes the next PUT /v1/leases/{id} answer with this status and Blazar error message. */
  refuseNextUpdate(refusal: Refusal): void;
  /** Leases made from now on stop at this status (e.g. STARTING for a site that never finishes, ERROR). */
  stopAt(status: string | undefined): void;
  /** The lease ended: TERMINATED, with its end moved to the past. */
  expire(id: string): void;
  /** Blazar forgets the lease, as if someone deleted it by hand. */
  forget(id: string): void;
  /** Keystone learns a new application credential (a rotation's first half). */
  addCredential(id: string, credential: FakeCredential): void;
  /** The credential is deleted: Keystone refuses it, and the tokens it issued stop working. */
  revokeCredential(id: string): void;
  /** Keystone is down: every request answers 503, until called again with false. */
  keystoneDown(down: boolean): void;
  close(): Promise<void>;
}

const PROJECT_ID = "aa45f56901ef45ee95e3d211097c0ea3";
const USER_ID = "5434f637520d4c17bbf254af034b0320";

export const DEFAULT_FLAVORS: FakeFlavor[] = [
  { id: "1", name: "m1.tiny", vcpus: 1, ram: 512, disk: 1 },
  { id: "2", name: "m1.small", vcpus: 1, ram: 2048, disk: 20 },
  { id: "3", name: "m1.medium", vcpus: 2, ram: 4096, disk: 40 },
  { id: "4", name: "m1.large", vcpus: 4, ram: 8192, disk: 40 },
  { id: "e81f12f8-de06-4107-acfd-e649217036ef", name: "g1.h100.pci.1", vcpus: 48, ram: 250000, disk: 40 },
];

export async function startFakeChameleon(options: FakeChameleonOptions = {}): Promise<FakeChameleon> {
  const region = options.region ?? "KVM@TACC";
  const credentials: Record<string, FakeCredential> = {
    ...(options.credentials ?? { "cred-ok": { secret: "s3cret", unrestricted: true } }),
  };
  const tokenOwners = new Map<string, string>();
  let keystoneIsDown = false;
  const flavors = options.flavors ?? DEFAULT_FLAVORS;
  const readsUntilActive = options.readsUntilActive ?? 2;
  const pageSize = options.flavorPageSize ?? 2;
  const freeHosts = options.freeHosts ?? { gpu_a100_pcie: 2 };

  const tokens = new Map<string, FakeCredential>();
  const leases = new Map<string, FakeLease>();
  const requests: RecordedRequest[] = [];
  let nextCreateRefusal: Refusal | undefined;
  let nextUpdateRefusal: Refusal | undefined;
  let stopStatus: string | undefined;
  let base = "";

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: unknown;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        return send(res, 400, blazarError(400, "Malformed JSON body"));
      }
      const url = new URL(req.url ?? "/", base);
      requests.push({ method: req.method ?? "", path: url.pathname + url.search, body });
      route(req.method ?? "", url, req.headers, body, res);
    });
  });

  function route(
    method: string,
    url: URL,
    headers: http.IncomingHttpHeaders,
    body: unknown,
    res: http.ServerResponse,
  ): void {
    const path = url.pathname;
    if (method === "POST" && path === "/identity/v3/auth/tokens") {
      if (keystoneIsDown) return send(res, 503, { error: { code: 503, message: "Service Unavailable" } });
      return issueToken(body, res);
    }

    const token = headers["x-auth-token"];
    const credential = typeof token === "string" ? tokens.get(token) : undefined;
    if (!credential) {
      return send(res, 401, {
        error: {
          code: 401,
          title: "Unauthorized",
          message: "The request you have made requires authentication.",
        },
      });
    }

    if (method === "GET" && path === "/compute/v2.1/flavors") return listFlavors(url, res);

    const leaseMatch = /^\/reservation\/v1\/leases(?:\/([^/]+))?$/.exec(path);
    if (!leaseMatch) return send(res, 404, blazarError(404, `No route for ${method} ${path}`));
    const id = leaseMatch[1] ? decodeURIComponent(leaseMatch[1]) : undefined;
    if (method === "POST" && !id) return createLease(body, credential, res);
    if (method === "GET" && !id) return send(res, 200, { leases: [...leases.values()].map(view) });
    if (!id) return send(res, 405, blazarError(405, "Method not allowed"));
    const lease = leases.get(id);
    if (!lease) return send(res, 404, blazarError(404, `Object with {'lease_id': '${id}'} not found`));
    if (method === "GET") return send(res, 200, { lease: advance(lease) });
    if (method === "PUT") return updateLease(lease, body, res);
    if (method === "DELETE") {
      leases.delete(id);
      return send(res, 204, undefined);
    }
    return send(res, 405, blazarError(405, "Method not allowed"));
  }

  function issueToken(body: unknown, res: http.ServerResponse): void {
    const identity = (body as { auth?: { identity?: Record<string, unknown> } })?.auth?.identity;
    const methods = identity?.methods as string[] | undefined;
    const appCred = identity?.application_credential as { id?: string; secret?: string } | undefined;
    const known = appCred?.id ? credentials[appCred.id] : undefined;
    if (!methods?.includes("application_credential") || !known || known.secret !== appCred?.secret) {
      return send(res, 401, {
        error: {
          code: 401,
          title: "Unauthorized",
          message: "The request you have made requires authentication.",
        },
      });
    }
    const token = `gAAAA${crypto.randomBytes(24).toString("hex")}`;
    tokens.set(token, known);
    tokenOwners.set(token, appCred!.id!);
    const endpoint = (iface: string, where: string, url: string) => ({
      id: crypto.randomUUID(),
      interface: iface,
      region: where,
      region_id: where,
      url,
    });
    send(
      res,
      201,
      {
        token: {
          methods: ["application_credential"],
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
          project: { id: PROJECT_ID, name: "CHI-000000" },
          user: { id: USER_ID, name: "cc-user" },
          catalog: [
            {
              type: "identity",
              name: "keystone",
              endpoints: [endpoint("public", region, `${base}/identity/v3`)],
            },
            {
              type: "reservation",
              name: "blazar",
              endpoints: [
                endpoint("internal", region, "http://10.0.0.1:1234/v1"),
                endpoint("public", "CHI@ELSEWHERE", "http://192.0.2.1:1234/v1"),
                endpoint("public", region, `${base}/reservation/v1`),
              ],
            },
            {
              type: "compute",
              name: "nova",
              endpoints: [endpoint("public", region, `${base}/compute/v2.1`)],
            },
          ],
        },
      },
      { "X-Subject-Token": token },
    );
  }

  function listFlavors(url: URL, res: http.ServerResponse): void {
    const marker = url.searchParams.get("marker");
    const from = marker ? flavors.findIndex((f) => f.id === marker) + 1 : 0;
    const page = flavors.slice(from, from + pageSize);
    const more = from + pageSize < flavors.length;
    send(res, 200, {
      flavors: page.map((f) => ({ id: f.id, name: f.name, links: [] })),
      ...(more
        ? {
            flavors_links: [
              {
                rel: "next",
                href: `${base}/compute/v2.1/flavors?marker=${encodeURIComponent(page.at(-1)!.id)}`,
              },
            ],
          }
        : {}),
    });
  }

  function createLease(body: unknown, credential: FakeCredential, res: http.ServerResponse): void {
    if (nextCreateRefusal) {
      const r = nextCreateRefusal;
      nextCreateRefusal = undefined;
      return send(res, r.status, blazarError(r.status, r.message));
    }
    if (!credential.unrestricted) {
      return send(
        res,
        403,
        blazarError(403, "Using method 'application_credential' is not allowed for managing trusts."),
      );
    }
    const b = (body ?? {}) as Record<string, unknown>;
    const now = wholeMinute(new Date());
    const start = b.start_date === "now" ? now : parseRequestDate(b.start_date);
    const end = parseRequestDate(b.end_date);
    if (!start || !end) {
      const bad = start ? b.end_date : b.start_date;
      return send(res, 400, blazarError(400, `${bad} is an invalid date. Required format: %Y-%m-%d %H:%M`));
    }
    if (start < now) return send(res, 400, blazarError(400, "Start date must be later than current date"));
    if (end <= start) return send(res, 400, blazarError(400, "End date must be later than start date."));
    if (typeof b.name !== "string" || b.name === "")
      return send(res, 400, blazarError(400, "Lease name is required"));
    if ([...leases.values()].some((l) => l.name === b.name)) {
      return send(res, 409, blazarError(409, `The lease with name: ${b.name} already exists`));
    }
    if (!Array.isArray(b.reservations) || b.reservations.length === 0) {
      return send(res, 400, blazarError(400, "Lease must have at least one reservation"));
    }
    const leaseId = crypto.randomUUID();
    const made: FakeReservation[] = [];
    for (const r of b.reservations as Record<string, unknown>[]) {
      const reservation = reserve(leaseId, r);
      if (isRefusal(reservation)) {
        return send(res, reservation.status, blazarError(reservation.status, reservation.message));
      }
      made.push(reservation);
    }
    // Blazar lists a lease's reservations in no promised order; answer in reverse to keep clients honest.
    made.reverse();
    const lease: FakeLease = {
      id: leaseId,
      name: b.name,
      start_date: responseDate(start),
      end_date: responseDate(end),
      status: "PENDING",
      degraded: false,
      project_id: PROJECT_ID,
      user_id: USER_ID,
      trust_id: crypto.randomUUID().replace(/-/g, ""),
      created_at: responseDate(now).replace("T", " ").slice(0, 19),
      updated_at: null,
      reservations: made,
      events: [],
      reads: 0,
    };
    leases.set(leaseId, lease);
    send(res, 201, { lease: view(lease) });
  }

  function reserve(leaseId: string, r: Record<string, unknown>): FakeReservation | Refusal {
    const common = {
      id: crypto.randomUUID(),
      lease_id: leaseId,
      status: "pending",
      resource_id: crypto.randomUUID(),
      missing_resources: false,
      resources_changed: false,
      created_at: new Date().toISOString().slice(0, 19).replace("T", " "),
      updated_at: null,
    };
    if (r.resource_type === "physical:host") {
      if (typeof r.resource_properties !== "string") {
        return { status: 400, message: "resource_properties must be a JSON-encoded string" };
      }
      let filter: unknown;
      try {
        filter = r.resource_properties === "" ? [] : JSON.parse(r.resource_properties);
      } catch {
        return { status: 400, message: `Malformed parameter resource_properties` };
      }
      // Chameleon's docs: the query language takes a single "=", and "==" fails the request.
      if (Array.isArray(filter) && filter[0] === "==")
        return { status: 500, message: "Internal Server Error" };
      const nodeType =
        Array.isArray(filter) && filter[0] === "=" && filter[1] === "$node_type"
          ? String(filter[2])
          : undefined;
      const max = Number(r.max);
      if (!Number.isInteger(r.min) || !Number.isInteger(r.max) || Number(r.min) > max) {
        return { status: 400, message: "min and max must be integers with min <= max" };
      }
      if (nodeType === undefined || (freeHosts[nodeType] ?? 0) < max) {
        return { status: 409, message: "Not enough hosts available" };
      }
      return {
        ...common,
        resource_type: "physical:host",
        min: r.min,
        max: r.max,
        hypervisor_properties: r.hypervisor_properties ?? "",
        resource_properties: r.resource_properties,
        before_end: "default",
      };
    }
    if (r.resource_type === "flavor:instance") {
      if (!("affinity" in r)) return { status: 400, message: "Missing parameter: affinity" };
      const flavor = flavors.find((f) => f.id === r.flavor_id);
      if (!flavor) return { status: 404, message: `Flavor ${String(r.flavor_id)} could not be found.` };
      if (!Number.isInteger(r.amount) || Number(r.amount) < 1)
        return { status: 400, message: "amount must be >= 1" };
      return {
        ...common,
        resource_type: "flavor:instance",
        amount: r.amount,
        vcpus: flavor.vcpus,
        memory_mb: flavor.ram,
        disk_gb: flavor.disk,
        affinity: null,
        resource_properties: JSON.stringify({ id: flavor.id, name: flavor.name, vcpus: flavor.vcpus }),
        // Blazar makes a private flavor whose id is the reservation id; Nova names it reservation:<id>.
        flavor_id: common.id,
        server_group_id: null,
        aggregate_id: 7,
      };
    }
    return { status: 400, message: `Invalid resource type: ${String(r.resource_type)}` };
  }

  function updateLease(lease: FakeLease, body: unknown, res: http.ServerResponse): void {
    if (nextUpdateRefusal) {
      const r = nextUpdateRefusal;
      nextUpdateRefusal = undefined;
      return send(res, r.status, blazarError(r.status, r.message));
    }
    const b = (body ?? {}) as Record<string, unknown>;
    const end = parseRequestDate(b.end_date);
    if (!end)
      return send(
        res,
        400,
        blazarError(400, `${String(b.end_date)} is an invalid date. Required format: %Y-%m-%d %H:%M`),
      );
    const start = new Date(`${lease.start_date.slice(0, 19)}Z`);
    if (end <= start || end <= wholeMinute(new Date())) {
      return send(res, 400, blazarError(400, "End date must be later than current and start date"));
    }
    lease.end_date = responseDate(end);
    lease.updated_at = new Date().toISOString().slice(0, 19).replace("T", " ");
    send(res, 200, { lease: view(lease) });
  }

  /** One more read of the lease: a started lease walks STARTING → ACTIVE, or stops where told. */
  function advance(lease: FakeLease): unknown {
    lease.reads += 1;
    const started = new Date(`${lease.start_date.slice(0, 19)}Z`) <= new Date();
    if (started && (lease.status === "PENDING" || lease.status === "STARTING")) {
      if (stopStatus) lease.status = stopStatus;
      else lease.status = lease.reads > readsUntilActive ? "ACTIVE" : "STARTING";
      if (lease.status === "ACTIVE") lease.reservations.forEach((r) => (r.status = "active"));
    }
    return view(lease);
  }

  function view(lease: FakeLease): unknown {
    const { reads, ...shown } = lease;
    void reads;
    return shown;
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    authUrl: `${base}/identity/v3`,
    region,
    leases,
    requests,
    refuseNextCreate: (r) => (nextCreateRefusal = r),
    refuseNextUpdate: (r) => (nextUpdateRefusal = r),
    stopAt: (status) => (stopStatus = status),
    expire(id) {
      const lease = leases.get(id);
      if (!lease) throw new Error(`fake: no lease ${id}`);
      lease.status = "TERMINATED";
      lease.end_date = responseDate(wholeMinute(new Date(Date.now() - 60_000)));
    },
    forget: (id) => void leases.delete(id),
    addCredential: (id, credential) => void (credentials[id] = credential),
    revokeCredential(id) {
      delete credentials[id];
      for (const [token, owner] of tokenOwners) if (owner === id) tokens.delete(token);
    },
    keystoneDown: (down) => void (keystoneIsDown = down),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function isRefusal(r: FakeReservation | Refusal): r is Refusal {
  return "message" in r && !("id" in r);
}

function send(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { "Content-Type": "application/json" } : {}), ...headers });
  res.end(text);
}

/** Blazar's error body (blazar/api/v1/utils.py render_error_message). */
function blazarError(code: number, message: string): unknown {
  return { error_code: code, error_message: message, error_name: code };
}

function parseRequestDate(value: unknown): Date | undefined {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/.test(value)) return undefined;
  const d = new Date(`${value.replace(" ", "T")}:00Z`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

function wholeMinute(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 60_000) * 60_000);
}

/** Blazar's response format: `2017-12-26T12:00:00.000000`, UTC without a zone. */
function responseDate(d: Date): string {
  return `${d.toISOString().slice(0, 19)}.000000`;
}
