/**
 * The one HTTP helper of the Blazar client. It uses Node's global `fetch` and nothing else, so the
 * dynamic provider that calls it can be serialized by Pulumi and run by the real CLI.
 */

export interface HttpResponse {
  status: number;
  headers: { get(name: string): string | null };
  /** Parsed JSON, or undefined when the body is empty or not JSON. */
  json: unknown;
  text: string;
}

export interface HttpRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  url: string;
  token?: string;
  body?: unknown;
  timeoutMs: number;
}

export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (req.token) headers["X-Auth-Token"] = req.token;
  if (req.body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(req.url, {
      method: req.method,
      headers,
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: AbortSignal.timeout(req.timeoutMs),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why =
      err.name === "TimeoutError"
        ? `no answer within ${req.timeoutMs / 1000} s`
        : (err.cause?.code ?? err.cause?.message ?? err.message);
    throw new Error(`cannot reach ${req.method} ${req.url}: ${why}`);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/**
 * The human part of an OpenStack error body. Blazar answers `{error_code, error_message, error_name}`,
 * Keystone `{error: {code, message, title}}`, Nova `{<kind>: {code, message}}`.
 */
export function apiMessage(res: HttpResponse): string {
  const body = res.json;
  if (body && typeof body === "object") {
    const obj = body as Record<string, unknown>;
    if (typeof obj.error_message === "string") return obj.error_message;
    for (const value of Object.values(obj)) {
      if (
        value &&
        typeof value === "object" &&
        typeof (value as { message?: unknown }).message === "string"
      ) {
        return (value as { message: string }).message;
      }
    }
    if (typeof obj.message === "string") return obj.message;
  }
  const text = res.text.trim().replace(/\s+/g, " ");
  return text.length > 300 ? `${text.slice(0, 300)}…` : text || "(empty body)";
}

/** `HTTP 409: <message>`, for error messages. */
export function describeFailure(res: HttpResponse): string {
  return `HTTP ${res.status}: ${apiMessage(res)}`;
}
